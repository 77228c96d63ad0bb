"""The distribution ships every subpackage, and kernels/ only as skmhe.kernels."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "skmhe").rglob("__init__.py")
    }
    assert on_disk <= listed, f"subpackages missing from pyproject: {sorted(on_disk - listed)}"
    assert config["package-dir"]["skmhe.kernels"] == "kernels"
    assert "kernels" not in listed  # never a bare top-level module
