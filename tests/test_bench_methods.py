"""benchmarks/bench_methods.py: its settings helpers in-process, and one ``--quick`` run in a
subprocess whose JSON rows are checked (the PTB part is skipped when the shared data is absent)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_methods as bm
from skmhe.datasets import find_shared_data

TORCH_KINDS = ["product", "cascade", "sampling", "dense", "adaptive"]
PEER_KINDS = ["plt", "hsm"]  # napkinXC, when installed (the bench extra)
HAVE_NAPKINXC = importlib.util.find_spec("napkinxc") is not None


# --------------------------------------------------------------------------- helpers


def test_kind_of():
    assert bm.kind_of("cascade") == "cascade"
    assert bm.kind_of("adaptive-ref") == "adaptive"
    assert bm.kind_of("sampling-batch-2") == "sampling"
    with pytest.raises(ValueError, match="kind"):
        bm.kind_of("mystery")


def test_parse_set_forms():
    assert bm.parse_set("lr=0.01") == (None, None, "lr", 0.01)
    assert bm.parse_set("ptb:cascade.embedding_size=16") == ("ptb", "cascade", "embedding_size", 16)
    assert bm.parse_set("digits:hidden=512,256") == ("digits", None, "hidden", (512, 256))
    assert bm.parse_set("factors=100x100")[3] == (100, 100)
    assert bm.parse_set("adaptive-ref.cutoffs=1000,5000")[1:] == ("adaptive-ref", "cutoffs", (1000, 5000))
    assert bm.parse_set("sampling.sampling_mode=batch")[3] == "batch"
    for bad in ("lr", "nope=1", "mars:lr=1", "epochs=two"):
        with pytest.raises(argparse.ArgumentTypeError):
            bm.parse_set(bad)


def test_settings_precedence():
    args = bm.parse_args(["--datasets", "digits", "--set", "lr=0.5", "--set", "ptb:cascade.lr=0.25",
                          "--set", "cascade.epochs=7"])
    digits = bm.settings_for("digits", "cascade", args)
    assert digits["lr"] == 0.5 and digits["epochs"] == 7
    assert bm.settings_for("digits", "product", args)["epochs"] == bm.DEFAULTS["digits"]["epochs"]
    ptb = bm.settings_for("ptb", "cascade", args)
    assert ptb["lr"] == 0.25 and ptb["epochs"] == 7
    # the model defaults sit between the data-set defaults and --set
    assert bm.settings_for("ptb", "adaptive-ref", args)["hidden"] == bm.MODEL_DEFAULTS["ptb"]["adaptive-ref"]["hidden"]


def _row(model, kind, top1, ppl, rate, hidden="256"):
    return {"dataset": "ptb", "model": model, "kind": kind, "accuracy": top1, "perplexity": ppl,
            "samples_per_s": rate, "samples_per_cpu_s": rate, "steady_samples_per_s": rate, "hidden": hidden}


def test_target_verdicts_use_the_reference_adaptive():
    rows = [
        _row("cascade", "cascade", 0.22, 160.0, 60_000),
        _row("product", "product", 0.20, 350.0, 90_000),
        _row("adaptive", "adaptive", 0.23, 150.0, 30_000),
        _row("adaptive-ref", "adaptive", 0.23, 170.0, 15_000, hidden="512"),
    ]
    lines = bm.target_verdicts(rows)
    assert len(lines) == 2  # the skmhe methods only
    cascade = next(line for line in lines if line.startswith("- cascade"))
    assert "MEETS" in cascade and "4.00x the train samples/s of adaptive-ref" in cascade
    assert "2.00x the train samples/s of adaptive " in cascade
    assert "misses" in next(line for line in lines if line.startswith("- product"))
    # without adaptive-ref, the verdict is against the same-backbone adaptive: 2x < 3x
    assert "misses" in bm.target_verdicts(rows[:3])[0]


# --------------------------------------------------------------------------- the --quick run


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_methods") / "methods.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_methods", "--quick", "--threads", "1", "--out", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), out, proc.stdout


def _check_rows(rows, dataset, n_classes, notes):
    assert [r["model"] for r in rows] == TORCH_KINDS + (PEER_KINDS if HAVE_NAPKINXC else [])
    if not HAVE_NAPKINXC:
        assert any(f"{dataset} plt skipped: napkinxc is not installed" in note for note in notes), notes
    for row in rows:
        assert "error" not in row, row
        assert row["dataset"] == dataset and row["kind"] == row["model"]
        assert 0.0 <= row["accuracy"] <= row["top5"] <= 1.0
        assert 1.0 < row["perplexity"] < 100 * n_classes and math.isfinite(row["perplexity"])
        for key in ("train_s", "samples_per_s", "samples_per_cpu_s", "peak_rss_mib"):
            assert row[key] > 0, (row["model"], key)
        if row["kind"] in PEER_KINDS:  # not a torch model: no output layer, no steady steps
            assert row["output_params"] is None and row["model_mib"] > 0 and row["perplexity_rows"] >= 1
            continue
        assert row["steady_samples_per_s"] > 0 and row["output_params"] > 0
        assert row["settings"]["epochs"] >= 1
    by = {r["model"]: r for r in rows}
    hidden = by["product"]["settings"]["hidden"][-1]
    # output layers: sum(factors) outputs for the product, n_classes for the dense softmax
    assert by["product"]["output_params"] == (hidden + 1) * sum(by["product"]["settings"]["factors"])
    assert by["dense"]["output_params"] == (hidden + 1) * n_classes
    assert by["sampling"]["output_params"] == by["dense"]["output_params"]  # the full classifier


def test_quick_digits_rows(quick_report):
    report, _, _ = quick_report
    rows = [r for r in report["results"] if r["dataset"] == "digits"]
    _check_rows(rows, "digits", 100, report["notes"])
    assert report["machine"]["torch_threads"] == 1
    assert "commit" in report["machine"]["git"]


def test_quick_ptb_rows_or_skip_reason(quick_report):
    report, _, stdout = quick_report
    rows = [r for r in report["results"] if r["dataset"] == "ptb"]
    if find_shared_data("ptb") is None:
        assert not rows
        assert any("PTB skipped" in note for note in report["notes"]), report["notes"]
        assert "PTB skipped" in stdout
        pytest.skip("PTB shared data absent: the benchmark skipped it with a reason, as checked")
    _check_rows(rows, "ptb", 10_000, report["notes"])
    assert any(line.startswith("- product") for line in bm.target_verdicts(rows))


def test_quick_markdown_written(quick_report):
    report, out, _ = quick_report
    md = out.with_suffix(".md").read_text()
    assert "## digits" in md and "| product |" in md
    assert ("## ptb" in md) == any(d["name"] == "ptb" for d in report["datasets"])


def test_missing_ptb_is_skipped_with_reason(tmp_path):
    args = bm.parse_args(["--datasets", "ptb", "--ptb", str(tmp_path / "nowhere")])
    assert "PTB skipped" in bm.ptb_missing_reason(args)
    (tmp_path / "ptb").mkdir()
    args = bm.parse_args(["--datasets", "ptb", "--ptb", str(tmp_path / "ptb")])
    assert "ptb.train.txt" in bm.ptb_missing_reason(args)
