"""Where the data sets are read from: the data home, as scikit-learn's ``get_data_home``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV_VAR", "find_shared_data", "get_data_home"]

DATA_ENV_VAR = "SKMHE_DATA"
_DEFAULT_HOME = "~/skmhe_data"


def get_data_home(data_home=None) -> Path:
    """The folder skmhe's loaders read data sets from.

    ``data_home`` when given; else ``$SKMHE_DATA`` when set and non-empty; else
    ``~/skmhe_data``. Data sets are read from there and never copied or written:
    unlike scikit-learn's, this function does not create the folder.

    Parameters
    ----------
    data_home : str or path-like, default=None
        An explicit folder (``~`` is expanded).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from skmhe.datasets import get_data_home
    >>> str(get_data_home("/data/xmc"))
    '/data/xmc'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV_VAR, "").strip() or _DEFAULT_HOME
    return Path(os.fspath(data_home)).expanduser()


def find_shared_data(name: str, data_home=None) -> Path | None:
    """The data set folder ``name`` under the data home, or None when it is absent.

    Parameters
    ----------
    name : str
        Sub-folder name, e.g. ``"ptb"`` or ``"bibtex"``.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    pathlib.Path or None
        ``get_data_home(data_home) / name`` when it is a folder.

    Examples
    --------
    >>> from skmhe.datasets import find_shared_data
    >>> path = find_shared_data("ptb")  # None where the data is not available
    """
    if not isinstance(name, str) or not name or Path(name).is_absolute():
        raise ValueError(f"name must be a non-empty relative folder name, got {name!r}")
    folder = get_data_home(data_home) / name
    return folder if folder.is_dir() else None


def missing_data_message(what: str, name: str, data_home=None) -> str:
    """The error message for a data set ``name`` absent from the data home."""
    return (
        f"{what} not found: {get_data_home(data_home) / name} is not a folder. Pass "
        f"data_home=..., set {DATA_ENV_VAR}, or place {name}/ in the data home"
    )
