"""The defaults benchmark: every estimator with its defaults beside the peers, --quick end to end."""

import importlib.util
import json

import pytest

from benchmarks import bench_defaults


def test_rows_of_a_quick_run(tmp_path):
    out = tmp_path / "defaults.json"
    code = bench_defaults.main(["--quick", "--datasets", "corel5k,digits", "--out", str(out)])
    report = json.loads(out.read_text())
    assert code == 0, [r for r in report["multilabel"] + report["single"] if r["status"] != "ok"]
    single = {r["model"]: r for r in report["single"]}
    default = next(r for name, r in single.items() if name.startswith("MHEClassifier()"))
    assert default["method"] == "cascade"  # the documented default
    assert set(single) >= {"method='product'", "method='sampling'", "dense softmax (factors=(C,))",
                           "adaptive softmax"}
    dense = single["dense softmax (factors=(C,))"]
    assert dense["vs_dense"] == pytest.approx(1.0)
    for row in single.values():
        assert 0.0 <= row["accuracy"] <= row["top5"] <= 1.0 and row["perplexity"] >= 1.0
    large = report["large"][0]
    assert large["status"] == "ok" and 2 <= large["epochs"] <= 10 and large["accuracy"] > 0.0
    if report["multilabel"]:  # corel5k is in the shared data folder
        ml = {r["model"]: r for r in report["multilabel"]}
        assert 0.0 < ml["skmhe MHEMultiLabelClassifier()"]["p@1"] <= 1.0
        if importlib.util.find_spec("omikuji") is not None:
            assert ml["omikuji Parabel"]["status"] == "ok"
            ratios = [r["vs_fastest_peer"] for name, r in ml.items() if name in bench_defaults.PEERS]
            assert min(ratios) == 1.0 and ml["skmhe MHEMultiLabelClassifier()"]["vs_fastest_peer"] > 0
    else:
        assert any("corel5k" in note for note in report["skipped"])
    markdown = out.with_suffix(".md").read_text()
    assert "Defaults only" in markdown and "MHEClassifier()" in markdown
