"""GPU check, part 1: correctness of the kernels and the ops on CUDA (see :mod:`benchmarks.gpu_check`).

Checks, each bounded by what is left of the part's limit:

* ``pytest kernels``: ``pytest -m triton`` of the kernel test modules, natively
  on CUDA (no interpreter), the hypothesis budget capped by
  ``$SKMHE_HYPOTHESIS_MAX_EXAMPLES``;
* ``pytest ops``: ``tests/test_ops.py`` with ``SKMHE_OPS_TEST_DEVICE=cuda``
  (``backend="auto"`` runs the kernels) against the float64 dense baseline;
* ``property loop``: a built-in random loop (numpy only, no pytest or
  hypothesis) of the fused cross-entropy (losses, gradient) and the Kronecker
  top-k against the float64 dense baseline, in fp32, bf16 and fp16;
* ``large shapes``: n = 65,536 rows, C_h up to 4,096, kernel against the
  torch reference path.

Without CUDA, only ``--quick`` runs anything: the property loop, tiny,
through Triton's CPU interpreter (the pytest checks are the ordinary test
suite there: ``bash run.sh test -m triton``).

Usage: ``python -m benchmarks.gpu_parts_correctness --out FILE --work DIR [--limit-s S] [--quick]``
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path

import torch

CUDA = torch.cuda.is_available()
if not CUDA:  # before triton is first imported: the kernels run interpreted on the CPU
    os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the shared float64 baseline (numpy and torch only)

from _baseline import dense_cross_entropy, dense_log_proba  # noqa: E402

from benchmarks._common import run_with_timeout  # noqa: E402
from benchmarks.gpu_report import Deadline, PartRecord, part_parser  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
#: gradient tolerance per stored dtype (half an ulp at 1 plus float32 error), as in the kernel tests
GRAD_ATOL = {torch.float32: 2e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}
KERNEL_TESTS = ["tests/test_kernels_cross_entropy.py", "tests/test_kernels_topk.py"]


def pytest_summary(output: str) -> dict:
    """Counts from pytest's last summary line (``"3 failed, 40 passed, 2 skipped in 9.1s"``)."""
    counts = {}
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed)", output):
        counts["error" if word.startswith("error") else word] = int(number)
    return counts


def run_pytest(rec: PartRecord, name: str, args: list[str], env: dict, limit: float) -> None:
    """Run pytest in a process of its own for at most ``limit`` seconds and record the result."""
    t0 = time.perf_counter()
    code, output = run_with_timeout([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                                    timeout=limit, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    counts = pytest_summary(output.strip().splitlines()[-1] if output.strip() else "")
    rec.figure(f"{name} counts", counts)
    if code is None:
        rec.check(name, "failed", f"timed out after {limit:.0f} s\n{output[-1500:]}", seconds)
    elif code == 0 and counts.get("passed", 0) > 0:
        rec.check(name, "ok", f"{counts}", seconds)
    else:
        rec.check(name, "failed", f"exit code {code}, {counts}\n{output[-1500:]}", seconds)


def _targets(rng, n: int, factors, device) -> torch.Tensor:
    return torch.tensor([[rng.integers(0, c) for c in factors] for _ in range(n)], device=device).reshape(n, -1)


def ce_case(rng, n: int, factors, dtype, device) -> str | None:
    """One fused cross-entropy case against float64: None when it matches, else what differed."""
    from skmhe.ops import multi_head_cross_entropy

    x = (torch.tensor(rng.standard_normal((n, sum(factors))) * 3, device=device)).to(dtype)
    t = _targets(rng, n, factors, device)
    xg = x.clone().requires_grad_(True)
    got = multi_head_cross_entropy(xg, t, factors, reduction="sum", backend="triton")
    got.backward()
    base = x.to(torch.float64).requires_grad_(True)
    want = dense_cross_entropy(base, t, factors, reduction="sum")
    want.backward()
    scale = 1.0 + float(x.float().abs().max())
    loss_err, loss_tol = abs(float(got.detach()) - float(want.detach())), 4e-6 * scale * len(factors) * n
    grad_err = float((xg.grad.double() - base.grad).abs().max())
    grad_tol = 4 * GRAD_ATOL[dtype] * len(factors)
    if not (loss_err <= loss_tol and grad_err <= grad_tol):
        return f"CE n={n} {factors} {dtype}: loss err {loss_err:.3g} (tol {loss_tol:.3g}), grad err {grad_err:.3g}"
    return None


def topk_case(rng, n: int, factors, dtype, device) -> str | None:
    """One Kronecker top-k case against float64: the joint log-probabilities at the returned codes."""
    from skmhe.ops import kronecker_topk

    n_codes = math.prod(factors)
    n_classes = int(rng.integers(1, n_codes + 1))
    k = int(rng.integers(1, min(n_classes, 20) + 1))
    x = (torch.tensor(rng.standard_normal((n, sum(factors))) * 3, device=device)).to(dtype)
    values, codes = kronecker_topk(x, factors, k, n_classes, backend="triton")
    dense = dense_log_proba(x, factors, n_classes)
    want = torch.topk(dense, k, dim=1).values
    at_codes = dense.gather(1, codes.long())
    tol = 4e-6 * (1.0 + len(factors) * float(x.float().abs().max()))
    err = max(float((values.double() - want).abs().max()), float((at_codes - want).abs().max()))
    if not (codes.max() < n_classes and err <= tol and len(set(codes[0].tolist())) == k):
        return f"top-k n={n} {factors} k={k} C={n_classes} {dtype}: err {err:.3g} (tol {tol:.3g})"
    return None


def property_loop(rec: PartRecord, deadline: Deadline, examples: int, device, max_width: int) -> None:
    """The built-in property loop: ``examples`` random cases per dtype and op, while time is left."""
    import numpy as np

    rng = np.random.default_rng(0)
    t0, ran, failures = time.perf_counter(), 0, []
    for i in range(examples):
        for dtype in DTYPES.values():
            if deadline.left() < 5:
                break
            h = int(rng.integers(1, 4))
            factors = tuple(int(v) for v in rng.integers(1, max(2, max_width // (4 * h)), size=h))
            if math.prod(factors) > 200_000:
                factors = factors[:1]
            n = int(rng.integers(1, 9))
            for case in (ce_case, topk_case):
                try:
                    err = case(rng, n, factors, dtype, device)
                except Exception as exc:  # noqa: BLE001 - a crash is a failed example
                    err = f"{case.__name__} {factors} {dtype}: {type(exc).__name__}: {exc}"
                ran += 1
                if err:
                    failures.append(err)
    rec.figure("property loop examples", ran)
    detail = f"{ran} examples, {len(failures)} failed" + ("".join("\n" + f for f in failures[:10]))
    if ran == 0:
        rec.check("property loop", "skipped", "no time left", time.perf_counter() - t0)
    else:
        rec.check("property loop", "failed" if failures else "ok", detail, time.perf_counter() - t0)


#: head layouts of the large-shape checks: C_h up to 4,096, two and three heads
LARGE_LAYOUTS = ((4096, 16), (1000, 1000), (216, 216, 215))


def large_shapes(rec: PartRecord, deadline: Deadline, n: int = 65536, device: str = "cuda",
                 layouts=LARGE_LAYOUTS) -> None:
    """n = 65,536 rows, C_h up to 4,096: the kernels against the torch reference path."""
    from skmhe.ops import kronecker_topk, multi_head_cross_entropy

    device = torch.device(device)
    for factors in layouts:
        for name, dtype in DTYPES.items():
            label = f"large CE n={n} {'x'.join(map(str, factors))} {name}"
            if deadline.left() < 10:
                rec.check(label, "skipped", "no time left")
                continue
            t0 = time.perf_counter()
            try:
                g = torch.Generator(device=device).manual_seed(0)
                x = (torch.randn(n, sum(factors), device=device, generator=g) * 3).to(dtype)
                t = torch.stack([torch.randint(0, c, (n,), device=device, generator=g) for c in factors], 1)
                out = {}
                for backend in ("triton", "torch"):
                    xg = x.clone().requires_grad_(True)
                    loss = multi_head_cross_entropy(xg, t, factors, reduction="none", backend=backend)
                    loss.sum().backward()
                    out[backend] = (loss.detach(), xg.grad)
                scale = 1.0 + float(x.float().abs().max())
                loss_err = float((out["triton"][0] - out["torch"][0]).abs().max())
                grad_err = float((out["triton"][1].float() - out["torch"][1].float()).abs().max())
                ok = loss_err <= 8e-6 * scale * len(factors) and grad_err <= 2 * GRAD_ATOL[dtype] * len(factors)
                rec.check(label, "ok" if ok else "failed", f"loss err {loss_err:.3g}, grad err {grad_err:.3g}",
                          time.perf_counter() - t0)
                k = 10
                label = f"large top-k n={n} {'x'.join(map(str, factors))} k={k} {name}"
                n_classes = math.prod(factors) - 7
                v1, c1 = kronecker_topk(x, factors, k, n_classes, backend="triton")
                v2, _ = kronecker_topk(x, factors, k, n_classes, backend="torch")
                err = float((v1 - v2).abs().max())
                ok = err <= 8e-6 * (1.0 + len(factors) * float(x.float().abs().max())) and c1.max() < n_classes
                rec.check(label, "ok" if ok else "failed", f"value err {err:.3g}", time.perf_counter() - t0)
            except Exception:  # noqa: BLE001 - record and go on
                rec.check(label, "failed", traceback.format_exc()[-1500:], time.perf_counter() - t0)
            if device.type == "cuda":
                torch.cuda.empty_cache()


def main(argv=None) -> int:
    args = part_parser(__doc__).parse_args(argv)
    rec, deadline = PartRecord(args.out, "correctness"), Deadline(args.limit_s)
    if not CUDA and not args.quick:
        rec.check("all", "skipped", "no CUDA device")
        return 0
    missing = [m for m in ("pytest", "hypothesis") if importlib.util.find_spec(m) is None]
    if not CUDA:
        why = "no CUDA: the native kernel and CUDA ops tests need a GPU (on the CPU: bash run.sh test -m triton)"
        rec.check("pytest kernels", "skipped", why)
        rec.check("pytest ops", "skipped", why)
    elif missing:
        why = f"{' and '.join(missing)} not installed here: the built-in property loop runs instead"
        rec.check("pytest kernels", "skipped", why)
        rec.check("pytest ops", "skipped", why)
    else:
        budget = os.environ.get("SKMHE_HYPOTHESIS_MAX_EXAMPLES", "8" if args.quick else "12")
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        env.update(SKMHE_HYPOTHESIS_MAX_EXAMPLES=budget, PYTHONPATH=str(ROOT))
        rec.note(f"pytest with SKMHE_HYPOTHESIS_MAX_EXAMPLES={budget}")
        run_pytest(rec, "pytest kernels", ["-m", "triton", *KERNEL_TESTS], env, max(10.0, 0.45 * deadline.left()))
        run_pytest(rec, "pytest ops", ["tests/test_ops.py"], dict(env, SKMHE_OPS_TEST_DEVICE="cuda"),
                   max(10.0, 0.35 * deadline.left()))
    device = torch.device("cuda" if CUDA else "cpu")
    if not CUDA:
        rec.note("property loop through Triton's CPU interpreter (tiny shapes)")
        torch.set_num_threads(1)
    property_loop(rec, Deadline(min(deadline.left(), 25 if CUDA else deadline.left()), margin=0),
                  examples=1 if args.quick else 30, device=device, max_width=60 if not CUDA else 4096)
    if CUDA:
        large_shapes(rec, deadline)
    else:
        rec.check("large shapes", "skipped", "no CUDA: n=65,536 rows do not fit the CPU interpreter's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
