"""The paper's claims (Liang et al., TPAMI 2024), reproduced on small real data.

a. Low rank under cross-entropy vs the Frobenius norm: a learnable feature
   extractor ending in a rank-1 classifier plus bias fits the training data
   under softmax-CE but not under MSE (Frobenius fit of the one-hot label
   matrix); without the bias (``rank([W, B]) = 1``) at most two classes are
   ever predicted. Data: scikit-learn's 10-class digits. A full-rank
   classifier under both losses is the control.
b. Label preprocessing is unnecessary: on ``load_digit_pairs`` (label
   ``10 a + b``), the semantically aligned code (heads ``a`` and ``b``) vs the
   same (10, 10) code after a random permutation of the labels, at several
   backbone sizes; the gap should shrink as capacity grows.
c. Choice of factors: (10, 10) vs (5, 20) vs (4, 5, 5) vs one head (100,) on
   digit pairs, on aligned and permuted labels (the paper: fewer, balanced
   heads are best).
d. G-MHE, the rank-G form of the paper's Eq. 16 (sum over G groups of
   Kronecker products of the heads' softmaxes, softmax over the full space):
   G = 1..4 against the dense classifier, on digit pairs.

b and c train ``skmhe.MHEClassifier``; a and d train small torch modules
(``benchmarks/claims_models.py``) with the same Adam loop. Accuracies are
means over ``--seeds``. Writes JSON (``--out``), a markdown report (same stem,
``.md``) and PNG plots (same stem, ``_a.png`` ... ``_d.png``) when matplotlib
is importable.

Usage::

    python -m benchmarks.bench_claims [--quick] [--claims a b c d] [--out PATH]
"""

from __future__ import annotations

import json
import os
import sys
import time

from . import _cli
from . import claims_experiments as exp
from ._common import machine_info, markdown_table
from .claims_experiments import cell, mean_acc
from .claims_plots import plot

CLAIMS = ("a", "b", "c", "d")


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--claims", nargs="+", default=list(CLAIMS), choices=CLAIMS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=10_000, help="digit-pair training samples (b, c, d)")
    p.add_argument("--n-test", type=int, default=3_000)
    p.add_argument("--epochs", type=int, default=20, help="epochs for b, c, d")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--groups", type=int, nargs="+", default=[1, 2, 3, 4], help="G values for d")
    _cli.add_common_arguments(p, out="benchmarks/out/bench_claims.json", threads=min(2, os.cpu_count() or 1),
                              plots=True)
    return p.parse_args(argv)


def config(args) -> dict:
    cfg = {
        "quick": args.quick, "seeds": args.seeds, "n_train": args.n_train, "n_test": args.n_test,
        "epochs": args.epochs, "lr": args.lr, "groups": args.groups, "perm_seed": 12345,
        "a_hidden": (256, 256), "a_epochs": 100, "a_lr": 3e-3,
        "sizes": {"small": (32,), "medium": (256,), "large": (512, 512)}, "c_size": "large",
        "d_sizes": ("small", "medium"), "d_labels": ("permuted", "aligned"), "d_forms": ("proba", "logit"),
    }
    if args.quick:
        cfg.update(seeds=args.seeds[:1], n_train=600, n_test=200, epochs=2, groups=args.groups[:2],
                   a_hidden=(16,), a_epochs=3, sizes={"small": (8,), "large": (32,)}, d_sizes=("small",))
    return cfg


# --------------------------------------------------------------------------- aggregation


def checks(rows: list[dict], cfg: dict) -> dict:
    """Whether each claim is reproduced here (measured means; booleans plus the numbers behind them)."""
    out = {}
    a = [r for r in rows if r["claim"] == "a"]
    if a:
        ce_bias = mean_acc(a, "train_acc", kind="rank1_bias", loss="ce")
        mse_bias = mean_acc(a, "train_acc", kind="rank1_bias", loss="mse")
        no_bias = [r for r in a if r["kind"] == "rank1"]
        most = max(max(r["n_predicted_train"], r["n_predicted_test"]) for r in no_bias)
        out["a"] = {
            "rank1_bias_ce_train_acc": ce_bias, "rank1_bias_mse_train_acc": mse_bias,
            "rank1_bias_ce_fits": ce_bias >= 0.9, "rank1_bias_mse_fails": mse_bias <= 0.5,
            "no_bias_max_classes_predicted": most, "no_bias_at_most_two_classes": most <= 2,
            "full_rank_fits_both": all(
                (mean_acc(a, "train_acc", kind="full", loss=loss) or 0) >= 0.9 for loss in ("ce", "mse")),
        }
    b = [r for r in rows if r["claim"] == "b"]
    if b:
        gaps = {}
        for size in cfg["sizes"]:
            al = mean_acc(b, size=size, factors="10x10", labels="aligned")
            pe = mean_acc(b, size=size, factors="10x10", labels="permuted")
            gaps[size] = None if al is None or pe is None else al - pe
        sizes = [s for s in cfg["sizes"] if gaps[s] is not None]
        out["b"] = {"gap_aligned_minus_permuted": gaps,
                    "gap_shrinks_with_capacity": len(sizes) > 1 and gaps[sizes[-1]] < gaps[sizes[0]]}
    c = [r for r in rows if r["claim"] == "c"]
    if c:
        res = {}
        for labels in ("aligned", "permuted"):
            accs = {f: mean_acc(c, factors=f, labels=labels) for f in ("10x10", "5x20", "4x5x5")}
            if None in accs.values():
                continue
            res[labels] = {"acc": accs, "balanced_two_heads_best": accs["10x10"] >= max(accs["5x20"], accs["4x5x5"]),
                           "two_heads_beat_three": min(accs["10x10"], accs["5x20"]) > accs["4x5x5"]}
        res["one_head_acc"] = mean_acc(c, factors="100", labels="aligned")
        out["c"] = res
    d = [r for r in rows if r["claim"] == "d"]
    if d:
        res = {}
        for size, form, labels in ((s, f, lab) for s in cfg["d_sizes"] for f in cfg["d_forms"]
                                   for lab in cfg["d_labels"]):
            by_g = {g: mean_acc(d, groups=g, labels=labels, size=size, form=form) for g in cfg["groups"]}
            dense = mean_acc(d, groups=0, labels=labels, size=size)
            if dense is None or None in by_g.values():
                continue
            gs = sorted(by_g)
            res[f"{size}/{form}/{labels}"] = {
                "acc_by_G": by_g, "dense": dense,
                "non_decreasing_in_G": all(by_g[x] <= by_g[y] for x, y in zip(gs, gs[1:], strict=False)),
                "gap_to_dense_G1": dense - by_g[gs[0]], "gap_to_dense_Gmax": dense - by_g[gs[-1]],
                "approaches_dense": abs(dense - by_g[gs[-1]]) < abs(dense - by_g[gs[0]]),
            }
        out["d"] = res
    return out


# --------------------------------------------------------------------------- report


def _yes(v) -> str:
    return "yes" if v else "**no**"


def report(rows, chk, cfg, args, info) -> str:
    n_seeds = len(cfg["seeds"])
    lines = [
        "# The paper's claims on small real data",
        "",
        _cli.machine_line(info, args.threads),
        _cli.command_line("benchmarks.bench_claims"),
        f"Accuracies: mean ± sd over {n_seeds} seed(s) {cfg['seeds']}.",
        "",
    ]
    a = [r for r in rows if r["claim"] == "a"]
    if a:
        ex = a[0]
        lines += [
            f"## a. Rank-1 classifier under CE vs Frobenius (digits, {ex['n_classes']} classes, extractor "
            f"{ex['hidden']} ReLU -> scalar z, {ex['epochs']} epochs Adam lr {cfg['a_lr']})", ""]
        table = []
        for name, kind in exp.LOW_RANK_MODELS:
            for loss in ("ce", "mse"):
                sel = [r for r in a if r["kind"] == kind and r["loss"] == loss]
                table.append({"model": name, "loss": "softmax CE" if loss == "ce" else "MSE (Frobenius)",
                              "train": cell(a, "train_acc", kind=kind, loss=loss),
                              "test": cell(a, "test_acc", kind=kind, loss=loss),
                              "npred": "/".join(str(r["n_predicted_train"]) for r in sel)})
        lines += [markdown_table(table, [("model", "classifier", ""), ("loss", "loss", ""),
                                         ("train", "train acc", ""), ("test", "test acc", ""),
                                         ("npred", "classes predicted (train, per seed)", "")]), ""]
        k = chk["a"]
        lines += [f"- rank-1 + bias fits the training data under CE (train acc >= 0.9): {_yes(k['rank1_bias_ce_fits'])}",
                  f"- ... but not under MSE (train acc <= 0.5): {_yes(k['rank1_bias_mse_fails'])}",
                  f"- without the bias at most two classes are predicted (max seen: "
                  f"{k['no_bias_max_classes_predicted']}): {_yes(k['no_bias_at_most_two_classes'])}",
                  f"- control, full rank fits under both losses: {_yes(k['full_rank_fits_both'])}", ""]
    b = [r for r in rows if r["claim"] == "b"]
    if b:
        lines += [f"## b. Label preprocessing: aligned code vs random label permutation (digit pairs, "
                  f"{cfg['n_train']:,} train / {cfg['n_test']:,} test, MHEClassifier, {cfg['epochs']} epochs)", ""]
        table = []
        for size, hidden in cfg["sizes"].items():
            gap = chk["b"]["gap_aligned_minus_permuted"][size]
            table.append({"size": f"{size} {list(hidden)}",
                          "al": cell(b, size=size, factors="10x10", labels="aligned"),
                          "pe": cell(b, size=size, factors="10x10", labels="permuted"),
                          "de": cell(b, size=size, factors="100"),
                          "gap": "n/a" if gap is None else f"{gap * 100:+.1f} pts",
                          "tr": cell(b, "train_acc", size=size, factors="10x10", labels="permuted")})
        lines += [markdown_table(table, [("size", "hidden layers", ""), ("al", "MHE 10x10, aligned", ""),
                                         ("pe", "MHE 10x10, permuted", ""), ("de", "dense (100,)", ""),
                                         ("gap", "aligned - permuted", ""), ("tr", "permuted, train acc", "")]),
                  "", f"- the gap shrinks as capacity grows: {_yes(chk['b']['gap_shrinks_with_capacity'])}", ""]
    c = [r for r in rows if r["claim"] == "c"]
    if c:
        size = cfg["c_size"]
        lines += [f"## c. Choice of factors (digit pairs, hidden {list(cfg['sizes'][size])}, test accuracy)", ""]
        table = [{"f": f, "h": len(f.split("x")), "s": sum(map(int, f.split("x"))),
                  "al": cell(c, factors=f, labels="aligned"),
                  "pe": cell(c, factors=f, labels="permuted") if f != "100" else "(same as aligned)"}
                 for f in ("10x10", "5x20", "4x5x5", "100")]
        lines += [markdown_table(table, [("f", "factors", ""), ("h", "heads", ""), ("s", "outputs", ""),
                                         ("al", "aligned labels", ""), ("pe", "permuted labels", "")]), ""]
        for labels in ("aligned", "permuted"):
            if labels in chk["c"]:
                k = chk["c"][labels]
                lines.append(f"- {labels}: balanced two heads (10x10) best of the multi-head layouts: "
                             f"{_yes(k['balanced_two_heads_best'])}; two heads beat three: {_yes(k['two_heads_beat_three'])}")
        lines.append("")
    d = [r for r in rows if r["claim"] == "d"]
    if d:
        lines += [f"## d. G-MHE (G groups of 10x10 heads, softmax over the 100 classes) vs dense "
                  f"(digit pairs, {cfg['epochs']} epochs, test accuracy)", "",
                  "Form `proba`: exp(logits) = sum over groups of the Kronecker product of the heads' softmaxes "
                  "(G = 1 is the Multi-Head Product). Form `logit`: logits = sum over groups of the Kronecker "
                  "product of the heads' raw logits (a rank-G 10x10 logit matrix).", ""]
        cols = ([("size", "hidden layers", ""), ("form", "form", ""), ("labels", "labels", "")]
                + [(f"g{g}", f"G={g}", "") for g in cfg["groups"]] + [("dense", "dense", "")])
        table = []
        for size in cfg["d_sizes"]:
            hidden = list(cfg["sizes"][size])
            for form in cfg["d_forms"]:
                for labels in cfg["d_labels"]:
                    row = {"size": f"{size} {hidden}", "form": form, "labels": labels,
                           "dense": cell(d, groups=0, labels=labels, size=size)}
                    row.update({f"g{g}": cell(d, groups=g, labels=labels, size=size, form=form)
                                for g in cfg["groups"]})
                    table.append(row)
            params = {r["groups"]: r["output_params"] for r in d if r["size"] == size}
            table.append({"size": f"{size} {hidden}", "form": "", "labels": "output params",
                          **{f"g{g}": f"{params[g]:,}" for g in cfg["groups"]}, "dense": f"{params[0]:,}"})
        lines += [markdown_table(table, cols), ""]
        for key, k in chk["d"].items():
            lines.append(f"- {key}: accuracy non-decreasing in G: {_yes(k['non_decreasing_in_G'])}; gap to dense "
                         f"{k['gap_to_dense_G1'] * 100:+.1f} pts at G={min(cfg['groups'])} -> "
                         f"{k['gap_to_dense_Gmax'] * 100:+.1f} pts at G={max(cfg['groups'])}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cfg = config(args)
    info = machine_info()
    print(f"machine: {info['machine']}, torch {info['torch']}, {args.threads} threads; claims {args.claims}",
          flush=True)
    rows, timings, cache = [], {}, {}
    data = exp.digit_pairs(cfg) if set(args.claims) & {"b", "c", "d"} else None
    steps = {"a": lambda: exp.low_rank(cfg), "b": lambda: exp.preprocessing(cfg, data, cache),
             "c": lambda: exp.factors_study(cfg, data, cache), "d": lambda: exp.gmhe(cfg, data)}
    for claim in args.claims:
        t0 = time.perf_counter()
        new = steps[claim]()
        timings[claim] = time.perf_counter() - t0
        rows += new
        print(f"  claim {claim}: {len(new)} runs in {timings[claim]:.0f} s", flush=True)
    chk = checks(rows, cfg)
    text = report(rows, chk, cfg, args, info)
    out = _cli.output_file(args.out)
    plots = [] if args.no_plots else plot(rows, cfg, out.with_suffix(""))
    cfg_json = {k: (v if not isinstance(v, dict) else {s: list(h) for s, h in v.items()}) for k, v in cfg.items()}
    out.write_text(json.dumps({"args": vars(args), "argv": sys.argv[1:], "machine": info, "config": cfg_json,
                               "seconds": timings, "rows": rows, "checks": chk, "plots": plots}, indent=2))
    out.with_suffix(".md").write_text(text)
    print("\n" + text)
    print(f"results written to {out}, {out.with_suffix('.md')}" + "".join(f", {p}" for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
