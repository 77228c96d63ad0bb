"""One command that proves and measures skmhe's whole GPU path: ``python -m benchmarks.gpu_check --out DIR``.

Runs three parts, in order, each in a process of its own under its own time
limit (a part that fails or runs out of time does not stop the next):

1. ``correctness`` (:mod:`benchmarks.gpu_parts_correctness`): the Triton
   kernel tests natively on CUDA, the ops' property tests on CUDA against the
   float64 dense baseline (a small hypothesis budget), a built-in property
   loop that needs neither pytest nor hypothesis, and large-shape checks
   (n = 65,536, C_h up to 4,096) against the torch reference;
2. ``speed`` (:mod:`benchmarks.gpu_parts_speed`): fused MH-CE forward +
   backward and Kronecker top-k against the torch reference (eager and
   compiled), the dense baselines and the measured copy bandwidth;
3. ``end_to_end`` (:mod:`benchmarks.gpu_parts_e2e`): fits on CUDA beside
   the same fits on the CPU, a CUDA-trained model loaded where CUDA is
   hidden, and a 2-process NCCL fit where two GPUs are visible.

Writes ``gpu_check.json`` (everything), ``gpu_check.md`` (tables) and
``gpu_check.log`` (the parts' output) under ``--out`` and prints a one-screen
summary last, with the targets met or missed. Without CUDA, ``--quick`` runs
what the CPU can in under a minute and names what it skipped and why.

Usage::

    python -m benchmarks.gpu_check --out DIR [--quick] [--budget-s S] [--parts NAME ...]
    bash run.sh gpu-check --out DIR
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

try:
    from ._common import run_with_timeout
    from .gpu_report import PART_NAMES, evaluate_targets, part_status, render_markdown, render_summary
except ImportError:  # python benchmarks/gpu_check.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._common import run_with_timeout
    from benchmarks.gpu_report import PART_NAMES, evaluate_targets, part_status, render_markdown, render_summary

ROOT = Path(__file__).resolve().parents[1]

#: seconds per part: (on CUDA, --quick without CUDA)
LIMITS = {"correctness": (150, 35), "speed": (140, 0), "end_to_end": (110, 75)}
#: module of each part
MODULES = {"correctness": "benchmarks.gpu_parts_correctness", "speed": "benchmarks.gpu_parts_speed",
           "end_to_end": "benchmarks.gpu_parts_e2e"}
#: parts that need CUDA (skipped without it)
CUDA_ONLY = {"speed": "no CUDA device: kernel speed is only measured natively on a GPU "
                      "(Triton's CPU interpreter is never timed)"}
LOG_CAP = 400_000


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def kernels_origin() -> str:
    """Where ``skmhe.kernels`` is imported from (this tree's ``kernels/`` is what the check tests)."""
    try:
        spec = importlib.util.find_spec("skmhe.kernels")
    except ImportError as exc:
        return f"not importable ({exc}): install this tree (pip install --no-deps -e .)"
    if spec is None or spec.origin is None:
        return "not importable: install this tree (pip install --no-deps -e .)"
    where = Path(spec.origin).resolve().parent
    return "this tree's kernels/" if where == ROOT / "kernels" else f"{where} (NOT this tree's kernels/)"


def environment() -> dict:
    """Device, driver and package versions (triton is not imported: that fixes its mode)."""
    import torch

    cuda = torch.cuda.is_available()
    env = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu (no CUDA)",
        "cuda_devices": torch.cuda.device_count() if cuda else 0,
        "cuda_runtime": torch.version.cuda,
        "driver": None,
        "torch": torch.__version__,
        "triton": _version("triton"),
        "python": platform.python_version(),
        "cpu": f"{platform.machine()}, {os.cpu_count()} cores",
        "pytest": _version("pytest") if importlib.util.find_spec("pytest") else None,
        "hypothesis": _version("hypothesis") if importlib.util.find_spec("hypothesis") else None,
        "skmhe_kernels": kernels_origin(),
    }
    if cuda:
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            env["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    return env


def default_budget(cuda: bool) -> float:
    """Seconds for all parts by default: the sum of the parts' limits."""
    return float(sum(limits[0 if cuda else 1] for limits in LIMITS.values()))


def part_limit(name: str, cuda: bool, remaining: float, scale: float = 1.0) -> float:
    """The time limit of part ``name``: its nominal limit times ``scale``, within what is left of the budget."""
    nominal = LIMITS[name][0 if cuda else 1] * scale
    return max(0.0, min(float(nominal), remaining))


def run_part(name: str, limit: float, work: Path, quick: bool, log, cuda: bool) -> dict:
    """Run part ``name`` in a process of its own, killed after ``limit`` seconds; its merged result."""
    out = work / f"{name}.json"
    cmd = [sys.executable, "-m", MODULES[name], "--out", str(out), "--work", str(work), "--limit-s", f"{limit:.0f}"]
    cmd += ["--quick"] if quick else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    if cuda:  # the kernels compiled for the GPU, never interpreted
        env.pop("TRITON_INTERPRET", None)
    t0 = time.perf_counter()
    code, output = run_with_timeout(cmd, timeout=limit, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    log.write(f"\n===== {name}: {shlex.join(cmd)}\n{output[-LOG_CAP // 3:]}\n")
    log.flush()
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {"name": name, "checks": [], "figures": {}, "notes": []}
    status, reason = part_status(result["checks"])
    last = output.strip().splitlines()[-1][:300] if output.strip() else ""
    if code is None:
        status, reason = "timeout", f"stopped at its {limit:.0f} s limit (what it recorded is kept); " + reason
    elif code != 0 and status != "failed":
        status, reason = "failed", f"exit code {code}: {last}"
    result.update(status=status, reason=reason, seconds=seconds, limit_s=limit, exit_code=code,
                  log_tail=output[-3000:])
    return result


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for gpu_check.json, gpu_check.md and gpu_check.log")
    p.add_argument("--quick", action="store_true", help="small sizes (the CPU mode: under a minute)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="total seconds for all parts (default: the sum of their limits, 400 on CUDA, 110 "
                        "without); each part's limit scales with it")
    p.add_argument("--parts", nargs="+", choices=PART_NAMES, default=list(PART_NAMES))
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start, started = time.perf_counter(), _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    env = environment()
    cuda = env["cuda_devices"] > 0
    budget = args.budget_s if args.budget_s is not None else default_budget(cuda)
    scale = budget / default_budget(cuda)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"GPU check on {env['device']} (torch {env['torch']}, triton {env['triton']}); budget {budget:.0f} s",
          flush=True)
    parts: dict = {}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp, open(out / "gpu_check.log", "w") as log:
        for name in PART_NAMES:
            remaining = budget - (time.perf_counter() - start)
            skip = None
            if name not in args.parts:
                skip = "not asked for (--parts)"
            elif not cuda and name in CUDA_ONLY:
                skip = CUDA_ONLY[name]
            elif not cuda and not args.quick:
                skip = "no CUDA device: run with --quick for the CPU-only checks"
            elif part_limit(name, cuda, remaining, scale) < 10:
                skip = f"no time left in the {budget:.0f} s budget"
            if skip:
                parts[name] = {"name": name, "status": "skipped", "reason": skip, "seconds": 0.0, "limit_s": None,
                               "checks": [], "figures": {}, "notes": []}
                print(f"[{name}] skipped: {skip}", flush=True)
                continue
            limit = part_limit(name, cuda, remaining, scale)
            print(f"[{name}] running (limit {limit:.0f} s)", flush=True)
            work = Path(tmp) / name
            work.mkdir()
            parts[name] = run_part(name, limit, work, args.quick, log, cuda)
            print(f"[{name}] {parts[name]['status']} in {parts[name]['seconds']:.1f} s {parts[name]['reason']}",
                  flush=True)
    report = {
        "command": "python -m benchmarks.gpu_check " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": started, "quick": args.quick, "budget_s": budget, "environment": env,
        "parts": parts, "targets": evaluate_targets(parts, cuda),
        "total_s": time.perf_counter() - start,
    }
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "gpu_check.md").write_text(render_markdown(report))
    print(render_summary(report))
    print(f"written: {out / 'gpu_check.json'}, {out / 'gpu_check.md'}, {out / 'gpu_check.log'}")
    return 1 if any(p["status"] in ("failed", "timeout") for p in parts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
