"""Extreme multi-label benchmark: skmhe's cascade against the usual XMC peers, side by side.

Data: the Mulan sets Bibtex, Delicious and Corel5k (``skmhe.datasets.load_mulan``, from the
data home, ``--data-home``; a missing one is skipped with a message). Features are L2-normalised rows
for every model (``--no-normalize`` to keep them raw); labels are bool CSR.

Models (``MODELS``, a registry ``name -> ModelSpec``; add an entry to compare another one):

* ``skmhe MHC``: ``skmhe.MHEMultiLabelClassifier(**SKMHE_PARAMS)``, the cascade;
* ``skmhe flat``: the same estimator with ``n_levels=1`` (one BCE head over all labels, the
  dense baseline);
* ``omikuji Parabel`` / ``omikuji Bonsai``: omikuji's Parabel-like (balanced 2-means, depth 20)
  and Bonsai-like (unbalanced 100-means, depth 3) label trees, trained from an
  Extreme-Classification-Repository text file and queried row by row through its Python API;
* ``napkinxc PLT``: napkinXC's probabilistic label tree (its defaults);
* ``OvR LinearSVC``: scikit-learn ``OneVsRestClassifier(LinearSVC())``, top-k from
  ``decision_function``; labels absent from the training split are masked out.

Every model is trained in its own spawned process (``_common.run_isolated``), so the peak RSS
reported is that process's own (data included; ``VmHWM``, see ``_common.peak_rss_mib``). Times:

* ``prep s``: converting the data to the model's input format (omikuji: writing the training
  file; napkinxc: label lists). Not included in ``train s``;
* ``train s``: the library's training call (omikuji's includes parsing its training file, which
  its API requires);
* ``predict s``: top-5 for the whole test split (omikuji: its per-row Python ``predict``).

Metrics (``skmhe.metrics``, computed in the parent from each model's top-5): P@1, P@3, P@5,
nDCG@5 and PSP@5 with ``inverse_propensity(Y_train)``.

``--synthetic-labels N`` (e.g. 1000000) instead trains ``skmhe MHC`` only on generated keyword
data with ``N`` labels (``make_keyword_multilabel``; add ``--data`` to run the real sets too).

Usage::

    python -m benchmarks.bench_xmlc [--data NAME_OR_DIR ...] [--models NAMES] [--quick]
                                    [--synthetic-labels N] [--out DIR]

``--scale`` runs the scale benchmark instead (``benchmarks/xmlc_scale.py``): skmhe's defaults beside
omikuji Parabel and napkinXC PLT on ``make_xmc_multilabel`` data at 1e4, 1e5 and 1e6 labels, wall and CPU
seconds, peak RSS, and a plot of train time against labels (``--scale-labels``, ``--scale-rows``,
``--scale-steps``; ``--quick``: toy sizes).

``--models`` takes registry names, case, spaces and dashes ignored (``omikuji-parabel``), or the
groups ``skmhe`` and ``peers``.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

from . import _cli
from ._common import run_isolated
from .xmlc_cases import (  # noqa: F401  (read by the tests through this module)
    K,
    MULAN_NAMES,
    QUICK_TEST,
    QUICK_TRAIN,
    RSS_TARGET_MIB,
    SYNTHETIC_QUICK_ROWS,
    SYNTHETIC_QUICK_TEST,
    label_lists,
    load_dataset,
    make_keyword_multilabel,
    synthetic_dataset,
    write_xc_repo,
)
from .xmlc_models import (  # noqa: F401
    GROUPS,
    MODELS,
    SKMHE_PARAMS,
    SKMHE_QUICK_PARAMS,
    ModelSpec,
    _fit_napkinxc_plt,
    _fit_ovr_linear_svc,
    _run_model,
    pad_topk,
    resolve_models,
    skmhe_estimator_status,
    topk_from_scores,
    unavailable,
)
from .xmlc_report import METRIC_KEYS, _versions, evaluate, render_markdown  # noqa: F401


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--data", action="append", default=None,
                   help="Mulan name (bibtex, delicious, corel5k) or folder; repeatable or comma "
                        "list; default: every one found in the data home")
    p.add_argument("--models", action="append", default=None,
                   help=f"models to run (comma list, repeatable): {', '.join(MODELS)}, or a "
                        f"group ({', '.join(GROUPS)}); default: all (with --synthetic-labels: "
                        "skmhe MHC)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=None, help="subsample training rows")
    p.add_argument("--max-test", type=int, default=None, help="subsample test rows")
    p.add_argument("--no-normalize", action="store_true", help="keep raw features (no row L2)")
    p.add_argument("--epochs", type=int, default=None, help="skmhe max_iter")
    p.add_argument("--skmhe-param", action="append", default=[], metavar="KEY=VALUE",
                   help="extra MHEMultiLabelClassifier parameter (VALUE a Python literal)")
    p.add_argument("--synthetic-labels", type=int, default=None,
                   help="also/instead run skmhe MHC on synthetic keyword data with N labels")
    p.add_argument("--synthetic-rows", type=int, default=200_000, help="synthetic training rows")
    p.add_argument("--synthetic-test-rows", type=int, default=20_000)
    p.add_argument("--synthetic-features", type=int, default=None,
                   help="default min(2**17, 4 * labels)")
    p.add_argument("--verbose", action="store_true", help="let the libraries log")
    p.add_argument("--scale", action="store_true",
                   help="the scale benchmark instead (benchmarks/xmlc_scale.py): skmhe's defaults, omikuji "
                        "Parabel and napkinXC PLT on make_xmc_multilabel data at 1e4, 1e5, 1e6 labels")
    p.add_argument("--scale-labels", type=int, nargs="+", default=None, help="--scale: label counts")
    p.add_argument("--scale-rows", type=int, default=None, help="--scale: training rows (default per label count)")
    p.add_argument("--scale-test-rows", type=int, default=None, help="--scale: test rows (default 10,000)")
    p.add_argument("--scale-models", nargs="+", default=None,
                   help="--scale: models ('skmhe defaults', 'omikuji Parabel', 'napkinxc PLT')")
    p.add_argument("--scale-steps", type=int, default=None,
                   help="--scale: time skmhe on this many steps and extrapolate one epoch (no P@k)")
    _cli.add_common_arguments(
        p, out="benchmarks/out", out_help="folder for bench_xmlc.json and bench_xmlc.md",
        threads=min(2, os.cpu_count() or 1), threads_help="threads per model (torch, omikuji, napkinxc, OvR jobs)",
        quick_help=f"toy sizes ({QUICK_TRAIN} train / {QUICK_TEST} test rows per set, few epochs): a smoke test",
        data=True)
    args = p.parse_args(argv)
    _cli.use_data_home(args.data_home)
    if args.quick:
        args.max_train = args.max_train or QUICK_TRAIN
        args.max_test = args.max_test or QUICK_TEST
        if args.synthetic_labels:
            args.synthetic_rows = min(args.synthetic_rows, SYNTHETIC_QUICK_ROWS)
            args.synthetic_test_rows = min(args.synthetic_test_rows, SYNTHETIC_QUICK_TEST)
    args.skmhe_params = {}
    for item in args.skmhe_param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            p.error(f"--skmhe-param wants KEY=VALUE, got {item!r}")
        try:
            args.skmhe_params[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            args.skmhe_params[key.strip()] = value  # a plain string
    if args.epochs is not None:
        args.skmhe_params.setdefault("max_iter", args.epochs)
    return args


def _data_items(args) -> list[str]:
    if args.data is None:
        return [] if args.synthetic_labels else list(MULAN_NAMES)
    return [v.strip() for value in args.data for v in value.split(",") if v.strip()]


def _missing_data_reason(item: str) -> str | None:
    from skmhe.datasets import find_shared_data

    if item.lower() in MULAN_NAMES:
        if find_shared_data(item.lower()) is None:
            return f"{item}: not found in the data home (--data-home, SKMHE_DATA), skipped"
        return None
    if not Path(item).expanduser().is_dir():
        return f"{item}: no such folder (and not one of {', '.join(MULAN_NAMES)}), skipped"
    return None


def run_dataset(data: dict, models: list[str], ctx: dict, skmhe_error, log=print) -> list[dict]:
    """One row per model for one data set (each model in its own process)."""
    import numpy as np

    from skmhe.metrics import inverse_propensity

    inv_prop = inverse_propensity(data["Y_train"])
    payload = {key: data[key] for key in ("X_train", "Y_train", "X_test")}
    rows = []
    for name in models:
        row = {"dataset": data["name"], "model": name}
        missing = unavailable(name, skmhe_error)
        if missing is not None:
            log(f"  {name}: {missing[0]} ({missing[1]})")
            rows.append({**row, "status": missing[0], "reason": missing[1]})
            continue
        log(f"  {name} ...", end=" ", flush=True)
        result = run_isolated(_run_model, name, payload, ctx)
        if "error" in result:
            log(f"failed: {result['error']}")
            rows.append({**row, "status": f"error: {result['error']}"})
            continue
        topk = np.asarray(result.pop("topk"))
        try:
            if topk.shape != (data["X_test"].shape[0], K):
                raise ValueError(f"top-k has shape {topk.shape}, expected "
                                 f"({data['X_test'].shape[0]}, {K})")
            metrics = evaluate(data["Y_test"], topk, inv_prop)
        except ValueError as exc:
            log(f"bad predictions: {exc}")
            rows.append({**row, **result, "status": f"error: bad predictions: {exc}"})
            continue
        row.update(metrics)
        row.update(result)
        row["status"] = "ok"
        log(f"P@1 {metrics['p@1']:.4f}, train {result['train_s']:.2f} s, "
            f"peak RSS {result['peak_rss_mib']:,.0f} MiB")
        rows.append(row)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.scale:
        from .xmlc_scale import main_scale

        return main_scale(args, argv)
    load_before = _cli.load_average()
    models = resolve_models(args.models) if args.models else (
        ["skmhe MHC"] if args.synthetic_labels else list(MODELS))
    ctx = {"threads": args.threads, "seed": args.seed, "quick": args.quick,
           "verbose": args.verbose, "skmhe_params": args.skmhe_params}
    skmhe_error = skmhe_estimator_status() if any(MODELS[m].skmhe for m in models) else None
    notes = []
    if skmhe_error is not None:
        print(f"skmhe rows not available: {skmhe_error}")

    rows, datasets = [], []
    for item in _data_items(args):
        reason = _missing_data_reason(item)
        if reason is not None:
            print(reason)
            notes.append(reason)
            continue
        data = load_dataset(item, args)
        datasets.append({"name": data["name"], **data["info"]})
        print(f"{data['name']}: {data['info']}", flush=True)
        rows += run_dataset(data, models, ctx, skmhe_error)
        del data
    if args.synthetic_labels:
        data = synthetic_dataset(args)
        datasets.append({"name": data["name"], **data["info"]})
        print(f"{data['name']}: {data['info']}", flush=True)
        syn_rows = run_dataset(data, models, ctx, skmhe_error)
        for row in syn_rows:
            if "peak_rss_mib" in row:
                verdict = "under" if row["peak_rss_mib"] < RSS_TARGET_MIB else "OVER"
                notes.append(f"{row['dataset']}, {row['model']}: peak RSS "
                             f"{row['peak_rss_mib']:,.0f} MiB, {verdict} the "
                             f"{RSS_TARGET_MIB // 1024} GiB target.")
        rows += syn_rows
        del data
    if not datasets:
        notes.append("no data set available: nothing was run")
    for row in rows:
        note = f"{row['model']}: {row['status']} ({row['reason']})" if "reason" in row else None
        if note and note not in notes:
            notes.append(note)

    info = _cli.run_info(load_before)
    info["torch_threads"] = args.threads
    report = {
        "command": " ".join(["python -m benchmarks.bench_xmlc", *(argv if argv is not None
                                                                  else sys.argv[1:])]),
        "args": {k: v for k, v in vars(args).items()},
        "machine": info,
        "versions": _versions(),
        "models": {name: MODELS[name].description for name in models},
        "skmhe_params": {**SKMHE_PARAMS, **(SKMHE_QUICK_PARAMS if args.quick else {}),
                         **args.skmhe_params},
        "datasets": datasets,
        "results": rows,
        "notes": notes,
    }
    markdown = render_markdown(report)
    print()
    print(markdown)
    out = _cli.output_folder(args.out)
    (out / "bench_xmlc.json").write_text(json.dumps(report, indent=2, default=repr))
    (out / "bench_xmlc.md").write_text(markdown)
    print(f"results written to {out / 'bench_xmlc.json'} and {out / 'bench_xmlc.md'}")
    failed = [r for r in rows if str(r.get("status", "")).startswith("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
