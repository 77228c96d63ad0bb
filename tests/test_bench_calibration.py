"""The calibration benchmark: every method before and after temperature scaling, --quick end to end."""

import json

import pytest

from benchmarks import bench_calibration


def test_rows_of_a_quick_run(tmp_path):
    out = tmp_path / "calibration.json"
    code = bench_calibration.main(["--quick", "--methods", "product,dense", "--out", str(out)])
    report = json.loads(out.read_text())
    assert code == 0, report["rows"]
    rows = {(r["model"], r["calibration"]): r for r in report["rows"]}
    assert set(rows) == {(m, c) for m in ("product", "dense") for c in ("None", "temperature")}
    for method, n_softmaxes in (("product", 2), ("dense", 1)):
        raw, cal = rows[method, "None"], rows[method, "temperature"]
        assert raw["temperatures"] == " ".join(["1"] * n_softmaxes)
        assert len(cal["temperatures"].split()) == n_softmaxes and cal["temperatures"] != raw["temperatures"]
        assert cal["nll"] < raw["nll"]  # a short training is under-confident: the fitted objective
        assert raw["cpu_vs_uncalibrated"] == 1.0 and cal["cpu_vs_uncalibrated"] > 0
        for row in (raw, cal):
            assert 0.0 <= row["ece"] <= 1.0 and 0.0 < row["confidence"] <= 1.0
            assert 0.0 <= row["accuracy"] <= 1.0 and row["fit_cpu_s"] > 0
    assert rows["dense", "None"]["accuracy"] == pytest.approx(rows["dense", "temperature"]["accuracy"])
    markdown = out.with_suffix(".md").read_text()
    assert "Calibration" in markdown and "| digits | dense | temperature |" in markdown
