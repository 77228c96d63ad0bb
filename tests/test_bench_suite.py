"""benchmarks/suite.py: the whole suite's ``--quick`` run, each part in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import suite  # noqa: E402


def test_part_commands_pass_quick_and_out(tmp_path):
    cmd = suite.part_command("methods", tmp_path, quick=True)
    assert cmd[1:] == ["-m", "benchmarks.bench_methods", "--quick", "--out", str(tmp_path / "methods.json")]
    assert suite.part_command("xmlc", tmp_path, quick=False)[-1] == str(tmp_path / "xmlc")  # a folder


def test_render_lists_every_part_and_its_markdown():
    text = suite.render([
        {"part": "methods", "status": "ok", "seconds": 1.5, "markdown": "# methods table"},
        {"part": "kernels", "status": "skipped", "reason": "no CUDA device"},
        {"part": "claims", "status": "failed", "seconds": 0.2, "markdown": None},
    ], quick=True)
    assert "| methods | ok | 1.5 |" in text and "# methods table" in text
    assert "| kernels | skipped (no CUDA device) |  |" in text
    assert "| claims | failed | 0.2 |" in text


#: parts the end-to-end run below covers: the suite's own machinery (a process per part, the
#: JSON and markdown it gathers); every part's ``--quick`` run is tested in its own module
#: (test_bench_methods, test_bench_scaling_claims, test_bench_xmlc, test_bench_scaleout,
#: test_bench_defaults, test_bench_calibration, test_bench_label_codes), so running all of them
#: again here would only double the suite's time
END_TO_END_PARTS = ("claims", "label_codes", "kernels")


def test_every_part_is_a_module_with_a_main():
    import importlib

    for part, (module, *_) in suite.PARTS.items():
        assert callable(importlib.import_module(module).main), part


def test_scale_part_runs_bench_xmlc_scale(tmp_path):
    """The scale benchmark is a part of its own (its --quick run is tested in test_bench_xmlc)."""
    command = suite.part_command("xmlc_scale", tmp_path, quick=True)
    assert command[1:] == [
        "-m", "benchmarks.bench_xmlc", "--scale", "--quick", "--out", str(tmp_path / "xmlc_scale")]
    assert suite.part_command("xmlc", tmp_path, quick=False)[1:] == [
        "-m", "benchmarks.bench_xmlc", "--out", str(tmp_path / "xmlc")]


def test_suite_quick_runs_its_parts(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.suite", "--quick", "--out", str(tmp_path),
                           "--parts", *END_TO_END_PARTS],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    report = json.loads((tmp_path / "suite.json").read_text())
    status = {r["part"]: r for r in report["results"]}
    assert set(status) == set(END_TO_END_PARTS)
    for part, r in status.items():
        if part == "kernels" and r["status"] == "skipped":
            assert "CUDA" in r["reason"]
            continue
        assert r["status"] == "ok", (part, r.get("output_tail"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for part in ("claims", "label_codes"):
        assert json.loads((tmp_path / f"{part}.json").read_text())  # each part wrote its results
    text = (tmp_path / "suite.md").read_text()
    assert all(f"| {part} |" in text for part in END_TO_END_PARTS)
