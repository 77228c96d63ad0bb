"""benchmarks/bench_scaling.py and benchmarks/bench_claims.py: their pure helpers, the G-MHE
and rank-1 models, and a ``--quick`` run of each in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_claims as bc  # noqa: E402
from benchmarks import bench_scaling as bs  # noqa: E402
from benchmarks import claims_experiments as ce  # noqa: E402
from benchmarks import claims_models as cm  # noqa: E402
from skmhe import LabelCodec  # noqa: E402
from skmhe.ops import kronecker_log_proba, multi_head_cross_entropy  # noqa: E402

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


def _run(module: str, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", module, "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


# --------------------------------------------------------------------------- G-MHE and rank-1 models


def _outer_sum_log_softmax(logits: torch.Tensor, factors) -> torch.Tensor:
    """Reference by explicit enumeration of every code (head 0 most significant)."""
    parts = [p.log_softmax(dim=1) for p in torch.split(logits, list(factors), dim=1)]
    codec = LabelCodec(factors)
    digits = codec.encode(np.arange(codec.n_codes))
    cols = [sum(parts[h][:, int(dig[h])] for h in range(len(factors))) for dig in digits]
    return torch.stack(cols, dim=1)


@pytest.mark.parametrize("factors", [(3, 4), (2, 3, 4), (5,)])
def test_gmhe_logits_with_one_group_are_the_outer_sum_of_log_softmaxes(factors):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, sum(factors), generator=gen, dtype=torch.float64) * 3
    got = cm.gmhe_logits(logits[:, None, :], factors)
    torch.testing.assert_close(got, _outer_sum_log_softmax(logits, factors))
    torch.testing.assert_close(got, kronecker_log_proba(logits, factors))  # the library's MHP joint


def test_gmhe_is_the_mean_of_its_groups_product_distributions():
    factors, G = (3, 4), 3
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(5, G, sum(factors), generator=gen, dtype=torch.float64)
    got = cm.gmhe_logits(logits, factors)
    # exp(L) sums to G over the full space, so softmax(L) = exp(L) / G
    torch.testing.assert_close(torch.logsumexp(got, dim=1), torch.full((5,), math.log(G), dtype=torch.float64))
    for i in range(5):
        mix = sum(np.kron(torch.softmax(logits[i, g, :3], 0).numpy(), torch.softmax(logits[i, g, 3:], 0).numpy())
                  for g in range(G)) / G
        np.testing.assert_allclose(torch.softmax(got[i], 0).numpy(), mix, rtol=1e-10)
    # identical groups: the same distribution as one group
    same = logits[:, :1, :].expand(5, G, sum(factors))
    torch.testing.assert_close(torch.log_softmax(cm.gmhe_logits(same, factors), 1),
                               cm.gmhe_logits(logits[:, :1, :], factors))


def test_gmhe_logits_rejects_a_wrong_width_or_form():
    with pytest.raises(ValueError, match="head_logits"):
        cm.gmhe_logits(torch.zeros(2, 1, 6), (3, 4))
    with pytest.raises(ValueError, match="form"):
        cm.gmhe_logits(torch.zeros(2, 1, 7), (3, 4), form="nope")


def test_gmhe_logit_form_is_a_rank_g_logit_matrix():
    gen = torch.Generator().manual_seed(2)
    factors = (4, 6)
    o = torch.randn(3, 3, 10, generator=gen, dtype=torch.float64)
    one = cm.gmhe_logits(o[:, :1], factors, form="logit")
    for i in range(3):
        torch.testing.assert_close(one[i], torch.outer(o[i, 0, :4], o[i, 0, 4:]).flatten())
    for G in (1, 2, 3):
        logits = cm.gmhe_logits(o[:, :G], factors, form="logit").view(3, 4, 6)
        assert all(int(torch.linalg.matrix_rank(m)) == G for m in logits)
    # G = min(C_1, C_2) groups express any 4 x 6 logit matrix: o_g1 = e_g, o_g2 = row g
    target = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    full = torch.cat([torch.eye(4, dtype=torch.float64), target], dim=1)[None]
    torch.testing.assert_close(cm.gmhe_logits(full, factors, form="logit")[0], target.flatten())
    three = torch.randn(2, 2, 2 + 3 + 4, generator=gen, dtype=torch.float64)  # three heads
    want = sum(torch.einsum("i,j,k->ijk", t[:2], t[2:5], t[5:]).flatten() for t in three[0])
    torch.testing.assert_close(cm.gmhe_logits(three, (2, 3, 4), form="logit")[0], want)


def test_gmhe_net_with_one_group_trains_on_the_multi_head_cross_entropy():
    torch.manual_seed(0)
    net = cm.GMHENet(7, (4, 5), 1, (6,))
    x = torch.randn(9, 7)
    y = torch.randint(0, 20, (9,))
    head_logits = net.heads(net.backbone(x))
    codes = torch.from_numpy(LabelCodec((4, 5)).encode(y.numpy()))
    torch.testing.assert_close(torch.nn.functional.cross_entropy(net(x), y),
                               multi_head_cross_entropy(head_logits, codes, (4, 5)))
    padded = cm.GMHENet(7, (4, 5), 2, (6,), n_classes=17, form="logit")
    assert padded(x).shape == (9, 17)


def test_rank_one_without_bias_predicts_at_most_two_classes():
    torch.manual_seed(0)
    model = cm.RankOneClassifier(5, 12, (16,), bias=False)
    pred = cm.predict(model, np.random.default_rng(0).normal(size=(500, 5)) * 10)
    w = model.classifier.weight[:, 0].detach().numpy()
    assert set(np.unique(pred)) <= {int(np.argmax(w)), int(np.argmin(w))}
    with_bias = cm.RankOneClassifier(5, 12, (16,), bias=True)
    assert with_bias.classifier.bias is not None and model.classifier.bias is None


def test_frobenius_loss_and_training_loop():
    logits = torch.tensor([[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]])
    y = torch.tensor([2, 0])
    assert float(cm.frobenius_loss(logits, y)) == pytest.approx(((1 + 0 + 1) + (0.25 + 0.25 + 0.25)) / 2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0)
    torch.manual_seed(0)
    model = cm.DenseNet(4, 4, (16,))
    curve = cm.train(model, X, y, epochs=30, lr=1e-2)
    assert len(curve) == 30 and curve[-1] < 0.5 * curve[0]
    assert np.mean(cm.predict(model, X) == y) > 0.9


def test_label_permutation_and_digits():
    perm = ce.label_permutation(100, 3)
    assert sorted(perm.tolist()) == list(range(100)) and not np.array_equal(perm, np.arange(100))
    X_tr, X_te, y_tr, y_te = ce.digits_data(0)
    assert X_tr.shape[1] == 64 and set(np.unique(y_tr)) == set(range(10)) and 0 <= X_tr.min() <= X_tr.max() <= 1


def test_claim_checks_flag_failures():
    cfg = bc.config(bc.parse_args(["--seeds", "0"]))
    rows = [{"claim": "a", "kind": k, "loss": loss, "train_acc": acc, "n_predicted_train": n, "n_predicted_test": n}
            for k, loss, acc, n in [("rank1_bias", "ce", 0.95, 10), ("rank1_bias", "mse", 0.2, 3),
                                    ("rank1", "ce", 0.2, 3), ("rank1", "mse", 0.2, 2),
                                    ("full", "ce", 1.0, 10), ("full", "mse", 0.6, 10)]]
    a = bc.checks(rows, cfg)["a"]
    assert a["rank1_bias_ce_fits"] and a["rank1_bias_mse_fails"]
    assert a["no_bias_max_classes_predicted"] == 3 and not a["no_bias_at_most_two_classes"]
    assert not a["full_rank_fits_both"]
    rows = [{"claim": "d", "groups": g, "labels": "permuted", "size": "small", "form": f, "test_acc": acc}
            for f, g, acc in [("proba", 1, 0.2), ("proba", 2, 0.3), ("proba", 3, 0.25), ("proba", 4, 0.4),
                              ("dense", 0, 0.9)]]
    cfg["d_labels"] = ("permuted",)
    d_checks = bc.checks(rows, cfg)["d"]
    assert set(d_checks) == {"small/proba/permuted"}  # no rows for the other sizes and forms: not reported
    d = d_checks["small/proba/permuted"]
    assert not d["non_decreasing_in_G"] and d["approaches_dense"]
    assert d["gap_to_dense_G1"] == pytest.approx(0.7) and d["gap_to_dense_Gmax"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- scaling helpers


def test_adaptive_cutoffs_and_class_shares():
    assert bs.adaptive_cutoffs(10_000) == [1000, 5000]
    assert bs.adaptive_cutoffs(3, (0.1, 0.2, 0.5)) == [1, 2]
    with pytest.raises(ValueError):
        bs.adaptive_cutoffs(1)
    for targets in ("uniform", "zipf"):
        bounds = [0, 7, 100, 1234, 5000]
        assert sum(bs.class_share(a, b, 5000, targets) for a, b in zip(bounds, bounds[1:], strict=False)) == pytest.approx(1.0)
    assert bs.class_share(0, 500, 5000, "zipf") > 2 * bs.class_share(0, 500, 5000, "uniform")


def test_step_memory_estimates():
    n, d = 4096, 512
    dense = [bs.estimate_step_bytes("dense", n, d, C) for C in (10**4, 10**5, 10**6)]
    assert dense[0] < dense[1] < dense[2]
    assert dense[1] >= 3 * n * 10**5 * 4  # logits, their log-softmax and gradient
    assert dense[2] > 24e9  # out of memory on a 24 GB machine: must be skipped, not run
    assert bs.estimate_step_bytes("mhp2", n, d, 10**7) < 1e9  # 6,325 logits, whatever C
    cut = bs.adaptive_cutoffs(10**6)
    adaptive = bs.estimate_step_bytes("adaptive", n, d, 10**6, cutoffs=cut)
    assert bs.estimate_step_bytes("mhp2", n, d, 10**6) < adaptive < dense[2]
    zipf = bs.estimate_step_bytes("adaptive", n, d, 10**6, cutoffs=cut, targets="zipf")
    assert zipf < adaptive  # most rows stay in the head cluster
    factors = bs.product_factors(10**6, 2)
    assert bs.estimate_topk_bytes("kronecker", n, factors, 10) < bs.estimate_topk_bytes("dense", n, factors, 10)
    assert bs.estimate_topk_bytes("dense", n, factors, 10) >= n * 10**6 * 4
    assert bs.skipped_cell(49.2e9) == "skipped: needs 49.2 GB"
    with pytest.raises(ValueError):
        bs.estimate_step_bytes("nope", n, d, 10)


def test_time_calls_counts_warmup_and_repeats():
    calls = []
    times = bs.time_calls(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(times) == 4 and len(calls) == 6 and all(t >= 0 for t in times)


def test_run_child_isolates_and_reports_a_dead_child():
    assert bs.run_child(os.getpid) != os.getpid()
    dead = bs.run_child(os._exit, 3)
    assert "error" in dead and "exit code 3" in dead["error"]
    assert "ZeroDivisionError" in bs.run_child(divmod, 1, 0)["error"]
    assert bs.run_child(divmod, 7, 2, isolate=False) == (3, 1)


# --------------------------------------------------------------------------- --quick runs


def test_bench_scaling_quick(tmp_path):
    out = tmp_path / "scaling.json"
    _run("benchmarks.bench_scaling", out)
    report = json.loads(out.read_text())
    args, rows = report["args"], report["rows"]
    assert report["machine"]["torch"] == torch.__version__
    budget = args["memory_budget_gb"]
    steps = {(r["method"], r["n_classes"]): r for r in rows if r["part"] == "step"}
    assert set(steps) == {(m, C) for m in bs.STEP_METHODS for C in args["classes"]}
    for r in steps.values():
        assert "error" not in r, r
        if "skipped" in r:
            assert r["estimate_gb"] > budget and r["skipped"].startswith("skipped: needs") and "step_ms" not in r
        else:
            assert r["estimate_gb"] <= budget and r["step_ms"] > 0 and len(r["times_ms"]) == args["repeats"]
            assert r["params"] > 0
    assert "skipped" in steps[("dense", max(args["classes"]))]  # the quick budget skips it
    assert "step_ms" in steps[("dense", min(args["classes"]))]
    assert steps[("mhp2", max(args["classes"]))]["config"] == "x".join(map(str, bs.product_factors(10**4, 2)))

    topk = {(r["method"], r["n_classes"]): r for r in rows if r["part"] == "topk"}
    both = [C for C in args["classes"] if "topk_ms" in topk[("kronecker2", C)] and "topk_ms" in topk[("dense2", C)]]
    assert both, topk
    for C in both:  # the two routes agree on the best code
        assert topk[("kronecker2", C)]["top1_code"] == topk[("dense2", C)]["top1_code"]

    est = [r for r in rows if r["part"] == "estimator"]
    assert len(est) == 2 * len(args["classes"])
    for r in est:
        assert r["step_ms"] > 0 and math.isfinite(r["loss_last"])
        assert r["config"] == "x".join(map(str, bs.product_factors(r["n_classes"], int(r["method"][-1]))))
    fit = [r for r in rows if r["part"] == "fit"]
    assert len(fit) == 1 and fit[0]["completed"] and fit[0]["n_classes_seen"] == args["fit_classes"]
    assert fit[0]["fit_s"] > 0 and 0 <= fit[0]["train_top1"] <= fit[0]["train_top5"] <= 1
    assert report["summary"]["targets"]["fit"]["met"] is True

    md = out.with_suffix(".md").read_text()
    assert "skipped: needs" in md and "| C |" in md and report["machine"]["date"] in md
    if HAVE_MPL:
        assert report["plots"] and all(Path(p).stat().st_size > 1000 for p in report["plots"])


def test_bench_claims_quick(tmp_path):
    out = tmp_path / "claims.json"
    _run("benchmarks.bench_claims", out)
    report = json.loads(out.read_text())
    rows = report["rows"]
    by_claim = {c: [r for r in rows if r["claim"] == c] for c in bc.CLAIMS}
    assert len(by_claim["a"]) == 6  # 3 classifiers x 2 losses x 1 seed
    assert {r["loss"] for r in by_claim["a"]} == {"ce", "mse"}
    for r in by_claim["a"]:
        if r["kind"] == "rank1":  # a property of the model, whatever the training did
            assert r["n_predicted_train"] <= 2 and r["n_predicted_test"] <= 2
    sizes = report["config"]["sizes"]
    assert {(r["size"], r["factors"], r["labels"]) for r in by_claim["b"]} == {
        (s, f, lab) for s in sizes for f, lab in (("10x10", "aligned"), ("10x10", "permuted"), ("100", "aligned"))}
    assert {r["factors"] for r in by_claim["c"]} == {"10x10", "5x20", "4x5x5", "100"}
    assert {(r["form"], r["groups"]) for r in by_claim["d"]} == {
        *((f, g) for f in cm.FORMS for g in report["config"]["groups"]), ("dense", 0)}
    for r in rows:
        for key in ("train_acc", "test_acc"):
            assert 0.0 <= r[key] <= 1.0
    d_params = {r["groups"]: r["output_params"] for r in by_claim["d"]}
    assert d_params[2] == 2 * d_params[1] < d_params[0]
    assert set(report["checks"]) == set(bc.CLAIMS)
    md = out.with_suffix(".md").read_text()
    for title in ("## a.", "## b.", "## c.", "## d."):
        assert title in md
    if HAVE_MPL:
        assert len(report["plots"]) == 4 and all(Path(p).stat().st_size > 1000 for p in report["plots"])
