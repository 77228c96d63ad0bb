"""The README's quick start runs as printed (on a smaller problem) and MHE learns."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"
SIZE_LINE = re.compile(r"^n_samples, n_classes = [\d_]+, [\d_]+$", re.M)


def quick_start_code() -> str:
    """The first python block under the README's "## Quick start" heading."""
    section = README.read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's quick start"
    return match.group(1)


def test_quick_start_runs_and_mhe_is_far_above_chance(capsys):
    code = quick_start_code()
    assert len(SIZE_LINE.findall(code)) == 1, "the quick start must set its size on one line"
    assert code.count("MHEClassifier(") == 2  # the two models
    n_classes = 50
    small = SIZE_LINE.sub(f"n_samples, n_classes = 1_000, {n_classes}", code)
    small = small.replace("MHEClassifier(random_state", "MHEClassifier(max_iter=2, random_state")
    small = small.replace("MHEClassifier(factors", "MHEClassifier(max_iter=2, factors")
    assert small.count("max_iter=2") == 2  # a smaller problem and a 2-epoch budget: CI time
    namespace: dict = {}
    exec(compile(small, "README", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == ["MHE, defaults", "dense softmax"]
    mhe = namespace["models"]["MHE, defaults"]
    accuracy = mhe.score(namespace["X_test"], namespace["y_test"])
    assert accuracy > 10 / n_classes, f"held-out accuracy {accuracy:.3f}, chance {1 / n_classes}"
    assert f"held-out accuracy {accuracy:.3f}" in printed[0]
    labels = namespace["labels"]
    assert labels.shape == (5, 5) and np.isin(labels, mhe.classes_).all()
