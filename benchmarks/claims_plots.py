"""Plots of ``bench_claims`` (one PNG per claim), drawn with matplotlib when it is importable."""

from __future__ import annotations

from pathlib import Path

from ._cli import pyplot, save_figure
from .claims_experiments import LOW_RANK_MODELS, mean_acc


def plot(rows, cfg, stem: Path) -> list[str]:
    plt = pyplot()
    if plt is None:
        return []
    written = []

    def save(fig, tag):
        written.append(save_figure(plt, fig, stem.with_name(f"{stem.name}_{tag}.png")))

    def bars(ax, groups, series, title, ylabel="test accuracy"):
        width = 0.8 / len(series)
        for i, (label, values) in enumerate(series):
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(groups))]
            ax.bar(xs, [v if v is not None else 0 for v in values], width, label=label)
        ax.set_xticks(range(len(groups)), groups, fontsize=8)
        ax.set(ylim=(0, 1.2), ylabel=ylabel, title=title)
        ax.legend(fontsize=7, loc="upper center", ncol=len(series))
        ax.grid(axis="y", alpha=0.3)

    a = [r for r in rows if r["claim"] == "a"]
    if a:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        names = [n for n, _ in LOW_RANK_MODELS]
        bars(ax, names, [(loss, [mean_acc(a, "train_acc", kind=k, loss=key) for _, k in LOW_RANK_MODELS])
                         for loss, key in (("softmax CE", "ce"), ("MSE (Frobenius)", "mse"))],
             "a. rank-1 classifier: training accuracy", "train accuracy")
        save(fig, "a")
    b = [r for r in rows if r["claim"] == "b"]
    if b:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        sizes = list(cfg["sizes"])
        bars(ax, [f"{s} {list(cfg['sizes'][s])}" for s in sizes],
             [("MHE 10x10, aligned", [mean_acc(b, size=s, factors="10x10", labels="aligned") for s in sizes]),
              ("MHE 10x10, permuted", [mean_acc(b, size=s, factors="10x10", labels="permuted") for s in sizes]),
              ("dense (100,)", [mean_acc(b, size=s, factors="100") for s in sizes])],
             "b. aligned code vs random label permutation")
        save(fig, "b")
    c = [r for r in rows if r["claim"] == "c"]
    if c:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        fs = ["10x10", "5x20", "4x5x5", "100"]
        bars(ax, fs, [("aligned", [mean_acc(c, factors=f, labels="aligned") for f in fs]),
                      ("permuted", [mean_acc(c, factors=f, labels="permuted" if f != "100" else "aligned")
                                    for f in fs])],
             "c. choice of factors (digit pairs)")
        save(fig, "c")
    d = [r for r in rows if r["claim"] == "d"]
    if d:
        fig, axes = plt.subplots(1, len(cfg["d_labels"]), figsize=(5.5 * len(cfg["d_labels"]), 4.2), squeeze=False)
        for ax, labels in zip(axes[0], cfg["d_labels"], strict=True):
            for i, size in enumerate(cfg["d_sizes"]):
                hidden, color = list(cfg["sizes"][size]), f"C{i}"
                ax.axhline(mean_acc(d, groups=0, labels=labels, size=size), linestyle=":", color=color,
                           label=f"dense, hidden {hidden}")
                for form, style in zip(cfg["d_forms"], ("-", "--"), strict=False):
                    ax.plot(cfg["groups"], [mean_acc(d, groups=g, labels=labels, size=size, form=form)
                                            for g in cfg["groups"]],
                            marker="o", linestyle=style, color=color, label=f"G-MHE {form}, hidden {hidden}")
            ax.set(xlabel="groups G", ylabel="test accuracy", ylim=(0, 1.05), xticks=cfg["groups"],
                   title=f"d. G-MHE vs dense, {labels} labels")
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        save(fig, "d")
    return written
