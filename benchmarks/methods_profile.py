"""Steady-state throughput and a phase-by-phase profile of a training step, for
``bench_methods.py``."""

from __future__ import annotations

from ._common import markdown_table

PHASES = ("batch", "backbone", "head", "backward", "optimizer")


class Stepper:
    """Extra training steps on random batches, for the steady-state timing and the profile.

    They run after the evaluation, so the reported scores are unaffected.
    """

    def __init__(self, net, optimizer, X, targets, cfg: dict, sparse: bool, seed: int):
        import numpy as np

        self.net, self.optimizer, self.X, self.targets, self.sparse = net, optimizer, X, targets, sparse
        self.batch_size = min(cfg["batch_size"], X.shape[0])
        self.rng = np.random.default_rng(seed)

    def __call__(self, times: dict | None = None) -> None:
        import time

        import torch

        from skmhe._batching import rows_to_batch

        t0 = time.perf_counter()
        rows = self.rng.choice(self.X.shape[0], self.batch_size, replace=False)
        batch = rows_to_batch(self.X, rows, torch.device("cpu"), as_sparse=self.sparse)
        target = self.targets[torch.from_numpy(rows)]
        t1 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        features = self.net.backbone(batch)
        t2 = time.perf_counter()
        loss = self.net.head.loss(features, target)
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        self.optimizer.step()
        t5 = time.perf_counter()
        if times is not None:
            for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[name] += dt


def steady_throughput(step: Stepper, blocks: int, steps: int) -> dict:
    """Samples/s of the fastest of ``blocks`` blocks of ``steps`` training steps.

    On a shared machine the fastest block is the least disturbed one: a steadier figure
    for side-by-side ratios than the whole fit's wall time.
    """
    import time

    step()  # warm-up
    rates = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * step.batch_size / (time.perf_counter() - t0))
    return {"best": max(rates), "median": sorted(rates)[len(rates) // 2]}


def step_profile(step: Stepper, n_steps: int) -> dict:
    """Mean time of each phase of a training step, and torch.profiler's top operators.

    ``n_steps`` steps timed phase by phase, then ``n_steps`` more under ``torch.profiler``.
    """
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):  # warm-up
        step()
    times = dict.fromkeys(PHASES, 0.0)
    for _ in range(n_steps):
        step(times)
    phases_ms = {name: 1e3 * t / n_steps for name, t in times.items()}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n_steps):
            step()
    averages = prof.key_averages()
    events = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = [
        {
            "op": e.key,
            "self_ms_per_step": e.self_cpu_time_total / 1e3 / n_steps,
            "share": e.self_cpu_time_total / total,
            "calls_per_step": e.count / n_steps,
        }
        for e in events[:15]
    ]
    # optimizer steps as a whole (their self time excludes the ops they call)
    optim = [
        {"op": e.key, "ms_per_step": e.cpu_time_total / 1e3 / n_steps}
        for e in averages
        if e.key.startswith("Optimizer.step#")
    ]
    return {"phases_ms": phases_ms, "step_ms": sum(phases_ms.values()), "top_ops": top,
            "optimizer_ms": optim, "n_steps": n_steps, "batch_size": step.batch_size}


def profile_markdown(rows: list[dict]) -> list[str]:
    lines = []
    profiled = [r for r in rows if "profile" in r]
    if not profiled:
        return lines
    phase_rows = []
    for r in profiled:
        p = r["profile"]
        phase_rows.append({"model": f"{r['dataset']} {r['model']}", "step_ms": p["step_ms"],
                           **{f"ph_{k}": v for k, v in p["phases_ms"].items()},
                           "optim": "; ".join(f"{o['op'].split('#')[-1]} {o['ms_per_step']:.2f}"
                                              for o in p["optimizer_ms"])})
    cols = [("model", "model", ""), ("step_ms", "step ms", "{:.2f}")]
    cols += [(f"ph_{k}", f"{k} ms", "{:.2f}") for k in PHASES]
    cols += [("optim", "optimizer steps (profiler) ms", "")]
    lines += ["### Training step, phase by phase (mean over the profiled steps)", "",
              markdown_table(phase_rows, cols), ""]
    for r in profiled:
        p = r["profile"]
        lines += [(f"#### {r['dataset']} {r['model']}: top operators by self CPU time "
                  f"(batch {p['batch_size']}, {p['n_steps']} steps)"), ""]
        lines.append(markdown_table(p["top_ops"], [("op", "operator", ""),
                                                   ("self_ms_per_step", "self ms/step", "{:.3f}"),
                                                   ("share", "share", "{:.1%}"),
                                                   ("calls_per_step", "calls/step", "{:.1f}")]))
        lines.append("")
    return lines
