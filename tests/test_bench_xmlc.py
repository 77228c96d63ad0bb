"""benchmarks/bench_xmlc.py: its helpers, the skmhe and OvR code paths in-process, and a
``--quick`` run on the shared Mulan data (skipped when it is absent)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_xmlc as bx  # noqa: E402
from skmhe.datasets import find_shared_data, load_xc_repo  # noqa: E402
from skmhe.metrics import precision_at_k  # noqa: E402


def _random_problem(rng, n=40, n_features=25, n_labels=12, density=0.2):
    X = sp.random(n, n_features, density=density, format="csr", dtype=np.float32, random_state=rng)
    X.data = rng.uniform(1e-4, 10.0, size=X.nnz).astype(np.float32)  # many significant digits
    Y = sp.random(n, n_labels, density=0.25, format="csr", random_state=rng) != 0
    return sp.csr_matrix(X), sp.csr_matrix(Y, dtype=bool)


# --------------------------------------------------------------------------- XC-format writer


def test_write_xc_repo_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X, Y = _random_problem(rng)
    X, Y = X.tolil(), Y.tolil()
    X[3, :] = 0  # a row without features
    Y[5, :] = False  # a row without labels
    X[7, :] = 0  # and one without features whose labels stay
    Y[7, 2] = True
    X, Y = sp.csr_matrix(X, dtype=np.float32), sp.csr_matrix(Y, dtype=bool)
    X.eliminate_zeros()
    Y.eliminate_zeros()
    path = tmp_path / "train.txt"
    bx.write_xc_repo(path, X, Y)

    assert path.read_text().splitlines()[0] == f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}"
    X2, Y2 = load_xc_repo(path)
    assert X2.shape == X.shape and Y2.shape == Y.shape
    assert Y2.dtype == bool
    np.testing.assert_array_equal(X2.toarray(), X.toarray())  # float32 values exactly
    np.testing.assert_array_equal(Y2.toarray(), Y.toarray())


def test_write_xc_repo_rejects_mismatched_rows(tmp_path):
    X, Y = _random_problem(np.random.default_rng(1))
    with pytest.raises(ValueError, match="rows"):
        bx.write_xc_repo(tmp_path / "bad.txt", X, Y[:-1])


def test_label_lists_match_indicator():
    _, Y = _random_problem(np.random.default_rng(2))
    lists = bx.label_lists(Y)
    dense = Y.toarray()
    assert len(lists) == Y.shape[0]
    for i, labels in enumerate(lists):
        assert labels == np.flatnonzero(dense[i]).tolist()


# --------------------------------------------------------------------------- top-k helpers


def test_topk_from_scores_matches_full_sort():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(30, 17))
    labels, top = bx.topk_from_scores(scores, 5)
    expected = np.argsort(-scores, axis=1)[:, :5]
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(top, np.take_along_axis(scores, expected, axis=1))
    assert np.all(np.diff(top, axis=1) <= 0)


def test_topk_from_scores_masked_labels_never_outrank():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(25, 20))
    mask = np.ones(20, dtype=bool)
    mask[[0, 7, 13]] = False
    scores[:, ~mask] = 100.0  # the masked labels would be ranked first without the mask
    labels, top = bx.topk_from_scores(scores, 5, mask=mask)
    assert not np.isin(labels, np.flatnonzero(~mask)).any()
    reference = np.where(mask, scores, -np.inf)
    np.testing.assert_array_equal(labels, np.argsort(-reference, axis=1)[:, :5])
    assert np.all(np.isfinite(top))


def test_topk_from_scores_pads_when_fewer_labels_allowed_than_k():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.4, -1.0, 0.2, 0.0]])
    mask = np.array([True, False, True, False])
    labels, top = bx.topk_from_scores(scores, 3, mask=mask)
    np.testing.assert_array_equal(labels, [[2, 0, -1], [0, 2, -1]])
    assert np.isneginf(top[:, 2]).all()
    # -1 is "no prediction" for skmhe.metrics: a miss that still counts in the denominator
    y_true = np.array([[1, 0, 1, 0], [0, 0, 1, 0]])
    assert precision_at_k(y_true, labels, k=3) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_topk_from_scores_k_above_n_labels():
    scores = np.array([[3.0, 1.0, 2.0]])
    labels, _ = bx.topk_from_scores(scores, 5)
    np.testing.assert_array_equal(labels, [[0, 2, 1, -1, -1]])


def test_topk_from_scores_rejects_bad_mask():
    with pytest.raises(ValueError, match="mask"):
        bx.topk_from_scores(np.zeros((2, 4)), 2, mask=np.ones(3, dtype=bool))


def test_pad_topk():
    out = bx.pad_topk([[4, 1], [], [0, 1, 2, 3, 5, 6]], 5)
    np.testing.assert_array_equal(out, [[4, 1, -1, -1, -1], [-1] * 5, [0, 1, 2, 3, 5]])


# --------------------------------------------------------------------------- synthetic data


def test_make_keyword_multilabel_shapes_and_structure():
    n, n_labels = 600, 80
    X, Y, keywords = bx.make_keyword_multilabel(n, n_labels, keywords_per_label=3, max_labels=5,
                                                random_state=0, return_keywords=True)
    n_features = X.shape[1]
    assert X.shape == (n, n_features) and Y.shape == (n, n_labels)
    assert sp.isspmatrix_csr(X) and sp.isspmatrix_csr(Y)
    assert X.dtype == np.float32 and Y.dtype == bool
    assert keywords.shape == (n_labels, 3) and keywords.max() < n_features
    per_row = np.diff(Y.indptr)
    assert per_row.min() >= 1 and per_row.max() <= 5
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    for i in range(n):  # every row holds the keywords of each of its labels
        feats = set(X.indices[X.indptr[i]:X.indptr[i + 1]].tolist())
        for label in Y.indices[Y.indptr[i]:Y.indptr[i + 1]]:
            assert set(keywords[label].tolist()) <= feats


def test_make_keyword_multilabel_seeding_and_skew():
    a = bx.make_keyword_multilabel(300, 50, random_state=1)
    b = bx.make_keyword_multilabel(300, 50, random_state=1)
    c = bx.make_keyword_multilabel(300, 50, random_state=2)
    assert (a[0] != b[0]).nnz == 0 and (a[1] != b[1]).nnz == 0
    assert (a[1] != c[1]).nnz > 0
    _, flat = bx.make_keyword_multilabel(3000, 200, label_power=0.0, random_state=0)
    _, skewed = bx.make_keyword_multilabel(3000, 200, label_power=1.5, random_state=0)
    top = [np.sort(np.bincount(Y.indices, minlength=200))[::-1][:10].sum() / Y.nnz
           for Y in (flat, skewed)]
    assert top[1] > 2 * top[0]  # the power law concentrates mass on head labels


# --------------------------------------------------------------------------- registry, code paths


def test_resolve_models():
    assert bx.resolve_models(["omikuji-parabel, ovr_linearsvc"]) == ["omikuji Parabel",
                                                                      "OvR LinearSVC"]
    assert bx.resolve_models(["peers"]) == [m for m, s in bx.MODELS.items() if not s.skmhe]
    assert bx.resolve_models(["skmhe", "skmhe MHC"]) == ["skmhe MHC", "skmhe flat"]
    with pytest.raises(SystemExit):
        bx.resolve_models(["nope"])


def _tiny_split(seed=0, n_labels=15):
    X, Y = bx.make_keyword_multilabel(400, n_labels, label_power=0.5, random_state=seed)
    Y = Y.tolil()
    Y[:300, n_labels - 1] = False  # a label absent from the training split
    Y = sp.csr_matrix(Y, dtype=bool)
    Y.eliminate_zeros()
    return {"X_train": X[:300], "Y_train": Y[:300], "X_test": X[300:], "Y_test": Y[300:]}


def test_ovr_peer_masks_labels_absent_from_training():
    data = _tiny_split()
    absent = data["Y_train"].shape[1] - 1
    ctx = {"threads": 1, "seed": 0, "quick": True, "verbose": False, "skmhe_params": {}}
    out = bx._fit_ovr_linear_svc(data, ctx)
    topk = out["topk"]
    assert topk.shape == (100, bx.K)
    assert not (topk == absent).any()
    assert out["train_s"] >= 0 and out["predict_s"] >= 0
    metrics = bx.evaluate(data["Y_test"], topk, np.ones(data["Y_train"].shape[1]))
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["p@1"] > 0.5  # keywords make this an easy problem


class _StandInMultiLabel:
    """Minimal stand-in with the interface bench_xmlc expects of MHEMultiLabelClassifier."""

    last_params: dict = {}

    def __init__(self, **params):
        type(self).last_params = params

    def fit(self, X, Y):
        self.counts_ = np.bincount(sp.csr_matrix(Y).indices, minlength=Y.shape[1])
        return self

    def predict_topk(self, X, k=5):
        order = np.argsort(-self.counts_, kind="stable")[:k]
        return np.tile(order, (X.shape[0], 1)), np.tile(self.counts_[order], (X.shape[0], 1))


def test_skmhe_rows_code_path_with_stand_in(monkeypatch):
    import skmhe
    import torch

    monkeypatch.setattr(skmhe, "MHEMultiLabelClassifier", _StandInMultiLabel, raising=False)
    assert bx.skmhe_estimator_status() is None
    assert bx.unavailable("skmhe MHC", None) is None
    data = _tiny_split(seed=1)
    ctx = {"threads": torch.get_num_threads(), "seed": 0, "quick": True, "verbose": False,
           "skmhe_params": {"max_iter": 7}}
    for name in ("skmhe MHC", "skmhe flat"):
        spec = bx.MODELS[name]
        out = spec.fit_predict(data, ctx, **spec.options)
        params = _StandInMultiLabel.last_params
        assert params["random_state"] == 0 and params["max_iter"] == 7
        assert params["n_levels"] == (1 if name == "skmhe flat" else 2)  # MHC: the cascade, always
        assert out["topk"].shape == (100, bx.K)
        metrics = bx.evaluate(data["Y_test"], out["topk"], np.ones(data["Y_train"].shape[1]))
        assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_unavailable_statuses(monkeypatch):
    assert bx.unavailable("skmhe flat", "ImportError: nope")[0] == "not available"
    monkeypatch.setitem(bx.MODELS, "ghost", bx.ModelSpec(bx._fit_napkinxc_plt,
                                                         requires=("no_such_module_xyz",)))
    assert bx.unavailable("ghost", None)[0] == "not installed"


# --------------------------------------------------------------------------- the --quick run

PEER_MODULES = {"omikuji Parabel": "omikuji", "omikuji Bonsai": "omikuji",
                "napkinxc PLT": "napkinxc", "OvR LinearSVC": "sklearn"}


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    if find_shared_data("bibtex") is None:
        pytest.skip("../shared/data/bibtex is absent (set SKMHE_DATA to run the --quick benchmark)")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_xmlc", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "bench_xmlc.json").read_text())
    md = (out / "bench_xmlc.md").read_text()
    assert "| data | model | P@1 |" in md

    names = [d["name"] for d in report["datasets"]]
    assert "bibtex" in names
    expected = {name for name in bx.MULAN_NAMES if find_shared_data(name) is not None}
    assert set(names) == expected
    for d in report["datasets"]:
        assert d["n_train"] == bx.QUICK_TRAIN and d["n_test"] == bx.QUICK_TEST

    rows = {(r["dataset"], r["model"]): r for r in report["results"]}
    assert set(rows) == {(d, m) for d in names for m in bx.MODELS}
    skmhe_ok = bx.skmhe_estimator_status() is None
    for (dataset, model), row in rows.items():
        if model in PEER_MODULES:
            installed = importlib.util.find_spec(PEER_MODULES[model]) is not None
            want = "ok" if installed else "not installed"
        else:
            want = "ok" if skmhe_ok else "not available"
        assert row["status"] == want, (dataset, model, row)
        if want != "ok":
            continue
        for key in bx.METRIC_KEYS:
            assert 0.0 <= row[key] <= 1.0, (dataset, model, key, row[key])
        if model in PEER_MODULES:  # a sane ranking: the first guess is the best one
            assert row["p@1"] >= row["p@5"], (dataset, model, row)
        assert row["train_s"] >= 0 and row["predict_s"] >= 0
        assert 0 < row["peak_rss_mib"] < 16 * 1024


# --------------------------------------------------------------------------- --scale --quick


def test_scale_quick_run(tmp_path):
    """``bench_xmlc --scale --quick`` at one toy label count: skmhe's defaults and napkinXC PLT."""
    from benchmarks import xmlc_scale

    out = tmp_path / "scale"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_xmlc", "--scale", "--quick", "--threads", "1",
         "--scale-labels", "300", "--scale-models", "skmhe defaults", "napkinxc PLT", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "bench_xmlc_scale.json").read_text())
    (data,) = report["datasets"]
    assert data["n_labels"] == 300 and data["n_train"] == xmlc_scale.QUICK_ROWS
    assert 4 < data["labels_per_row"] < 6 and 80 < data["nnz_per_row"] < 120
    rows = {r["model"]: r for r in report["results"]}
    assert set(rows) == {"skmhe defaults", "napkinxc PLT"}  # omikuji: the slow Mulan --quick run
    for name, row in rows.items():
        installed = name == "skmhe defaults" or importlib.util.find_spec(PEER_MODULES[name]) is not None
        assert row["status"] == ("ok" if installed else "not installed"), row
        if installed:
            assert 0 <= row["p@1"] <= 1 and 0 <= row["p@5"] <= 1
            assert row["train_s"] > 0 and row["train_cpu_s"] > 0 and row["peak_rss_mib"] > 0
    assert "| labels | model | P@1 |" in (out / "bench_xmlc_scale.md").read_text()


def test_scale_steps_extrapolates_an_epoch_apart_from_the_set_up(tmp_path):
    """``--scale-steps``: the set-up (first batch) timed apart, an epoch from the next steps."""
    out = tmp_path / "steps"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_xmlc", "--scale", "--quick", "--threads", "1",
         "--scale-labels", "300", "--scale-models", "skmhe defaults", "--scale-steps", "3",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (row,) = json.loads((out / "bench_xmlc_scale.json").read_text())["results"]
    assert row["status"] == "ok" and row["extrapolated"] and row["steps"] == 3, row
    assert row["setup_cpu_s"] > 0 and row["step_cpu_s"] > 0 and "extrapolated" in row["epoch_s"]
    assert row["train_cpu_s"] >= row["setup_cpu_s"]
