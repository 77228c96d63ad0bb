"""The report of ``bench_xmlc``: the metrics of each model's top-k and the markdown."""

from __future__ import annotations

from ._common import markdown_table

COLUMNS = [
    ("dataset", "data", ""),
    ("model", "model", ""),
    ("p@1", "P@1", "{:.4f}"),
    ("p@3", "P@3", "{:.4f}"),
    ("p@5", "P@5", "{:.4f}"),
    ("ndcg@5", "nDCG@5", "{:.4f}"),
    ("psp@5", "PSP@5", "{:.4f}"),
    ("prep_s", "prep s", "{:.2f}"),
    ("train_s", "train s", "{:.2f}"),
    ("predict_s", "predict s", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
    ("status", "status", ""),
]


METRIC_KEYS = ("p@1", "p@3", "p@5", "ndcg@5", "psp@5")


def evaluate(Y_test, topk, inv_propensity) -> dict:
    """P@1/3/5, nDCG@5 and PSP@5 of ranked predictions (``skmhe.metrics``)."""
    from skmhe.metrics import ndcg_at_k, precision_at_k, psp_at_k

    return {
        "p@1": precision_at_k(Y_test, topk, k=1),
        "p@3": precision_at_k(Y_test, topk, k=3),
        "p@5": precision_at_k(Y_test, topk, k=5),
        "ndcg@5": ndcg_at_k(Y_test, topk, k=5),
        "psp@5": psp_at_k(Y_test, topk, inv_propensity, k=5),
    }


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("scipy", "omikuji", "napkinxc", "skmhe"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _loads(values) -> str:
    return "n/a" if values is None else ", ".join(f"{v:.2f}" for v in values)


def render_markdown(report: dict) -> str:
    info, args = report["machine"], report["args"]
    versions = ", ".join(f"{k} {v}" for k, v in {**{k: info[k] for k in
                         ("python", "torch", "numpy", "scikit-learn")}, **report["versions"]}.items()
                         if v)
    lines = [
        "# bench_xmlc: extreme multi-label classification, skmhe vs peers",
        "",
        f"Date {info['date']}; machine {info['machine']}; {args['threads']} threads per model; "
        f"load average (1, 5, 15 min) {_loads(info['load_average']['before'])} before, "
        f"{_loads(info['load_average']['after'])} after (other work on the machine slows timings).",
        f"Versions: {versions}.",
        f"Command: `{report['command']}`",
        "",
        "Each model trained in its own process (peak RSS is its own, data included). Features "
        + ("raw" if args["no_normalize"] else "L2-normalised per row") + "; labels absent from "
        "the training split are masked for OvR. `prep s` (data conversion: omikuji's training "
        "file, napkinxc's label lists) is not part of `train s`; omikuji's `train s` includes "
        "parsing its file, its `predict s` is a per-row Python loop. PSP@5 uses "
        "`inverse_propensity(Y_train)`.",
        "",
    ]
    if report["datasets"]:
        lines.append("| data | train | test | features | labels | labels/row | absent from train |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for d in report["datasets"]:
            lines.append(f"| {d['name']} | {d['n_train']:,} | {d['n_test']:,} | {d['n_features']:,}"
                         f" | {d['n_labels']:,} | {d['labels_per_train_row']:.2f} | "
                         f"{d['labels_absent_from_train']} |")
        lines.append("")
    lines.append(markdown_table(report["results"], COLUMNS))
    for note in report["notes"]:
        lines.append(f"\n{note}")
    return "\n".join(lines) + "\n"
