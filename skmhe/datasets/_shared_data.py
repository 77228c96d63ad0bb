"""Locate the shared, read-only data folder (``../shared/data`` next to the project root)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV_VAR", "find_shared_data", "shared_data_candidates"]

DATA_ENV_VAR = "SKMHE_DATA"


def shared_data_candidates(name: str) -> list[Path]:
    """Folders tried, in order, by :func:`find_shared_data` for ``name``.

    Parameters
    ----------
    name : str
        Sub-folder of the data root, e.g. ``"ptb"``.

    Returns
    -------
    list of pathlib.Path
        ``$SKMHE_DATA/<name>`` (when the variable is set and non-empty), then
        ``<repo>/../shared/data/<name>`` where ``<repo>`` is the folder holding the
        ``skmhe`` package.
    """
    candidates = []
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        candidates.append(Path(env).expanduser() / name)
    repo = Path(__file__).resolve().parents[2]  # skmhe/datasets/_shared_data.py -> <repo>
    candidates.append(repo.parent / "shared" / "data" / name)
    return candidates


def find_shared_data(name: str) -> Path | None:
    """Path of the shared data folder ``name``, or None when it is absent.

    Looks in ``$SKMHE_DATA/<name>`` first, then in ``<repo>/../shared/data/<name>``
    (``<repo>`` being the parent of the ``skmhe`` package folder). Data sets are
    read from there and never copied into the project.

    Parameters
    ----------
    name : str
        Sub-folder name, e.g. ``"ptb"`` or ``"bibtex"``.

    Returns
    -------
    pathlib.Path or None
        The first existing folder among :func:`shared_data_candidates`.

    Examples
    --------
    >>> from skmhe.datasets import find_shared_data
    >>> path = find_shared_data("ptb")  # None where the data is not available
    """
    if not isinstance(name, str) or not name or Path(name).is_absolute():
        raise ValueError(f"name must be a non-empty relative folder name, got {name!r}")
    for candidate in shared_data_candidates(name):
        if candidate.is_dir():
            return candidate
    return None
