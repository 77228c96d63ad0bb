"""The report of ``bench_scaling``: the summary against the targets, the markdown and the plots."""

from __future__ import annotations

from pathlib import Path

from ._cli import command_line, machine_line, pyplot, save_figure
from ._common import markdown_table
from .scaling_cases import GB, METHOD_NAMES, fmt_gb, fmt_ms

# --------------------------------------------------------------------------- report


def _find(rows, part, method, C):
    for r in rows:
        if r["part"] == part and r["method"] == method and r["n_classes"] == C:
            return r
    return None


def _time_cell(row, key):
    if row is None:
        return "n/a"
    if "skipped" in row:
        return row["skipped"]
    if "error" in row:
        return "error"
    return fmt_ms(row[key])


def _mem_cell(row):
    if row is None or "peak_rss_mib" not in row:
        return "n/a" if row is None or "skipped" not in row else "—"
    return f"{row['peak_rss_mib'] / 1024:.1f}"


def _ratio(num, den, key_num, key_den):
    if num is None or den is None or key_num not in num or key_den not in den:
        return None
    return num[key_num] / den[key_den]


def summarise(rows: list[dict], args) -> dict:
    """Ratios and the targets: >= 100x dense at 1e5, >= 100x adaptive at 1e6, the 1e7 fit."""
    out = {}
    for C in args.classes:
        mhp, est = _find(rows, "step", "mhp2", C), _find(rows, "estimator", "estimator2", C)
        for base in ("dense", "adaptive"):
            b = _find(rows, "step", base, C)
            out[f"{base}_over_mhp2_{C}"] = _ratio(b, mhp, "step_ms", "step_ms")
            out[f"{base}_over_estimator2_{C}"] = _ratio(b, est, "step_ms", "step_ms")
    targets = {}
    for base, C in (("dense", 10**5), ("adaptive", 10**6)):
        if C in args.classes:
            ratio = out.get(f"{base}_over_estimator2_{C}")
            targets[f"{base}_{C:.0e}"] = {"ratio": ratio, "target": 100, "met": None if ratio is None else ratio >= 100}
    fit = [r for r in rows if r["part"] == "fit"]
    if fit:
        targets["fit"] = {"n_classes": fit[0]["n_classes"], "met": bool(fit[0].get("completed"))}
    out["targets"] = targets
    return out


def report(rows: list[dict], summary: dict, args, info: dict) -> str:
    Cs = args.classes
    lines = [
        "# Scaling in C: output-layer step, top-k, estimator step, full fit",
        "",
        machine_line(info, args.threads),
        command_line("benchmarks.bench_scaling"),
        f"Batch {args.batch}, feature width d = {args.hidden}, {args.targets} targets, median of {args.repeats} "
        f"calls; memory budget {fmt_gb(args.memory_budget_gb * GB)} (cases estimated above it are skipped). "
        f"Load average (1 min) at start / end: {info['loadavg_start'][0]:.1f} / {info['loadavg_end'][0]:.1f}.",
        "",
    ]
    if any(r["part"] == "step" for r in rows):
        lines += ["## Output layer + loss, forward + backward (per step)", ""]
        head = [("C", "C", "")] + [(m, METHOD_NAMES[m], "") for m in args.methods]
        table = []
        for C in Cs:
            table.append({"C": f"{C:,}", **{m: _time_cell(_find(rows, "step", m, C), "step_ms") for m in args.methods}})
        lines += [markdown_table(table, head), "", "Peak RSS of the case's process, GB:", ""]
        table = [{"C": f"{C:,}", **{m: _mem_cell(_find(rows, "step", m, C)) for m in args.methods}} for C in Cs]
        lines += [markdown_table(table, head), ""]
        detail = [r for r in rows if r["part"] == "step"]
        lines += ["Configurations and estimates:", "", markdown_table(
            [{**r, "time": _time_cell(r, "step_ms"), "C": f"{r['n_classes']:,}"} for r in detail],
            [("name", "method", ""), ("C", "C", ""), ("config", "layer", ""), ("params", "params", "{:,}"),
             ("estimate_gb", "estimated GB", "{:.2f}"), ("step_mib", "measured MiB above start", "{:,.0f}"),
             ("time", "step", "")]), ""]
    if any(r["part"] == "topk" for r in rows):
        lines += [f"## Top-{min(args.k, min(Cs))} prediction from head logits (batch {args.batch})", ""]
        methods = [("kronecker2", "Kronecker top-k, 2 heads"), ("kronecker3", "Kronecker top-k, 3 heads"),
                   ("dense2", "dense outer sum + topk (2-head logits)")]
        table = []
        for C in Cs:
            row = {"C": f"{C:,}", **{m: _time_cell(_find(rows, "topk", m, C), "topk_ms") for m, _ in methods}}
            ratio = _ratio(_find(rows, "topk", "dense2", C), _find(rows, "topk", "kronecker2", C), "topk_ms", "topk_ms")
            row["x"] = f"{ratio:.0f}x" if ratio else "n/a"
            table.append(row)
        lines += [markdown_table(table, [("C", "C", "")] + [(m, h, "") for m, h in methods]
                                 + [("x", "dense / Kronecker (2 heads)", "")]), ""]
    if any(r["part"] == "estimator" for r in rows):
        lines += [f"## MHEClassifier's own training step (partial_fit on {args.batch} rows, {args.n_features} "
                  f"input features -> {args.hidden} ReLU -> product head, Adam)", ""]
        table = []
        for C in Cs:
            for heads in (2, 3):
                r = _find(rows, "estimator", f"estimator{heads}", C)
                if r is None:
                    continue
                d = _find(rows, "step", "dense", C)
                a = _find(rows, "step", "adaptive", C)
                rd, ra = _ratio(d, r, "step_ms", "step_ms"), _ratio(a, r, "step_ms", "step_ms")
                table.append({"C": f"{C:,}", "heads": heads, "factors": r.get("config", "n/a"),
                              "step": _time_cell(r, "step_ms"), "mem": _mem_cell(r),
                              "rd": f"{rd:,.0f}x" if rd else ("dense " + d["skipped"] if d and "skipped" in d else "n/a"),
                              "ra": f"{ra:,.0f}x" if ra else ("adaptive " + a["skipped"] if a and "skipped" in a else "n/a")})
        lines += [markdown_table(table, [("C", "C", ""), ("heads", "heads", ""), ("factors", "factors", ""),
                                         ("step", "step", ""), ("mem", "peak RSS GB", ""),
                                         ("rd", "dense output-layer step / this", ""),
                                         ("ra", "adaptive output-layer step / this", "")]), ""]
    fit = [r for r in rows if r["part"] == "fit"]
    if fit:
        r = fit[0]
        lines += [f"## Full MHEClassifier.fit at C = {r['n_classes']:,}", ""]
        if "error" in r:
            lines += [f"Failed: {r['error']}", ""]
        else:
            lines += [
                f"`make_extreme_classification(n_samples={r['n_samples']:,}, n_features={args.n_features}, "
                f"n_classes={r['n_classes']:,})` (every class once, generated in {r['data_s']:.0f} s), "
                f"`MHEClassifier(n_heads={args.fit_heads}, hidden_layer_sizes=({r['hidden']},), "
                f"batch_size={args.batch}, max_iter={args.fit_epochs})`:",
                "",
                markdown_table([r], [("n_classes_seen", "classes", "{:,}"), ("factors", "factors", ""),
                                     ("epochs", "epochs", ""), ("fit_s", "fit s", "{:.0f}"),
                                     ("samples_per_s", "samples/s", "{:,.0f}"),
                                     ("predict_topk_s", f"predict_topk s ({r['predict_rows']:,} rows)", "{:.1f}"),
                                     ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"), ("completed", "completed", "")]),
                "",
            ]
    lines += ["## Targets", ""]
    for name, t in summary["targets"].items():
        if name == "fit":
            lines.append(f"- full fit at C = {t['n_classes']:,} completes: {'met' if t['met'] else 'MISSED'}")
        else:
            ratio = "n/a" if t["ratio"] is None else f"{t['ratio']:,.0f}x"
            verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
            lines.append(f"- {name.split('_')[0]} output-layer step / estimator step (2 heads) at C = "
                         f"{name.split('_')[1]}: {ratio} (target >= {t['target']}x): {verdict}")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], args, stem: Path) -> list[str]:
    plt = pyplot()
    if plt is None:
        return []
    written = []
    panels = [("step", "step_ms", "output layer + loss, fwd + bwd, ms", list(args.methods)),
              ("estimator", "step_ms", "MHEClassifier step, ms", ["estimator2", "estimator3"]),
              ("topk", "topk_ms", f"top-{args.k}, ms", ["kronecker2", "kronecker3", "dense2"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for part, key, _label, methods in panels[:2]:
        for m in methods:
            mine = [r for r in rows if r["part"] == part and r["method"] == m]
            name = METHOD_NAMES.get(m, f"MHEClassifier, {m[-1]} heads")
            skipped = [f"{r['n_classes']:.0e}" for r in mine if "skipped" in r]
            if skipped:
                name += f" (skipped at C = {', '.join(skipped)}: memory)"
            style = "--" if part == "estimator" else "-"
            pts = [(r["n_classes"], r[key]) for r in mine if key in r]
            if pts:
                axes[0].plot(*zip(*pts, strict=True), marker="o", label=name, linestyle=style)
            pts = [(r["n_classes"], r["peak_rss_mib"] / 1024) for r in mine if "peak_rss_mib" in r]
            if pts:
                axes[1].plot(*zip(*pts, strict=True), marker="o", label=name, linestyle=style)
    axes[0].set(xscale="log", yscale="log", xlabel="classes C", ylabel="ms per step",
                title=f"per-step time, batch {args.batch}, d = {args.hidden}")
    axes[1].set(xscale="log", yscale="log", xlabel="classes C", ylabel="peak RSS, GB", title="peak memory")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    written.append(save_figure(plt, fig, stem.with_name(stem.name + "_step.png"), rect=(0, 0.13, 1, 1)))
    part, key, label, methods = panels[2]
    if any(r["part"] == part for r in rows):
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for m in methods:
            pts = [(r["n_classes"], r[key]) for r in rows if r["part"] == part and r["method"] == m and key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=next(r["name"] for r in rows if r["method"] == m))
        ax.set(xscale="log", yscale="log", xlabel="classes C", ylabel="ms", title=f"{label}, batch {args.batch}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(save_figure(plt, fig, stem.with_name(stem.name + "_topk.png")))
    return written
