"""Threads: default fits at ``n_jobs=1`` against ``n_jobs=2`` (and more), side by side.

Chooses the default of ``n_jobs``. Each case is a fit with the estimator's
defaults (``random_state=0``) timed at every thread count in turn, the order
alternating between repeats, in this one process; wall-clock and CPU seconds
(``time.process_time``, all threads) are recorded with the 1-minute load
average at the start of each fit, and what ``n_jobs=None`` would resolve to
then. The ratios (wall time at ``n`` threads over wall time at 1) are what to
read: the machine's load changes from run to run.

Cases: a sparse ``make_extreme_classification`` (20,000 rows, 2,000 classes)
with ``MHEClassifier()``, scikit-learn's digits with ``MHEClassifier()``, and
Corel5k (L2 rows) with ``MHEMultiLabelClassifier()`` when the data home has it.

Usage::

    python -m benchmarks.bench_threads [--quick] [--threads 1 2] [--repeats 1] [--out PATH]
"""

from __future__ import annotations

import json
import time

from . import _cli
from ._cli import ROOT
from ._common import markdown_table

DEFAULT_OUT = ROOT / "benchmarks" / "out" / "threads.json"


def _cases(quick: bool, data_home):
    """``(name, make_estimator, X, y)`` of every case the machine has the data for."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import normalize

    from skmhe import MHEClassifier, MHEMultiLabelClassifier
    from skmhe.datasets import load_mulan, make_extreme_classification

    n, c = (2000, 100) if quick else (20000, 2000)
    X, y = make_extreme_classification(n_samples=n, n_classes=c, sparse=True, random_state=0)
    yield f"sparse {n:,} x {c:,} classes, MHEClassifier()", MHEClassifier, X, y
    digits = load_digits()
    yield "digits, MHEClassifier()", MHEClassifier, digits.data / 16.0, digits.target
    if quick:
        return
    try:
        d = load_mulan("corel5k", data_home=data_home)
    except FileNotFoundError as exc:
        print(f"Corel5k skipped: {exc}", flush=True)
        return
    yield "Corel5k, MHEMultiLabelClassifier()", MHEMultiLabelClassifier, normalize(d.X_train), d.Y_train


def _time_fit(make, X, y, n_jobs: int) -> dict:
    from skmhe._threads import resolve_n_jobs

    load = _cli.load_average()
    idle = resolve_n_jobs(None, ceiling=64)
    wall, cpu = time.perf_counter(), time.process_time()
    model = make(random_state=0, n_jobs=n_jobs).fit(X, y)
    return {
        "n_jobs": n_jobs,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "epochs": model.n_iter_,
        "load_1min": load[0] if load else None,
        "none_resolves_to": idle,
    }


def main(argv=None) -> int:
    p = _cli.parser(__doc__)
    _cli.add_common_arguments(p, out=str(DEFAULT_OUT), data=True)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="n_jobs values to compare")
    p.add_argument("--repeats", type=int, default=1, help="fits per case and thread count")
    args = p.parse_args(argv)
    _cli.use_data_home(args.data_home)
    load_before = _cli.load_average()
    rows = []
    for name, make, X, y in _cases(args.quick, args.data_home):
        for repeat in range(args.repeats):
            order = args.threads if repeat % 2 == 0 else args.threads[::-1]
            for n_jobs in order:
                row = {"case": name, "repeat": repeat, **_time_fit(make, X, y, n_jobs)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    for row in rows:  # wall time relative to the 1-thread fit of the same case and repeat
        base = [r for r in rows if r["case"] == row["case"] and r["repeat"] == row["repeat"] and r["n_jobs"] == 1]
        row["wall_vs_1"] = row["wall_s"] / base[0]["wall_s"] if base else None
    out = _cli.output_file(args.out)
    out.write_text(json.dumps({"info": _cli.run_info(load_before), "results": rows}, indent=1))
    print(_cli.command_line("benchmarks.bench_threads", argv))
    print(markdown_table(rows, [
        ("case", "case", ""), ("n_jobs", "n_jobs", ""), ("repeat", "repeat", ""),
        ("load_1min", "load (1 min)", "{:.2f}"), ("wall_s", "wall s", "{:.1f}"), ("cpu_s", "CPU s", "{:.1f}"),
        ("wall_vs_1", "wall / 1 thread", "{:.2f}"), ("epochs", "epochs", ""),
    ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
