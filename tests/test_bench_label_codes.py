"""The label-codes benchmark: given against data-aware codes, --quick end to end."""

import json

from benchmarks import bench_label_codes


def test_rows_of_a_quick_run(tmp_path):
    out = tmp_path / "label_codes.json"
    code = bench_label_codes.main(
        ["--quick", "--parts", "synthetic", "cost", "--methods", "product", "--out", str(out)]
    )
    report = json.loads(out.read_text())
    assert code == 0, [r for r in report["single"] + report["cost"] if r["status"] != "ok"]
    orders = {r["label_order"]: r for r in report["single"]}
    assert set(orders) == {"given", "auto"}
    for row in orders.values():
        assert row["model"] == "product" and row["dataset"] == "synthetic"
        assert 0.0 <= row["accuracy"] <= row["top5"] <= 1.0 and row["perplexity"] >= 1.0
    kinds = {r["kind"]: r for r in report["cost"]}
    assert set(kinds) == {"hierarchical", "additive"}
    assert all(r["code_s"] > 0 and r["labels"] == 1_000 for r in kinds.values())
    markdown = out.with_suffix(".md").read_text()
    assert "Label codes" in markdown and "The code step alone" in markdown
