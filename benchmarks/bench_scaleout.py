"""Scale-out: fit throughput of one process against two data-parallel torchrun processes.

On the same data, with the same global minibatch and number of epochs, an
ordinary ``MHEClassifier.fit`` is timed in three configurations, side by side
in one run:

* ``1 process x 2 threads``: a single process using both cores (intra-op threads);
* ``1 process x 1 thread``: a single process on one core;
* ``2 processes x 1 thread``: ``torchrun --nproc_per_node=2`` on 127.0.0.1, a
  gloo process group, each rank training on its share of every epoch and DDP
  averaging the gradients (see ``skmhe._distributed``).

Each configuration runs in fresh processes; the fit is timed inside them
(after a warm-up fit and, for torchrun, a barrier), so process start-up and
data generation are not counted. Throughput is training rows per second
(``n_samples * epochs / fit seconds``); the speed-up is relative to
``1 process x 1 thread``. The test accuracy of each fit is reported too (the
data-parallel fit is the single-process algorithm, up to rounding).

Writes JSON (``--out``, default ``benchmarks/out/scaleout.json``) and prints a
markdown table.

Usage::

    python -m benchmarks.bench_scaleout [--quick] [--out PATH]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import _cli
from ._cli import ROOT
from ._common import free_port, machine_info, markdown_table, run_with_timeout

DEFAULT_OUT = ROOT / "benchmarks" / "out" / "scaleout.json"

#: (name, processes, threads per process)
CONFIGS = (
    ("1 process x 2 threads", 1, 2),
    ("1 process x 1 thread", 1, 1),
    ("2 processes x 1 thread", 2, 1),
)
FULL = dict(
    n_samples=40000, n_features=512, n_classes=1000, hidden=1024, batch_size=1024, epochs=3
)
QUICK = dict(n_samples=2000, n_features=32, n_classes=50, hidden=32, batch_size=128, epochs=2)
#: seconds one configuration may run (start-up included)
CONFIG_TIMEOUT_S = 300


# --------------------------------------------------------------------------- worker side


def _data(settings: dict):
    from skmhe.datasets import make_extreme_classification

    X, y = make_extreme_classification(
        n_samples=settings["n_samples"] + 2000, n_features=settings["n_features"],
        n_classes=settings["n_classes"], class_sep=2.0, random_state=0,
    )
    n = settings["n_samples"]
    return X[:n], y[:n], X[n:], y[n:]


def _estimator(settings: dict, epochs: int):
    from skmhe import MHEClassifier

    return MHEClassifier(
        hidden_layer_sizes=(settings["hidden"],), batch_size=settings["batch_size"],
        max_iter=epochs, tol=0.0, n_iter_no_change=epochs, random_state=0, device="cpu",
        method="product", learning_rate="constant", early_stopping=False,  # as measured
    )


def worker(settings: dict, threads: int, out: Path) -> None:
    """Time one fit in this process (every rank of a torchrun job runs it); rank 0 writes ``out``."""
    import warnings

    import numpy as np
    import torch
    import torch.distributed as dist
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    torch.set_num_threads(threads)
    distributed = "RANK" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    try:
        X, y, X_test, y_test = _data(settings)
        _estimator(settings, 1).fit(X[:2048], y[:2048])  # warm-up: allocators, first DDP build
        if distributed:
            dist.barrier()
        est = _estimator(settings, settings["epochs"])
        start = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - start
        if not distributed or dist.get_rank() == 0:
            result = {
                "fit_s": seconds,
                "epochs": est.n_iter_,
                "accuracy": float(np.mean(est.predict(X_test) == y_test)),
                "torch_threads": torch.get_num_threads(),
            }
            out.write_text(json.dumps(result))
    finally:
        if distributed:
            dist.destroy_process_group()


# --------------------------------------------------------------------------- parent side


def launch_command(processes: int, settings_file: Path, threads: int, out: Path) -> list[str]:
    """The command running :func:`worker` in ``processes`` processes (torchrun when more than one)."""
    worker_args = ["--worker", str(settings_file), str(threads), str(out)]
    if processes == 1:
        return [sys.executable, "-m", "benchmarks.bench_scaleout", *worker_args]
    return [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}", "--module", "benchmarks.bench_scaleout", *worker_args,
    ]


def run_config(processes: int, threads: int, settings: dict, workdir: Path) -> dict:
    """Run one configuration in fresh processes; its worker's result (or an ``error``)."""
    settings_file = workdir / "settings.json"
    settings_file.write_text(json.dumps(settings))
    out = workdir / f"result_{processes}x{threads}.json"
    command = launch_command(processes, settings_file, threads, out)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    returncode, output = run_with_timeout(command, CONFIG_TIMEOUT_S, env=env, cwd=ROOT)
    if returncode is None:
        return {"error": f"timed out after {CONFIG_TIMEOUT_S} s"}
    if returncode != 0 or not out.exists():
        return {"error": f"exit {returncode}: {output[-2000:]}"}
    return json.loads(out.read_text())


def run(settings: dict) -> list[dict]:
    """Every configuration of :data:`CONFIGS` on ``settings``, with throughput and speed-up."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, processes, threads in CONFIGS:
            result = run_config(processes, threads, settings, Path(tmp))
            row = {"config": name, "processes": processes, "threads_per_process": threads, **result}
            if "fit_s" in result:
                row["rows_per_s"] = settings["n_samples"] * result["epochs"] / result["fit_s"]
            rows.append(row)
            print(f"{name}: {result}", flush=True)
    base = next((r.get("rows_per_s") for r in rows if r["config"] == "1 process x 1 thread"), None)
    for row in rows:
        if base and "rows_per_s" in row:
            row["speedup_vs_1x1"] = row["rows_per_s"] / base
    return rows


COLUMNS = [
    ("config", "configuration", ""),
    ("fit_s", "fit (s)", "{:.2f}"),
    ("rows_per_s", "rows/s", "{:,.0f}"),
    ("speedup_vs_1x1", "speed-up vs 1x1", "{:.2f}x"),
    ("accuracy", "test accuracy", "{:.3f}"),
]


def main(argv=None) -> dict:
    parser = _cli.parser(__doc__.split("\n")[0])
    _cli.add_common_arguments(parser, out=str(DEFAULT_OUT), out_help="JSON result file",
                              quick_help="tiny data (for the tests)")
    args = parser.parse_args(argv)
    args.out = _cli.output_file(args.out)
    settings = dict(QUICK if args.quick else FULL)
    rows = run(settings)
    report = {"machine": machine_info(), "settings": settings, "quick": args.quick, "rows": rows}
    args.out.write_text(json.dumps(report, indent=2))
    s = settings
    text = (
        f"MHEClassifier (product, hidden {s['hidden']}), {s['n_samples']} rows x "
        f"{s['n_features']} features, {s['n_classes']} classes, global batch {s['batch_size']}, "
        f"{s['epochs']} epochs; {report['machine']['machine']}\n\n" + markdown_table(rows, COLUMNS) + "\n"
    )
    args.out.with_suffix(".md").write_text(text)
    print("\n" + text)
    return report


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(json.loads(Path(sys.argv[2]).read_text()), int(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
