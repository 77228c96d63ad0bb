"""The single-label MHE methods side by side: product, cascade, sampling, the dense softmax,
torch's adaptive softmax and napkinXC (PLT, HSM), each model in its own process.

Data:

* ``digits``: ``skmhe.datasets.load_digit_pairs`` (100 classes ``10 a + b``, 128 dense pixels;
  20,000 train / 5,000 test pairs), factors 10x10;
* ``ptb``: Penn Treebank next-word prediction (``load_ptb``, 10,000 classes, vocabulary sorted by
  decreasing training frequency, so a code prefix is a band of similar frequency), features the
  previous 3 words one-hot (30,000 sparse columns, as ``benchmarks/demo.py --data``), factors
  100x100. Read from ``--ptb`` (default: ``ptb/`` in ``--data-home``, itself ``../shared/data`` by default);
  skipped with a message when it is absent.

Models (skmhe and torch ones: sparse-aware input layer -> ``hidden`` ReLU -> output layer, Adam
with lazy SparseAdam rows on a sparse input, ``skmhe._training.make_optimizer``):

* ``product``: ``MHEClassifier(method="product")``, the Kronecker product of the head softmaxes;
* ``cascade``: ``MHEClassifier(method="cascade")``, ``p(group) p(word | group)``, normalised
  (PTB: ``embedding_size=32``);
* ``sampling``: ``MHEClassifier(method="sampling")``, a full classifier trained on sampled
  groups (``sampling-batch``: ``sampling_mode="batch"``);
* ``dense``: ``MHEClassifier(factors=(n_classes,))``, the one-head dense softmax baseline;
* ``adaptive``: ``torch.nn.AdaptiveLogSoftmaxWithLoss`` (Grave et al. 2017) on the same
  ``skmhe.nn.MLPBackbone``, trained by the same optimizer; PTB cutoffs ``[1000, 5000]``,
  ``div_value=4``; ``adaptive-ref`` is the 512-hidden reference the target names;
* ``plt``, ``hsm``: napkinXC's probabilistic label tree and hierarchical softmax, linear nodes on
  the input features (an outside peer on the same data, not on the same backbone; see
  ``methods_peers.py``), skipped when napkinxc is not installed (``pip install -e .[bench]``);
* a name ``KIND-LABEL`` (e.g. ``adaptive-ref``, ``cascade-lr1e2``) is one more model of ``KIND``
  with its own settings (``MODEL_DEFAULTS``, ``--set``).

Notes from tuning on PTB (2 epochs, batch 512): more epochs overfit (the cascade at 3 epochs:
perplexity 185-211 against 164-178 at 2); ``embedding_size`` 32 and 64 give the same perplexity
(164-166); three levels (100x10x10, 25x20x20) are faster but lose perplexity (175-183).

Reported: top-1 and top-5 accuracy (``predict_topk``; the cascade's is its beam search),
perplexity ``exp(-mean log p(y|x))`` from the normalised full distribution
(``MHEClassifier.log_likelihood``; ``log_prob`` for the adaptive softmax; napkinXC: every label's
probability on the first ``--ppl-rows`` test rows), train samples/s (samples seen / wall time of
``fit``), output-layer parameters, peak RSS (``VmHWM`` of the model's own process, data included)
and the RSS above the loaded data. ``--profile`` adds, per model, a breakdown of a training step
(batch building, backbone forward, head loss, backward, optimizer) and the top operators of
``torch.profiler`` over ``--profile-steps`` steps.

Settings: ``DEFAULTS[dataset]`` for every model, then ``MODEL_DEFAULTS[dataset][model]``, then
``--set [DATASET:][MODEL.]KEY=VALUE`` (repeatable; e.g. ``--set ptb:cascade.lr=0.01``,
``--set epochs=1``). Keys: ``hidden`` (``256`` or ``512,512``), ``lr``, ``batch_size``,
``epochs``, ``alpha``, ``factors`` (``100x100``), ``embedding_size``, ``n_candidate_groups``,
``n_sampled_groups``, ``sampling_mode``, ``cutoffs`` (``1000,5000``), ``div_value``.

Usage::

    python -m benchmarks.bench_methods [--datasets digits,ptb] [--models NAMES] [--set ...]
                                       [--max-samples N] [--profile] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path

from . import _cli
from ._common import Timer, markdown_table, peak_rss_mib, rss_mib, run_isolated
from .methods_models import adaptive_network, evaluate_adaptive, method_name, mhe_classifier, train_adaptive
from .methods_peers import NAPKINXC_KINDS, fit_napkinxc
from .methods_profile import Stepper, profile_markdown, steady_throughput, step_profile

KINDS = ("product", "cascade", "sampling", "dense", "adaptive", *NAPKINXC_KINDS)
DATASETS = ("digits", "ptb")

#: The target on PTB: the best skmhe method reaches these at >= 3x the
#: adaptive softmax's training throughput measured in the same run. 172 is the perplexity the
#: project measured beforehand for a 512-hidden adaptive softmax (plain torch, 17.8k samples/s).
TARGET = {"top1": 0.21, "perplexity": 172.0, "speedup": 3.0}

#: Settings of every model of a data set.
DEFAULTS: dict = {
    "digits": {
        "hidden": (256,),
        "lr": 1e-3,
        "batch_size": 128,
        "epochs": 30,
        "alpha": 1e-4,
        "factors": (10, 10),
        "embedding_size": 64,
        "n_candidate_groups": 8,
        "n_sampled_groups": 4,
        "sampling_mode": "random",
        "cutoffs": (10, 50),
        "div_value": 4.0,
    },
    "ptb": {
        "hidden": (256,),
        "lr": 5e-3,
        "batch_size": 512,
        "epochs": 2,
        "alpha": 1e-4,
        "factors": (100, 100),
        "embedding_size": 64,
        "n_candidate_groups": 8,
        "n_sampled_groups": 8,
        "sampling_mode": "random",
        "cutoffs": (1000, 5000),
        "div_value": 4.0,
    },
}

#: Per-model settings on top of ``DEFAULTS``. PTB ``cascade`` holds the settings tuned for the
#: target (see the module notes below); ``cascade-100x100`` keeps the nominal two
#: levels of 100; ``adaptive-128`` is the adaptive softmax on the tuned cascade's backbone and
#: ``adaptive-ref`` the 512-hidden reference.
MODEL_DEFAULTS: dict = {
    "digits": {},
    "ptb": {
        "cascade": {"embedding_size": 32},
        "sampling-batch": {"sampling_mode": "batch"},
        "adaptive-ref": {"hidden": (512,)},
    },
}

DEFAULT_MODELS = {
    "digits": ["product", "cascade", "sampling", "dense", "adaptive", "plt", "hsm"],
    "ptb": ["product", "cascade", "sampling", "sampling-batch", "dense", "adaptive", "adaptive-ref",
            "plt", "hsm"],
}

QUICK = {
    "digits": {"hidden": (32,), "epochs": 2, "embedding_size": 8},
    "ptb": {"hidden": (32,), "epochs": 1, "embedding_size": 8, "batch_size": 256, "cutoffs": (500, 2000)},
    "n_train_digits": 1000,
    "n_test_digits": 200,
    "max_samples": 4000,
    "max_test": 1000,
}

COLUMNS = [
    ("model", "model", ""),
    ("method", "output layer", ""),
    ("hidden", "hidden", ""),
    ("accuracy", "top-1", "{:.4f}"),
    ("top5", "top-5", "{:.4f}"),
    ("perplexity", "perplexity", "{:.1f}"),
    ("train_s", "train s", "{:.1f}"),
    ("samples_per_s", "train samples/s", "{:,.0f}"),
    ("samples_per_cpu_s", "samples/CPU-s", "{:,.0f}"),
    ("steady_samples_per_s", "steady samples/s", "{:,.0f}"),
    ("eval_s", "eval s (top-5 + log-lik.)", "{:.1f}"),
    ("output_params", "output-layer params", "{:,}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
    ("model_rss_mib", "RSS above data MiB", "{:,.0f}"),
]


#: imported once by the fork server, so that each model's process starts in milliseconds
PRELOAD = ["numpy", "scipy.sparse", "torch", "skmhe"]


# --------------------------------------------------------------------------- processes


def run_model_process(start_method: str, fn, *args) -> dict:
    """``fn(*args)`` in a process of its own, so that its peak memory is its own.

    ``"spawn"``: a fresh interpreter per model, which pays torch's and skmhe's imports
    each time; ``"forkserver"``: forked from a server that imported ``PRELOAD`` once
    (same isolation, starts in milliseconds). See ``_common.run_isolated``.
    """
    return run_isolated(fn, *args, start_method=start_method, preload=PRELOAD)


# --------------------------------------------------------------------------- settings


def kind_of(model: str) -> str:
    """``"cascade-lr1e2"`` -> ``"cascade"``; ValueError for an unknown kind."""
    kind = model.split("-", 1)[0]
    if kind not in KINDS:
        raise ValueError(f"unknown model {model!r}: its kind must be one of {KINDS}")
    return kind


def parse_value(key: str, text: str):
    """A ``--set`` value in the type of ``key``."""
    text = text.strip()
    if key in ("hidden", "cutoffs"):
        return tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip()) if text else ()
    if key == "factors":
        return tuple(int(t) for t in text.replace(",", "x").split("x"))
    if key in ("batch_size", "epochs", "embedding_size", "n_candidate_groups", "n_sampled_groups"):
        return int(text)
    if key in ("lr", "alpha", "div_value"):
        return float(text)
    if key == "sampling_mode":
        return text
    raise ValueError(f"unknown setting {key!r}; known: {sorted(DEFAULTS['ptb'])}")


def parse_set(item: str) -> tuple[str | None, str | None, str, object]:
    """``[DATASET:][MODEL.]KEY=VALUE`` -> (dataset, model, key, value)."""
    if "=" not in item:
        raise argparse.ArgumentTypeError(f"--set takes [DATASET:][MODEL.]KEY=VALUE, got {item!r}")
    target, text = item.split("=", 1)
    dataset = None
    if ":" in target:
        dataset, target = target.split(":", 1)
        if dataset not in DATASETS:
            raise argparse.ArgumentTypeError(f"--set: unknown data set {dataset!r} in {item!r}")
    model, key = target.rsplit(".", 1) if "." in target else (None, target)
    try:
        return dataset, model, key, parse_value(key, text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--set {item!r}: {exc}") from None


def settings_for(dataset: str, model: str, args) -> dict:
    """Settings of one model: data-set defaults, quick sizes, model defaults, ``--set``."""
    cfg = dict(DEFAULTS[dataset])
    if args.quick:
        cfg.update(QUICK[dataset])
    cfg.update(MODEL_DEFAULTS[dataset].get(model, {}))
    if args.quick and "hidden" in MODEL_DEFAULTS[dataset].get(model, {}):
        cfg["hidden"] = tuple(max(8, h // 4) for h in cfg["hidden"])  # keep --quick tiny
    for ds, mdl, key, value in args.set:
        if (ds is None or ds == dataset) and (mdl is None or mdl == model):
            cfg[key] = value
    return cfg


# --------------------------------------------------------------------------- data


def load_data(dataset: str, args) -> dict:
    """Train/test split of ``dataset`` as a picklable dict (sent to every model's process)."""
    import numpy as np

    if dataset == "digits":
        from skmhe.datasets import load_digit_pairs

        n_train = QUICK["n_train_digits"] if args.quick else args.digits_train
        n_test = QUICK["n_test_digits"] if args.quick else args.digits_test
        X_tr, X_te, y_tr, y_te = load_digit_pairs(n_train, n_test, random_state=0)
        desc = f"load_digit_pairs({n_train}, {n_test}, random_state=0): 100 classes, 128 dense features"
        return {"X_train": X_tr, "y_train": y_tr, "X_test": X_te, "y_test": y_te, "n_classes": 100,
                "description": desc}
    from skmhe.datasets import load_ptb

    bunch = load_ptb(args.ptb, context=3)
    cap = args.max_samples or (QUICK["max_samples"] if args.quick else None)
    cap_test = args.max_test or (QUICK["max_test"] if args.quick else None)
    X_tr, y_tr = bunch.X_train[:cap], bunch.y_train[:cap]
    X_te, y_te = bunch.X_test[:cap_test], bunch.y_test[:cap_test]
    desc = (
        f"PTB next word ({bunch.path}): {len(bunch.vocabulary)} classes (by decreasing frequency), "
        f"previous 3 words one-hot ({X_tr.shape[1]} sparse columns); {X_tr.shape[0]:,} training / "
        f"{X_te.shape[0]:,} test tokens"
    )
    return {"X_train": X_tr, "y_train": np.asarray(y_tr), "X_test": X_te, "y_test": np.asarray(y_te),
            "n_classes": len(bunch.vocabulary), "description": desc}


def ptb_missing_reason(args) -> str | None:
    """Why PTB cannot run (folder or files absent), or None."""
    if args.ptb is None:
        return "PTB skipped: no folder ptb/ in the data home (--data-home, $SKMHE_DATA)"
    folder = Path(args.ptb)
    if not folder.is_dir():
        return f"PTB skipped: {folder} is not a folder"
    for split in ("train", "test"):
        if not any((folder / f"ptb.{split}.txt{ext}").is_file() for ext in (".gz", "")):
            return f"PTB skipped: {folder} has no ptb.{split}.txt(.gz)"
    return None


# --------------------------------------------------------------------------- one model


def fit_and_score(dataset: str, model: str, cfg: dict, data: dict, opts: dict) -> dict:
    """Train one model and measure it (runs in its own spawned process)."""
    import time

    import numpy as np
    import scipy.sparse as sp
    import torch

    torch.set_num_threads(opts["threads"])
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-off lazy imports, outside the timer
    kind = kind_of(model)
    seed = opts["seed"]
    X_tr, y_tr, X_te, y_te = data["X_train"], data["y_train"], data["X_test"], data["y_test"]
    n_classes = data["n_classes"]
    sparse = sp.issparse(X_tr)
    rss_data = rss_mib()
    k = min(5, n_classes)
    if kind in NAPKINXC_KINDS:
        return _peer_row(dataset, model, kind, data, opts, k, rss_data)
    if kind == "adaptive":
        net = adaptive_network(X_tr.shape[1], n_classes, cfg, sparse, seed)
        cpu0 = time.process_time()
        with Timer() as t:
            optimizer = train_adaptive(net, X_tr, y_tr, cfg, sparse, seed)
        cpu_s = time.process_time() - cpu0
        seen = X_tr.shape[0] * cfg["epochs"]
        with Timer() as t_eval:
            labels, log_p = evaluate_adaptive(net, X_te, y_te, k)
        eval_s = (t_eval.seconds, 0.0)  # one pass gives both
        targets = torch.from_numpy(np.asarray(y_tr, dtype=np.int64))
    else:
        clf = mhe_classifier(kind, cfg, n_classes, seed)
        cpu0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Timer() as t:
                clf.fit(X_tr, y_tr)
        cpu_s = time.process_time() - cpu0
        seen = clf.t_
        with Timer() as t_topk:
            labels, _ = clf.predict_topk(X_te, k=k)
        with Timer() as t_ll:
            log_p = clf.log_likelihood(X_te, y_te)
        eval_s = (t_topk.seconds, t_ll.seconds)
        net, optimizer = clf.network_, clf._optimizer
        targets = torch.from_numpy(clf.codec_.encode(clf._index_of(np.asarray(y_tr))))
    row = {
        "dataset": dataset,
        "model": model,
        "kind": kind,
        "method": method_name(kind, cfg, n_classes),
        "hidden": "x".join(map(str, cfg["hidden"])) or "none",
        "settings": {key: list(v) if isinstance(v, tuple) else v for key, v in cfg.items()},
        **_accuracies(labels, y_te),
        "perplexity": _perplexity(log_p),
        "train_s": t.seconds,
        "train_cpu_s": cpu_s,
        "samples_per_s": seen / t.seconds,
        "samples_per_cpu_s": seen / cpu_s,
        "eval_s": sum(eval_s),
        "topk_s": eval_s[0],
        "log_likelihood_s": eval_s[1],
        "output_params": int(net.output_parameters()),
        "n_train": int(X_tr.shape[0]),
        "n_test": int(X_te.shape[0]),
    }
    peak = peak_rss_mib()  # before the extra steps below
    row["peak_rss_mib"] = peak
    row["model_rss_mib"] = peak - rss_data
    step = Stepper(net, optimizer, X_tr, targets, cfg, sparse, seed)
    steady = steady_throughput(step, opts["steady_blocks"], opts["steady_steps"])
    row["steady_samples_per_s"] = steady["best"]
    row["steady_median_samples_per_s"] = steady["median"]
    if opts["profile"]:
        row["profile"] = step_profile(step, opts["profile_steps"])
    return row


def _accuracies(labels, y) -> dict:
    """top-1 and top-k accuracy of ``(n, k)`` predicted labels."""
    import numpy as np

    y = np.asarray(y)[:, None]
    return {"accuracy": float(np.mean(labels[:, 0] == y[:, 0])), "top5": float(np.mean((labels == y).any(axis=1)))}


def _perplexity(log_p) -> float:
    """``exp(-mean log p)``, log-probabilities floored at 1e-12 (a label given no mass)."""
    import numpy as np

    return float(np.exp(-np.mean(np.maximum(log_p, np.log(1e-12)))))


def _peer_row(dataset: str, model: str, kind: str, data: dict, opts: dict, k: int, rss_data: float) -> dict:
    """One napkinXC model's row (no steady-state steps or profile: not a torch model)."""
    found = fit_napkinxc(kind, data, threads=opts["threads"], seed=opts["seed"], k=k,
                         ppl_rows=opts["ppl_rows"])
    seen = data["X_train"].shape[0]  # one pass of its solvers over the data
    peak = peak_rss_mib()
    return {
        "dataset": dataset, "model": model, "kind": kind, "method": method_name(kind, {}, data["n_classes"]),
        "hidden": "none", "settings": {"napkinxc": "defaults", "threads": opts["threads"]},
        **_accuracies(found["labels"], data["y_test"]),
        "perplexity": _perplexity(found["log_p"]),
        "perplexity_rows": found["ppl_rows"],
        "train_s": found["train_s"], "train_cpu_s": found["train_cpu_s"],
        "samples_per_s": seen / found["train_s"], "samples_per_cpu_s": seen / found["train_cpu_s"],
        "eval_s": found["eval_s"], "output_params": None, "model_mib": found["model_mib"],
        "n_train": int(data["X_train"].shape[0]), "n_test": int(data["X_test"].shape[0]),
        "peak_rss_mib": peak, "model_rss_mib": peak - rss_data,
    }


# --------------------------------------------------------------------------- report


def _speedups(row: dict, ref: dict) -> dict:
    """Throughput ratios of ``row`` over ``ref``: wall-clock fit, CPU time, steady blocks."""
    return {name: row[key] / ref[key] for name, key in (
        ("wall", "samples_per_s"), ("cpu", "samples_per_cpu_s"), ("steady", "steady_samples_per_s"))}


def reference_adaptive(rows: list[dict]) -> dict | None:
    """The adaptive softmax the target is measured against: ``adaptive-ref`` (the target's
    512-hidden reference) when it ran, else the first adaptive row."""
    adaptive = [r for r in rows if r.get("kind") == "adaptive" and "error" not in r]
    named = [r for r in adaptive if r["model"] == "adaptive-ref"]
    return (named or adaptive or [None])[0]


def target_verdicts(rows: list[dict]) -> list[str]:
    """The PTB target, checked for every skmhe method.

    The verdict uses the wall-clock training throughput of the fit against the reference
    adaptive softmax (:func:`reference_adaptive`); the CPU-time and steady-block ratios, and
    the ratios to the other adaptive rows, are printed beside it.
    """
    ptb = [r for r in rows if r.get("dataset") == "ptb" and "error" not in r]
    ref = reference_adaptive(ptb)
    others = [r for r in ptb if r["kind"] == "adaptive" and r is not ref]
    lines = []
    for row in ptb:
        if row["kind"] not in ("product", "cascade", "sampling"):
            continue
        ok = row["accuracy"] >= TARGET["top1"] and row["perplexity"] <= TARGET["perplexity"]
        parts = [
            (f"top-1 {row['accuracy']:.4f} {'>=' if row['accuracy'] >= TARGET['top1'] else '<'} "
            f"{TARGET['top1']}"),
            (f"perplexity {row['perplexity']:.1f} "
            f"{'<=' if row['perplexity'] <= TARGET['perplexity'] else '>'} {TARGET['perplexity']:g}"),
        ]
        fast = False
        for i, adaptive in enumerate([ref, *others] if ref else []):
            s = _speedups(row, adaptive)
            if i == 0:
                fast = s["wall"] >= TARGET["speedup"]
            parts.append(f"{s['wall']:.2f}x the train samples/s of {adaptive['model']} "
                         f"(hidden {adaptive['hidden']}; CPU-time {s['cpu']:.2f}x, steady {s['steady']:.2f}x)")
        verdict = "MEETS" if ok and fast else "misses"
        lines.append(f"- {row['model']}: {verdict} the target: " + ", ".join(parts))
    return lines


def render_markdown(report: dict) -> str:
    info = report["machine"]
    lines = [
        "# MHE methods side by side (`benchmarks/bench_methods.py`)",
        "",
        f"Command: `{report['command']}`",
        "",
        (f"Machine: {info['machine']}; Python {info['python']}, torch {info['torch']}, "
        f"{report['args']['threads']} threads; {info['date']}. Load average before / after: "
        f"{info['load_average']['before']} / {info['load_average']['after']}. "
        f"{_cli.commit_line(info['git'])}."),
        "",
        ("Throughput: `train samples/s` = samples seen / wall time of the fit; `samples/CPU-s` the same "
        "over the process's CPU time (steadier on a shared machine with 1 thread); `steady samples/s` "
        "the fastest of a few blocks of extra training steps after the evaluation."),
        "",
    ]
    for dataset in report["datasets"]:
        rows = [r for r in report["results"] if r.get("dataset") == dataset["name"]]
        lines += [f"## {dataset['name']}", "", dataset["description"], ""]
        lines.append(markdown_table(rows, COLUMNS))
        lines.append("")
        settings = {}
        for r in rows:
            if "settings" in r:
                s = r["settings"]
                settings.setdefault(json.dumps(s, sort_keys=True), []).append(r["model"])
        for key, models in settings.items():
            lines.append(f"- settings of {', '.join(models)}: `{key}`")
        for r in rows:
            if "error" in r:
                lines.append(f"- {r['model']} failed: {r['error']}")
        if dataset["name"] == "ptb":
            ref = reference_adaptive(rows)
            lines += ["", (f"Issue 5 target: top-1 >= {TARGET['top1']}, perplexity <= {TARGET['perplexity']:g}, "
                      f">= {TARGET['speedup']:g}x the train samples/s of the reference adaptive softmax "
                      f"({ref['model'] if ref else 'not run'}):"), ""]
            lines += target_verdicts(rows)
        lines.append("")
    lines += profile_markdown(report["results"])
    for note in report["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def _default_ptb() -> str | None:
    from skmhe.datasets import find_shared_data

    found = find_shared_data("ptb")
    return str(found) if found is not None else None


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--datasets", default="digits,ptb", help="comma-separated among digits, ptb")
    p.add_argument("--models", default=None,
                   help="comma-separated model names (KIND or KIND-LABEL); default: DEFAULT_MODELS "
                   "(--quick: the five kinds)")
    p.add_argument("--set", action="append", default=[], type=parse_set, metavar="[DATASET:][MODEL.]KEY=VALUE",
                   help="override a setting (repeatable)")
    p.add_argument("--ptb", default=None, help="PTB folder (default: ptb/ in the data home)")
    p.add_argument("--max-samples", type=int, default=None, help="PTB: first N training tokens only")
    p.add_argument("--max-test", type=int, default=None, help="PTB: first N test tokens only")
    p.add_argument("--digits-train", type=int, default=20_000)
    p.add_argument("--digits-test", type=int, default=5_000)
    p.add_argument("--ppl-rows", type=int, default=5000,
                   help="napkinXC: test rows whose every label's probability gives the perplexity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true",
                   help="per model: time the phases of a training step and list torch.profiler's top ops")
    p.add_argument("--profile-steps", type=int, default=30)
    p.add_argument("--steady-blocks", type=int, default=5,
                   help="after training: blocks of --steady-steps steps timed; the fastest is reported")
    p.add_argument("--steady-steps", type=int, default=20)
    p.add_argument("--start-method", choices=("forkserver", "spawn"), default="forkserver",
                   help="how each model's own process starts: forked from a server that imported "
                   "torch and skmhe once (default), or a fresh interpreter (_common.run_isolated)")
    _cli.add_common_arguments(p, out="benchmarks/out/bench_methods.json", threads=os.cpu_count() or 1,
                              out_help="JSON results path (the markdown goes next to it, .md)",
                              quick_help="tiny sizes, for a smoke test", data=True)
    args = p.parse_args(argv)
    _cli.use_data_home(args.data_home)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in args.datasets:
        if d not in DATASETS:
            p.error(f"--datasets: unknown {d!r}, choose among {DATASETS}")
    if args.models is not None:
        args.models = [m.strip() for m in args.models.split(",") if m.strip()]
        for m in args.models:
            try:
                kind_of(m)
            except ValueError as exc:
                p.error(str(exc))
    if args.ptb is None and "ptb" in args.datasets:
        args.ptb = _default_ptb()
    if args.quick:
        args.profile_steps = min(args.profile_steps, 2)
        args.steady_blocks, args.steady_steps = min(args.steady_blocks, 1), min(args.steady_steps, 2)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    load_before = _cli.load_average()
    git = _cli.git_state()  # at the start: the code the children import
    opts = {"threads": args.threads, "seed": args.seed, "profile": args.profile,
            "profile_steps": args.profile_steps, "steady_blocks": args.steady_blocks,
            "steady_steps": args.steady_steps, "ppl_rows": args.ppl_rows}
    rows, datasets, notes = [], [], []
    for dataset in args.datasets:
        if dataset == "ptb":
            reason = ptb_missing_reason(args)
            if reason is not None:
                print(reason, flush=True)
                notes.append(reason)
                continue
        data = load_data(dataset, args)
        datasets.append({"name": dataset, "description": data["description"]})
        print(f"{dataset}: {data['description']}", flush=True)
        for model in args.models or (list(KINDS) if args.quick else DEFAULT_MODELS[dataset]):
            if kind_of(model) in NAPKINXC_KINDS and importlib.util.find_spec("napkinxc") is None:
                note = f"{dataset} {model} skipped: napkinxc is not installed (pip install -e .[bench])"
                print(f"  {note}", flush=True)
                notes.append(note)
                continue
            cfg = settings_for(dataset, model, args)
            shown = "napkinXC defaults" if kind_of(model) in NAPKINXC_KINDS else json.dumps(cfg)
            print(f"  training {model} {shown} ...", flush=True)
            result = run_model_process(args.start_method, fit_and_score, dataset, model, cfg, data, opts)
            row = {"dataset": dataset, "model": model, **result}
            if "error" not in row:
                print(f"    top-1 {row['accuracy']:.4f} top-5 {row['top5']:.4f} PPL {row['perplexity']:.1f} "
                      f"{row['samples_per_s']:,.0f} samples/s ({row['train_s']:.1f} s) "
                      f"peak RSS {row['peak_rss_mib']:,.0f} MiB", flush=True)
            else:
                print(f"    failed: {row['error']}", flush=True)
            rows.append(row)
        del data
    if not datasets:
        notes.append("no data set available: nothing was run")
    peers = [r for r in rows if r.get("kind") in NAPKINXC_KINDS and "error" not in r]
    if peers:
        notes.append(f"napkinXC perplexity: every label's probability on the first {args.ppl_rows:,} test "
                     "rows (a full enumeration costs ~6 ms a row); PLT's label probabilities do not sum "
                     "to one and are renormalised. Its train samples/s count one pass over the data.")
    info = _cli.run_info(load_before, git)
    info["torch_threads"] = args.threads
    report = {
        "command": " ".join(["python -m benchmarks.bench_methods", *argv]),
        "args": {k: v for k, v in vars(args).items() if k != "set"} | {
            "set": [f"{d + ':' if d else ''}{m + '.' if m else ''}{k}={v}" for d, m, k, v in args.set]},
        "machine": info,
        "target": TARGET,
        "datasets": datasets,
        "results": rows,
        "notes": notes,
    }
    markdown = render_markdown(report)
    print("\n" + markdown)
    out = _cli.output_file(args.out)
    out.write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown)
    print(f"results written to {out} and {out.with_suffix('.md')}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
