"""The GPU check's records and reports: part results, targets, ``gpu_check.md`` and the summary.

Pure Python (no torch): every part process records its checks and figures
through a :class:`PartRecord`, which rewrites its JSON file after each
update, so a part stopped at its time limit still leaves what it measured.
The orchestrator (:mod:`benchmarks.gpu_check`) merges the parts, evaluates
the targets with :func:`evaluate_targets` and renders them with
:func:`render_markdown` and :func:`render_summary`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

try:
    from ._common import markdown_table
except ImportError:  # pragma: no cover - imported as a top-level module
    from benchmarks._common import markdown_table

__all__ = [
    "PART_NAMES",
    "TARGETS",
    "PartRecord",
    "Deadline",
    "evaluate_targets",
    "non_finite",
    "part_parser",
    "part_status",
    "render_markdown",
    "render_summary",
]

#: the check's parts, in the order they run
PART_NAMES = ("correctness", "speed", "end_to_end")

#: target name -> (what, threshold, higher is better)
TARGETS = {
    "ce_copy_bandwidth": ("MH-CE fwd+bwd, n=65,536, sum C_h=2,000, fp32: fraction of copy bandwidth", 0.8, True),
    "topk_vs_dense": ("Kronecker top-k, H=2, C_h=1,000, k=10: speed-up over dense outer sum + topk", 1000.0, True),
    "topk_vs_floor": ("Kronecker top-k, H=2, C_h=1,000, k=10: time / byte floor", 2.0, False),
    "e2e_product": ("product fit, PTB-shaped: CUDA samples/s over CPU samples/s", 10.0, True),
}


class PartRecord:
    """The result of one part, written to ``path`` as JSON after every update.

    Parameters
    ----------
    path : path-like
        The part's JSON file.
    name : str
        The part's name (one of :data:`PART_NAMES`).
    """

    def __init__(self, path, name: str):
        self.path = Path(path)
        self.data: dict = {"name": name, "checks": [], "figures": {}, "notes": []}
        self.write()

    def check(self, name: str, status: str, detail: str = "", seconds: float | None = None) -> None:
        """Record a check: ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"`` (``detail`` says why)."""
        if status not in ("ok", "failed", "skipped"):
            raise ValueError(f"status must be ok, failed or skipped, got {status!r}")
        if status != "ok" and not detail:
            raise ValueError(f"a {status} check needs a reason")
        self.data["checks"].append({"name": name, "status": status, "detail": detail[-2000:], "seconds": seconds})
        self.write()

    def figure(self, key: str, value) -> None:
        """Record a figure (a number, a dict or a list of row dicts) under ``key``."""
        self.data["figures"][key] = value
        self.write()

    def note(self, text: str) -> None:
        """Record a line of context (e.g. which data was used)."""
        self.data["notes"].append(text)
        self.write()

    def write(self) -> None:
        """Rewrite the JSON file atomically."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(tmp, self.path)


def part_parser(doc: str) -> argparse.ArgumentParser:
    """The command line every part takes: ``--out FILE --work DIR --limit-s S [--quick]``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the part's JSON file")
    p.add_argument("--work", required=True, help="a scratch folder")
    p.add_argument("--limit-s", type=float, default=120.0, help="the part's time limit, seconds")
    p.add_argument("--quick", action="store_true", help="small sizes")
    return p


class Deadline:
    """Seconds left of a part's limit, keeping ``margin`` seconds to write its results."""

    def __init__(self, limit_s: float, margin: float = 5.0):
        self.end = time.perf_counter() + limit_s - margin

    def left(self) -> float:
        """Seconds left (negative once past)."""
        return self.end - time.perf_counter()


def part_status(checks: list[dict]) -> tuple[str, str]:
    """A part's ``(status, reason)`` from its checks.

    ``failed`` when a check failed (the reason names them), ``skipped`` when all
    were skipped (or there were none), ``ok`` otherwise (the reason names the
    skipped ones, if any).
    """
    failed = [c["name"] for c in checks if c["status"] == "failed"]
    skipped = [c["name"] for c in checks if c["status"] == "skipped"]
    if failed:
        return "failed", "failed: " + ", ".join(failed)
    if not checks or len(skipped) == len(checks):
        reasons = sorted({c["detail"] for c in checks})
        return "skipped", "; ".join(reasons) or "nothing ran"
    return "ok", ("skipped: " + ", ".join(skipped)) if skipped else ""


def _row(rows: list[dict], **match) -> dict | None:
    for row in rows or []:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _target(name: str, value: float | None, why: str = "") -> dict:
    what, threshold, higher = TARGETS[name]
    out = {"name": name, "what": what, "threshold": threshold, "higher_is_better": higher, "value": value}
    if value is None or not math.isfinite(value) or value <= 0:
        out.update(status="not evaluated", ratio=None, reason=why or "no figure")
        return out
    ratio = value / threshold if higher else threshold / value
    out.update(status="met" if ratio >= 1 else "missed", ratio=ratio, reason="")
    return out


def evaluate_targets(parts: dict, cuda: bool) -> list[dict]:
    """The targets (:data:`TARGETS`) as met / missed / not evaluated, with the ratio to the threshold.

    ``ratio >= 1`` means met. Only CUDA figures count: without ``cuda`` every
    target is "not evaluated".
    """
    if not cuda:
        return [_target(name, None, "no CUDA device: kernel and GPU fit figures not measured") for name in TARGETS]
    speed = parts.get("speed", {}).get("figures", {})
    ce = _row(speed.get("ce"), n=65536, factors="1000x1000", dtype="float32")
    topk = _row(speed.get("topk"), factors="1000x1000", dtype="float32", k=10)
    fits = parts.get("end_to_end", {}).get("figures", {}).get("fits", [])
    cuda_fit, cpu_fit = _row(fits, model="product", device="cuda"), _row(fits, model="product", device="cpu")
    speedup = None
    if cuda_fit and cpu_fit and cuda_fit.get("samples_per_s") and cpu_fit.get("samples_per_s"):
        speedup = cuda_fit["samples_per_s"] / cpu_fit["samples_per_s"]
    return [
        _target("ce_copy_bandwidth", ce and ce.get("bw_frac"), "no MH-CE row at n=65,536, 1000x1000, fp32"),
        _target("topk_vs_dense", topk and topk.get("x_dense"), "no dense top-k timing beside the kernel's"),
        _target("topk_vs_floor", topk and topk.get("x_floor"), "no top-k kernel timing at n=65,536"),
        _target("e2e_product", speedup, "no product fit on both CUDA and the CPU"),
    ]


def non_finite(obj, path: str = "") -> Iterator[str]:
    """Paths (``a.b[2].c``) of the NaN or infinite numbers anywhere in ``obj``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        yield path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from non_finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from non_finite(v, f"{path}[{i}]")


CE_COLUMNS = [
    ("n", "n", "{:,}"), ("factors", "factors", ""), ("n_classes", "C", "{:,}"), ("dtype", "dtype", ""),
    ("triton_ms", "fused ms", "{:.3f}"), ("ref_ms", "torch ref ms", "{:.3f}"),
    ("compiled_ms", "compiled ref ms", "{:.3f}"), ("dense_ms", "dense CE ms", "{:.3f}"),
    ("gbps", "GB/s", "{:,.0f}"), ("bw_frac", "of copy BW", "{:.0%}"), ("x_ref", "x ref", "{:.1f}"),
    ("x_compiled", "x compiled", "{:.1f}"), ("dense_n", "dense n", "{:,}"), ("x_dense", "x dense", "{:,.0f}"),
    ("note", "note", ""), ("error", "error", ""),
]
TOPK_COLUMNS = [
    ("n", "n", "{:,}"), ("factors", "factors", ""), ("n_classes", "C", "{:,}"), ("k", "k", ""),
    ("dtype", "dtype", ""), ("triton_ms", "kernel ms", "{:.3f}"), ("ref_ms", "torch ref ms", "{:.3f}"),
    ("floor_ms", "byte floor ms", "{:.4f}"), ("x_floor", "x floor", "{:.2f}"), ("gbps", "GB/s", "{:,.0f}"),
    ("bw_frac", "of copy BW", "{:.0%}"), ("dense_n", "dense n", "{:,}"), ("dense_ms", "dense ms", "{:.2f}"),
    ("x_dense", "x dense", "{:,.0f}"), ("error", "error", ""),
]
FIT_COLUMNS = [
    ("model", "model", ""), ("data", "data", ""), ("device", "device", ""), ("n_rows", "rows", "{:,}"),
    ("epochs", "epochs", ""), ("fit_s", "fit s", "{:.2f}"), ("samples_per_s", "samples/s", "{:,.0f}"),
    ("error", "error", ""),
]


def _fmt(value, fmt: str = "{:.3g}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _target_line(t: dict) -> str:
    if t["status"] == "not evaluated":
        return f"- {t['what']}: not evaluated ({t['reason']})"
    op = ">=" if t["higher_is_better"] else "<="
    return (f"- {t['what']}: **{t['status']}**, {_fmt(t['value'])} (target {op} {t['threshold']:g}; "
            f"ratio {t['ratio']:.2f})")


def render_markdown(report: dict) -> str:
    """``gpu_check.md``: environment, parts, targets, checks and every figure table."""
    env = report["environment"]
    lines = ["# skmhe GPU check", "", f"`{report['command']}` on {report['started']}", ""]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += ["", f"Total {report['total_s']:.0f} s (budget {report['budget_s']:.0f} s).", "", "## Parts", ""]
    lines.append("| part | status | seconds | limit s | reason |")
    lines.append("| --- | --- | --- | --- | --- |")
    for name in PART_NAMES:
        p = report["parts"].get(name, {})
        lines.append(f"| {name} | {p.get('status')} | {_fmt(p.get('seconds'), '{:.1f}')} | "
                     f"{_fmt(p.get('limit_s'), '{:.0f}')} | {p.get('reason') or ''} |")
    lines += ["", "## Targets", ""] + [_target_line(t) for t in report["targets"]]
    for name in PART_NAMES:
        p = report["parts"].get(name, {})
        lines += ["", f"## {name}", ""]
        lines += [f"- {n}" for n in p.get("notes", [])]
        if not p.get("checks") and p.get("reason"):
            lines.append(f"- {p.get('status')}: {p['reason']}")
        for c in p.get("checks", []):
            secs = f" ({c['seconds']:.1f} s)" if c.get("seconds") is not None else ""
            detail = c["detail"].strip().splitlines()[-1] if c.get("detail", "").strip() else ""
            lines.append(f"- {c['status']}: {c['name']}{secs}" + (f": {detail}" if detail else ""))
        figs = p.get("figures", {})
        for key, cols in (("ce", CE_COLUMNS), ("topk", TOPK_COLUMNS), ("fits", FIT_COLUMNS)):
            if figs.get(key):
                lines += ["", markdown_table(figs[key], cols)]
        scalars = {k: v for k, v in figs.items() if not isinstance(v, list)}
        if scalars:
            lines += [""] + [f"- {k}: {json.dumps(v, default=str)}" for k, v in scalars.items()]
    return "\n".join(lines) + "\n"


def render_summary(report: dict) -> str:
    """The one-screen summary printed last: device, each part's status and time, key figures, targets."""
    env = report["environment"]
    lines = [
        "=" * 72,
        f"skmhe GPU check: {env.get('device')}  (torch {env.get('torch')}, triton {env.get('triton')}, "
        f"driver {env.get('driver')})",
        f"total {report['total_s']:.0f} s of {report['budget_s']:.0f} s" + ("  [--quick]" if report["quick"] else ""),
    ]
    for name in PART_NAMES:
        p = report["parts"].get(name, {})
        reason = (p.get("reason") or "")[:90]
        lines.append(f"  {name:12s} {p.get('status', '?'):8s} {_fmt(p.get('seconds'), '{:6.1f}')} s  {reason}")
    speed = report["parts"].get("speed", {}).get("figures", {})
    if speed.get("copy_bandwidth_gbps"):
        lines.append(f"  copy bandwidth {speed['copy_bandwidth_gbps']:,.0f} GB/s")
    for row in speed.get("ce", [])[:4]:
        lines.append(f"  MH-CE n={row['n']:,} {row['factors']} {row['dtype']}: {_fmt(row.get('triton_ms'))} ms, "
                     f"{_fmt(row.get('bw_frac'), '{:.0%}')} of copy BW, x{_fmt(row.get('x_ref'), '{:.1f}')} ref")
    for row in report["parts"].get("end_to_end", {}).get("figures", {}).get("fits", []):
        lines.append(f"  fit {row['model']:9s} {row['device']:4s} {_fmt(row.get('samples_per_s'), '{:,.0f}')} "
                     "samples/s" + (f"  error: {row['error'][:60]}" if row.get("error") else ""))
    lines.append("targets:")
    for t in report["targets"]:
        lines.append("  " + _target_line(t)[2:].replace("**", ""))
    lines.append("=" * 72)
    return "\n".join(lines)
