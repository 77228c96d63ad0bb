"""benchmarks/gpu_check.py: the CPU ``--quick`` run end to end, and the pure helpers of the GPU check."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _kernel_timing as kt  # noqa: E402
from benchmarks import gpu_check, gpu_report  # noqa: E402
from benchmarks.gpu_report import PART_NAMES, TARGETS  # noqa: E402

#: the quick run's budget here: the default 110 s scaled up, since the test machine may be loaded
QUICK_BUDGET_S = 300


# --------------------------------------------------------------------------- the --quick CPU run


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if torch.cuda.is_available():
        pytest.skip("the --quick CPU mode is checked on machines without CUDA")
    out = tmp_path_factory.mktemp("gpu_check")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--out", str(out), "--quick", "--budget-s", str(QUICK_BUDGET_S)],
        cwd=ROOT, capture_output=True, text=True, timeout=QUICK_BUDGET_S + 120, check=False,
    )
    return proc, out


def test_quick_run_writes_few_small_files_and_prints_the_summary_last(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["gpu_check.json", "gpu_check.log", "gpu_check.md"]
    assert all((out / f).stat().st_size < 200_000 for f in files)
    tail = proc.stdout.strip().splitlines()
    assert tail[-1].startswith("written:") and tail[-2].startswith("=" * 20)
    assert "targets:" in proc.stdout


def test_quick_run_json_has_every_part_with_reasons_and_finite_figures(quick_run):
    _, out = quick_run
    report = json.loads((out / "gpu_check.json").read_text())
    assert list(report["parts"]) == list(PART_NAMES)
    assert report["environment"]["device"].startswith("cpu") and report["environment"]["torch"]
    for name, part in report["parts"].items():
        assert part["status"] in ("ok", "skipped"), (name, part["reason"], part.get("log_tail"))
        if part["status"] == "skipped":
            assert part["reason"], name
        for check in part["checks"]:
            assert check["status"] == "ok" or check["detail"], (name, check)
    assert report["parts"]["speed"]["status"] == "skipped" and "CUDA" in report["parts"]["speed"]["reason"]
    assert list(gpu_report.non_finite(report)) == []
    fits = report["parts"]["end_to_end"]["figures"]["fits"]
    assert {(r["model"], r["device"]) for r in fits} == {(m, "cpu") for m in ("product", "cascade", "sampling",
                                                                                "multilabel")}
    assert all(r["samples_per_s"] > 0 for r in fits)
    assert report["parts"]["end_to_end"]["figures"]["pickle agreement"] == 1.0
    ddp = [c for c in report["parts"]["end_to_end"]["checks"] if c["name"].startswith("DDP")]
    assert ddp and ddp[0]["status"] == "skipped" and "needs 2" in ddp[0]["detail"]
    assert [t["name"] for t in report["targets"]] == list(TARGETS)
    assert all(t["status"] == "not evaluated" and t["reason"] for t in report["targets"])
    md = (out / "gpu_check.md").read_text()
    assert "## Targets" in md and "| product | ptb | cpu |" in md


# --------------------------------------------------------------------------- helpers


def test_bandwidth_formulas():
    assert kt.gbps(2e9, 1000.0) == pytest.approx(2.0)
    assert kt.floor_ms(4e9, 2000.0) == pytest.approx(2.0)
    assert kt.ce_bytes(10, (3, 4), 2) == 10 * 7 * 2 * 2 + 10 * 2 * 12
    assert kt.topk_bytes(10, (3, 4), 4, 5) == 10 * 7 * 4 + 10 * 5 * 12
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    torch.testing.assert_close(kt.outer_sum(x, (2, 3)), torch.tensor([[2.0, 3.0, 4.0, 3.0, 4.0, 5.0]]))
    joint = kt.outer_sum(x, (2, 3), log_softmax=True)
    assert joint.exp().sum().item() == pytest.approx(1.0)


def test_dense_rows_is_the_largest_power_of_two_that_fits():
    from benchmarks.gpu_parts_speed import dense_rows

    assert dense_rows(65536, 1_000_000, 3, 24 * 2**30) == 2048
    assert dense_rows(65536, 10, 3, 1e12) == 65536
    assert dense_rows(1000, 10, 1, 1e12) == 512
    assert dense_rows(65536, 10**12, 3, 1e9) == 0


def test_part_status_and_record(tmp_path):
    rec = gpu_report.PartRecord(tmp_path / "p.json", "speed")
    with pytest.raises(ValueError):
        rec.check("a", "skipped")  # a reason is required
    with pytest.raises(ValueError):
        rec.check("a", "maybe", "why")
    assert gpu_report.part_status([]) == ("skipped", "nothing ran")
    rec.check("a", "skipped", "no CUDA")
    assert gpu_report.part_status(rec.data["checks"]) == ("skipped", "no CUDA")
    rec.check("b", "ok", seconds=1.0)
    assert gpu_report.part_status(rec.data["checks"]) == ("ok", "skipped: a")
    rec.check("c", "failed", "boom")
    assert gpu_report.part_status(rec.data["checks"]) == ("failed", "failed: c")
    rec.figure("copy_bandwidth_gbps", 4000.0)
    assert json.loads((tmp_path / "p.json").read_text())["figures"]["copy_bandwidth_gbps"] == 4000.0


def _parts(bw_frac=0.9, x_dense=2000.0, x_floor=1.5, cuda_sps=5e5, cpu_sps=1e4) -> dict:
    return {
        "speed": {"figures": {
            "copy_bandwidth_gbps": 4000.0,
            "ce": [{"n": 65536, "factors": "1000x1000", "dtype": "float32", "bw_frac": bw_frac, "triton_ms": 0.3,
                    "x_ref": 9.0}],
            "topk": [{"n": 65536, "factors": "1000x1000", "dtype": "float32", "k": 10, "x_dense": x_dense,
                      "x_floor": x_floor}],
        }},
        "end_to_end": {"figures": {"fits": [
            {"model": "product", "device": "cuda", "samples_per_s": cuda_sps},
            {"model": "product", "device": "cpu", "samples_per_s": cpu_sps},
        ]}},
    }


def test_targets_met_missed_and_ratios():
    met = {t["name"]: t for t in gpu_report.evaluate_targets(_parts(), cuda=True)}
    assert all(t["status"] == "met" for t in met.values())
    assert met["ce_copy_bandwidth"]["ratio"] == pytest.approx(0.9 / 0.8)
    assert met["topk_vs_dense"]["ratio"] == pytest.approx(2.0)
    assert met["topk_vs_floor"]["ratio"] == pytest.approx(2.0 / 1.5)  # lower is better
    assert met["e2e_product"]["value"] == pytest.approx(50.0)
    missed = {t["name"]: t for t in gpu_report.evaluate_targets(
        _parts(bw_frac=0.4, x_dense=10.0, x_floor=3.0, cuda_sps=5e4), cuda=True)}
    assert all(t["status"] == "missed" and t["ratio"] < 1 for t in missed.values())
    assert missed["topk_vs_floor"]["ratio"] == pytest.approx(2.0 / 3.0)
    partial = gpu_report.evaluate_targets({"speed": {"figures": {"ce": []}}}, cuda=True)
    assert all(t["status"] == "not evaluated" and t["reason"] and t["ratio"] is None for t in partial)
    nan = gpu_report.evaluate_targets(_parts(bw_frac=math.nan), cuda=True)
    assert nan[0]["status"] == "not evaluated"
    assert all(t["status"] == "not evaluated" for t in gpu_report.evaluate_targets(_parts(), cuda=False))


def _report(parts: dict) -> dict:
    for name in PART_NAMES:
        parts.setdefault(name, {})
        parts[name].update(name=name, status="ok", reason="", seconds=12.0, limit_s=100.0, checks=[], notes=[])
        parts[name].setdefault("figures", {})
    parts["correctness"]["checks"] = [{"name": "pytest kernels", "status": "failed", "detail": "x\n3 failed",
                                       "seconds": 4.0}]
    return {"command": "python -m benchmarks.gpu_check --out o", "started": "2026-01-01T00:00:00+00:00",
            "quick": False, "budget_s": 400.0, "total_s": 250.0,
            "environment": {"device": "NVIDIA H200", "torch": "2.11", "triton": "3.6", "driver": "580"},
            "parts": parts, "targets": gpu_report.evaluate_targets(parts, cuda=True)}


def test_summary_fits_one_screen_and_names_targets():
    text = gpu_report.render_summary(_report(_parts()))
    lines = text.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 160
    assert "NVIDIA H200" in lines[1] and "driver 580" in lines[1]
    assert any(line.split()[:2] == ["correctness", "ok"] for line in lines)
    assert "MH-CE n=65,536 1000x1000 float32" in text and "90% of copy BW" in text
    assert "copy bandwidth 4,000 GB/s" in text
    assert sum("met," in line for line in lines) == 4


def test_markdown_has_tables_checks_and_targets():
    md = gpu_report.render_markdown(_report(_parts()))
    assert "| correctness | ok | 12.0 | 100 |  |" in md
    assert "- failed: pytest kernels (4.0 s): 3 failed" in md
    assert "| fused ms |" in md and "| 1000x1000 |" in md and "| product | n/a | cuda |" in md
    assert "**met**" in md


def test_non_finite_paths():
    assert list(gpu_report.non_finite({"a": [1.0, {"b": math.inf}], "c": math.nan, "d": "x"})) == ["a[1].b", "c"]


def test_part_limits_fit_the_budget():
    assert gpu_check.default_budget(cuda=True) <= 420  # 7 minutes on CUDA
    assert gpu_check.part_limit("speed", True, remaining=50.0) == 50.0
    assert gpu_check.part_limit("correctness", False, remaining=500.0, scale=2.0) == 2 * gpu_check.LIMITS["correctness"][1]


def test_pytest_summary_parsing():
    from benchmarks.gpu_parts_correctness import pytest_summary

    assert pytest_summary("3 failed, 40 passed, 2 skipped, 1 error in 9.1s") == {
        "failed": 3, "passed": 40, "skipped": 2, "error": 1}
    assert pytest_summary("") == {}


def test_run_pytest_records_a_passing_selection(tmp_path):
    from benchmarks.gpu_parts_correctness import run_pytest

    rec = gpu_report.PartRecord(tmp_path / "c.json", "correctness")
    env = dict(os.environ, SKMHE_HYPOTHESIS_MAX_EXAMPLES="2", PYTHONPATH=str(ROOT))
    run_pytest(rec, "pytest ops", ["tests/test_ops.py", "-k", "errors"], env, limit=240)
    check = rec.data["checks"][-1]
    assert check["status"] == "ok", check["detail"]
    assert rec.data["figures"]["pytest ops counts"]["passed"] >= 2


def test_speed_part_cpu_smoke_runs_the_torch_paths(tmp_path):
    """Never kernel speed: without CUDA only the torch paths run, and the triton columns are empty."""
    if torch.cuda.is_available():
        pytest.skip("the CPU smoke run is for machines without CUDA")
    from benchmarks import gpu_parts_speed

    out = tmp_path / "s.json"
    assert gpu_parts_speed.main(["--out", str(out), "--work", str(tmp_path), "--quick", "--limit-s", "120"]) == 0
    data = json.loads(out.read_text())
    assert [c["status"] for c in data["checks"]] == ["ok"] * 4
    rows = data["figures"]["ce"] + data["figures"]["topk"]
    assert all(r["triton_ms"] is None and r["ref_ms"] > 0 for r in rows)
    assert all(r.get("x_dense", 1.0) > 0 for r in rows) and "NOT kernel speed" in data["notes"][0]
    assert list(gpu_report.non_finite(data)) == []


def test_cuda_code_paths_run_through_the_interpreter(tmp_path):
    """The checks' Triton paths, tiny, on the CPU through Triton's interpreter (a fresh process, since
    triton fixes compiled vs interpreted at import): correctness only, no timing is looked at."""
    script = f"""
import os, json, torch
os.environ["TRITON_INTERPRET"] = "1"
torch.set_num_threads(1)
from benchmarks.gpu_report import Deadline, PartRecord
from benchmarks import gpu_parts_correctness as c, gpu_parts_speed as s
rec = PartRecord({str(tmp_path / "p.json")!r}, "correctness")
c.large_shapes(rec, Deadline(600), n=8, device="cpu", layouts=((7, 3),))
dl, cpu = Deadline(600), torch.device("cpu")
ce = s.ce_row((5, 4), "float32", 8, cpu, 1.0, dl, use_triton=True)
topk = s.topk_row((5, 4), "bfloat16", 8, cpu, 1.0, dl, use_triton=True)
print(json.dumps({{"checks": rec.data["checks"], "ce": ce, "topk": topk}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"} | {
                              "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [c["status"] for c in out["checks"]] == ["ok"] * 6, out["checks"]
    for row in (out["ce"], out["topk"]):
        assert row["triton_ms"] > 0 and row["x_dense"] > 0 and row["dense_n"] == 8
    assert list(gpu_report.non_finite(out)) == []


def test_generated_data_has_the_real_shapes(monkeypatch):
    import numpy as np

    import skmhe.datasets
    from benchmarks import gpu_parts_e2e as e2e

    monkeypatch.setattr(skmhe.datasets, "find_shared_data", lambda name: None)
    X, y, source = e2e.ptb_shaped(500, np.random.default_rng(0))
    assert X.shape == (500, 3 * e2e.V) and (X.sum(axis=1) == 3).all() and y.max() < e2e.V
    assert source.startswith("generated")
    X, Y, source = e2e.delicious_shaped(300, np.random.default_rng(0))
    assert X.shape == (300, 500) and Y.shape == (300, 983) and Y.dtype == bool and source.startswith("generated")
    assert 5 < Y.sum(axis=1).mean() <= 19
