"""benchmarks/bench_scaleout.py: its launch commands in-process and one ``--quick`` run in a subprocess."""

from __future__ import annotations

import json
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_scaleout as bs  # noqa: E402
from benchmarks._common import run_with_timeout  # noqa: E402

TIMEOUT_S = 180  # the quick run takes about 25 s on 2 cores


def test_launch_command_uses_torchrun_for_several_processes(tmp_path):
    one = bs.launch_command(1, tmp_path / "s.json", 2, tmp_path / "r.json")
    two = bs.launch_command(2, tmp_path / "s.json", 1, tmp_path / "r.json")
    assert one[0] == sys.executable and "torch.distributed.run" not in one
    assert two[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in two
    assert "--master_addr=127.0.0.1" in two
    settings, result = str(tmp_path / "s.json"), str(tmp_path / "r.json")
    assert one[-4:] == ["--worker", settings, "2", result]
    assert two[-4:] == ["--worker", settings, "1", result]


def test_quick_run_writes_every_configuration(tmp_path):
    out = tmp_path / "scaleout.json"
    returncode, output = run_with_timeout(
        [sys.executable, "-m", "benchmarks.bench_scaleout", "--quick", "--out", str(out)], TIMEOUT_S, cwd=ROOT
    )
    assert returncode is not None, f"bench_scaleout --quick did not finish in {TIMEOUT_S} s"
    assert returncode == 0, output[-3000:]
    assert "| configuration |" in output
    report = json.loads(out.read_text())
    assert report["quick"] and report["settings"] == bs.QUICK
    rows = {row["config"]: row for row in report["rows"]}
    assert list(rows) == [name for name, _, _ in bs.CONFIGS]
    for name, processes, threads in bs.CONFIGS:
        row = rows[name]
        assert "error" not in row, row
        assert row["processes"] == processes and row["torch_threads"] == threads
        assert row["epochs"] == bs.QUICK["epochs"] and row["fit_s"] > 0 and row["rows_per_s"] > 0
    assert rows["1 process x 1 thread"]["speedup_vs_1x1"] == 1.0
    # the same algorithm in one and in two processes: the same predictions, up to rounding
    single, ddp = rows["1 process x 1 thread"], rows["2 processes x 1 thread"]
    assert abs(single["accuracy"] - ddp["accuracy"]) <= 0.01
