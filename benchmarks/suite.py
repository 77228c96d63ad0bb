"""The whole benchmark suite in one command: every benchmark, each in its own process.

Parts (``--parts``, default all):

* ``methods``: ``bench_methods`` -- the single-label methods (MHE product, cascade, sampling)
  against the dense softmax, the adaptive softmax and napkinXC (PLT, HSM) on digit pairs and
  PTB next-word;
* ``scaling``: ``bench_scaling`` -- per-step cost and memory from 1e4 to 1e7 classes, top-k
  cost, and a full ``fit`` at 1e7 classes;
* ``claims``: ``bench_claims`` -- the paper's claims on small real data;
* ``xmlc``: ``bench_xmlc`` -- multi-label extreme classification against omikuji, napkinXC
  and one-vs-rest;
* ``xmlc_scale``: ``bench_xmlc --scale`` -- skmhe's multi-label defaults beside omikuji and
  napkinXC PLT on synthetic XMC data at 1e4, 1e5 and 1e6 labels (P@1, P@5, train and predict
  seconds, peak RSS, a plot of train time against labels);
* ``scaleout``: ``bench_scaleout`` -- one process against two data-parallel processes
  (torchrun, gloo) on the same data;
* ``defaults``: ``bench_defaults`` -- every estimator with its default parameters beside the
  peers' defaults (multi-label, digit pairs, PTB) and a default fit on a million rows;
* ``calibration``: ``bench_calibration`` -- every method before and after temperature scaling
  (top-1, log-loss, calibration error) on digit pairs and PTB;
* ``label_codes``: ``bench_label_codes`` -- given against data-aware label codes
  (``label_order``), every method, on digit pairs, synthetic data, PTB and Mulan sets, and the
  code step's own cost up to a million labels;
* ``kernels``: ``bench_kernels`` -- the Triton kernels; runs only where CUDA is available
  (timings of the CPU interpreter say nothing about kernel speed).

Each part writes its JSON and markdown under ``--out`` (default ``benchmarks/out``); the suite
writes ``suite.json`` and ``suite.md`` there with every part's status, wall time and markdown.
A part that fails is reported and the others still run; the exit status is 1 when any failed.
``--quick`` passes ``--quick`` to every part (toy sizes: a smoke test of the whole suite).

Usage::

    python -m benchmarks.suite [--quick] [--parts methods scaling ...] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: part -> (module, whether its ``--out`` is a folder rather than a JSON path, extra arguments)
PARTS: dict[str, tuple[str, bool] | tuple[str, bool, tuple[str, ...]]] = {
    "methods": ("benchmarks.bench_methods", False),
    "scaling": ("benchmarks.bench_scaling", False),
    "claims": ("benchmarks.bench_claims", False),
    "xmlc": ("benchmarks.bench_xmlc", True),
    "xmlc_scale": ("benchmarks.bench_xmlc", True, ("--scale",)),
    "scaleout": ("benchmarks.bench_scaleout", False),
    "defaults": ("benchmarks.bench_defaults", False),
    "calibration": ("benchmarks.bench_calibration", False),
    "label_codes": ("benchmarks.bench_label_codes", False),
    "kernels": ("benchmarks.bench_kernels", False),
}


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def part_command(part: str, out: Path, quick: bool) -> list[str]:
    """The command line that runs ``part`` with its output under ``out``."""
    module, out_is_folder, *extra = PARTS[part]
    target = out / f"{part}" if out_is_folder else out / f"{part}.json"
    return [sys.executable, "-m", module, *(extra[0] if extra else ()), *(["--quick"] if quick else []),
            "--out", str(target)]


def _markdown_of(part: str, out: Path) -> str | None:
    """The markdown a part wrote (next to its JSON, or inside its folder)."""
    out_is_folder = PARTS[part][1]
    found = sorted((out / part).glob("*.md")) if out_is_folder else [out / f"{part}.md"]
    texts = [p.read_text() for p in found if p.is_file()]
    return "\n".join(texts) if texts else None


def run_part(part: str, out: Path, quick: bool) -> dict:
    """Run one part in a subprocess; its status, wall time and the tail of its output."""
    if part == "kernels" and not _cuda_available():
        return {"part": part, "status": "skipped",
                "reason": "no CUDA device: kernel timings are reported only on a GPU"}
    cmd = part_command(part, out, quick)
    print(f"== {part}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    print(proc.stdout[-2000:], proc.stderr[-2000:] if proc.returncode else "", sep="", flush=True)
    return {"part": part, "status": "ok" if proc.returncode == 0 else "failed",
            "returncode": proc.returncode, "seconds": seconds,
            "output_tail": (proc.stdout + proc.stderr)[-4000:], "markdown": _markdown_of(part, out)}


def render(results: list[dict], quick: bool) -> str:
    lines = ["# Benchmark suite (`benchmarks/suite.py`)", "",
             f"Mode: {'--quick (toy sizes)' if quick else 'full'}.", "",
             "| part | status | wall s |", "| --- | --- | --- |"]
    for r in results:
        wall = f"{r['seconds']:.1f}" if "seconds" in r else ""
        status = r["status"] + (f" ({r['reason']})" if "reason" in r else "")
        lines.append(f"| {r['part']} | {status} | {wall} |")
    for r in results:
        if r.get("markdown"):
            lines += ["", f"<!-- {r['part']} -->", "", r["markdown"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="toy sizes in every part")
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    p.add_argument("--out", default="benchmarks/out", help="folder for every part's results")
    args = p.parse_args(argv)
    out = Path(args.out)
    if not out.is_absolute():
        out = ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = [run_part(part, out, args.quick) for part in args.parts]
    total = time.perf_counter() - t0
    (out / "suite.json").write_text(json.dumps(
        {"quick": args.quick, "seconds": total,
         "results": [{k: v for k, v in r.items() if k != "markdown"} for r in results]}, indent=2))
    (out / "suite.md").write_text(render(results, args.quick))
    print(f"suite: {total:.1f} s; " + ", ".join(f"{r['part']} {r['status']}" for r in results))
    return 1 if any(r["status"] == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
