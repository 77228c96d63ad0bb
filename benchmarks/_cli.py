"""What every benchmark's command line shares: its common arguments, the data home, the output
files, the machine-and-git header of a report and the plot style.

The benchmarks run as modules from the repository root only: ``python -m benchmarks.X``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ._common import machine_info

ROOT = Path(__file__).resolve().parents[1]
#: the shared, read-only data next to the checkout: the default ``--data-home``
SHARED_DATA = ROOT.parent / "shared" / "data"
#: the variable ``skmhe.datasets.get_data_home`` reads (set for this run and its children)
DATA_ENV_VAR = "SKMHE_DATA"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser showing the benchmark's module docstring as its help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def default_data_home() -> str | None:
    """``$SKMHE_DATA`` when set, else ``../shared/data`` next to the repository when it exists."""
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        return env
    return str(SHARED_DATA) if SHARED_DATA.is_dir() else None


def add_common_arguments(
    p: argparse.ArgumentParser,
    *,
    out: str,
    out_help: str = "JSON results path",
    threads: int | None = None,
    threads_help: str | None = None,
    quick_help: str = "toy sizes, for a smoke test",
    plots: bool = False,
    data: bool = False,
) -> argparse.ArgumentParser:
    """``--quick`` and ``--out``; ``--threads``, ``--no-plots`` and ``--data-home`` on request."""
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", default=out, help=out_help)
    if threads is not None:
        p.add_argument("--threads", type=int, default=threads, help=threads_help)
    if plots:
        p.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    if data:
        p.add_argument("--data-home", default=default_data_home(),
                       help=f"folder holding the data sets (default: ${DATA_ENV_VAR}, else {SHARED_DATA})")
    return p


def use_data_home(data_home) -> None:
    """Point ``skmhe.datasets.get_data_home`` at ``data_home`` for this run and the processes it starts."""
    if data_home:
        os.environ[DATA_ENV_VAR] = str(Path(data_home).expanduser().resolve())


def output_file(path) -> Path:
    """``path`` as a Path, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_report(report: dict, markdown: str, path, rows: list[dict]) -> int:
    """Write ``report`` as JSON at ``path`` and ``markdown`` beside it (``.md``), print the
    markdown, and return the exit status: 0 when every row's ``status`` is ``"ok"``, else 1."""
    import json

    out = output_file(path)
    out.write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def output_folder(path) -> Path:
    """``path`` as a Path, created."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on the machine slows timings)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def git_state() -> dict:
    """Commit of the checkout and whether skmhe/ differs from it (read-only git calls)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skmhe"], check=False, cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "skmhe_modified": None}
    return {"commit": commit or None, "skmhe_modified": bool(dirty)}


def run_info(load_before: list[float] | None, git: dict | None = None) -> dict:
    """The header of a result file: machine and versions, load averages, git state."""
    info = machine_info()
    info["load_average"] = {"before": load_before, "after": load_average()}
    info["git"] = git_state() if git is None else git
    return info


def commit_line(git: dict) -> str:
    """``skmhe at commit <sha>`` (and whether skmhe/ was modified), for a report."""
    modified = " (skmhe/ modified)" if git.get("skmhe_modified") else ""
    return f"skmhe at commit {(git.get('commit') or 'unknown')[:10]}{modified}"


def machine_line(info: dict, threads: int) -> str:
    """The machine-and-versions line at the top of a report."""
    return (f"Machine: {info['machine']}; Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}, "
            f"scikit-learn {info['scikit-learn']}; {threads} threads; {info['date']}.")


def command_line(module: str, argv=None) -> str:
    """How the report was made: ``Command: `python -m <module> <arguments>` ``."""
    return "Command: `" + " ".join([f"python -m {module}", *(sys.argv[1:] if argv is None else argv)]) + "`"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, with the benchmarks' style; None without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not importable: no plots", flush=True)
        return None
    return plt


def save_figure(plt, fig, path: Path, dpi: int = 110, rect=None) -> str:
    """Write ``fig`` to ``path`` (tight layout, within ``rect`` when given), close it; the path written."""
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return str(path)
