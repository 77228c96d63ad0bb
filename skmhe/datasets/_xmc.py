"""Loaders for multi-label benchmark files: Mulan sparse ARFF and the Extreme
Classification Repository text format."""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file
from sklearn.utils import Bunch

from ._arff import open_text, read_arff
from ._data_home import DATA_ENV_VAR, find_shared_data, get_data_home, missing_data_message

__all__ = ["MULAN_DATASETS", "load_mulan", "load_xc_repo"]

MULAN_DATASETS = ("bibtex", "delicious", "corel5k")
_SUBSETS = ("train", "test")
_ARFF_SUFFIXES = (".arff", ".arff.xz", ".arff.gz", ".arff.bz2", ".arff.lzma")


def _mulan_folder(name_or_path, data_home) -> Path:
    if isinstance(name_or_path, str) and name_or_path.lower() in MULAN_DATASETS:
        name = name_or_path.lower()
        found = find_shared_data(name, data_home)
        if found is None:
            raise FileNotFoundError(
                missing_data_message(f"Mulan data set {name!r}", name, data_home)
                + " (or pass a folder path)"
            )
        return found
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ValueError(
            f"name_or_path must be one of {MULAN_DATASETS} or a folder path, got {name_or_path!r}"
        )
    folder = Path(os.fspath(name_or_path)).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Mulan folder not found: {folder} (known names: {', '.join(MULAN_DATASETS)})"
        )
    return folder


def _only(matches: list[Path], what: str, folder: Path) -> Path:
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise FileNotFoundError(f"expected exactly one {what} in {folder}, found: {found}")
    return matches[0]


def _arff_file(folder: Path, subset: str) -> Path:
    matches = []
    for path in sorted(folder.iterdir()):
        lower = path.name.lower()
        suffix = next((s for s in _ARFF_SUFFIXES if lower.endswith(s)), None)
        if suffix and path.is_file() and subset in re.split(r"[-_.]", lower[: -len(suffix)]):
            matches.append(path)
    return _only(matches, f"{subset} ARFF file (*-{subset}*.arff[.xz])", folder)


def _xml_label_names(path: Path) -> list[str]:
    """Label names listed by a Mulan ``.xml`` file (nested hierarchies flattened)."""
    root = ET.parse(path).getroot()
    names = [el.attrib["name"] for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label"]
    if not names:
        raise ValueError(f"{path}: no <label name=...> entries")
    return names


def load_mulan(name_or_path, *, subset=_SUBSETS, data_home=None) -> Bunch:
    """Load a Mulan multi-label data set (sparse ARFF + label ``.xml``).

    The folder holds ``<name>.xml`` (label names) and ``*-train*.arff[.xz]`` /
    ``*-test*.arff[.xz]``; the last ``L`` ARFF attributes are the labels, ``L`` being the
    number of labels in the xml (their names must match).

    Parameters
    ----------
    name_or_path : {"bibtex", "delicious", "corel5k"} or path-like
        A data set name (the folder of that name in the data home) or a folder.
    subset : str or tuple of str, default=("train", "test")
        Splits to load.
    data_home : str or path-like, default=None
        Where named data sets are found; see :func:`~skmhe.datasets.get_data_home`.

    Returns
    -------
    sklearn.utils.Bunch
        ``X_<split>``: CSR float32 features ``(n, n_features)``; ``Y_<split>``: CSR
        **bool** label indicator ``(n, n_labels)`` (bool, never int8, which overflows and
        permutes columns in scikit-learn with more than 128 labels); ``feature_names``,
        ``label_names``: lists of str; ``folder``: the folder read.

    Examples
    --------
    >>> data = load_mulan("bibtex", subset="test")  # doctest: +SKIP
    >>> data.X_test.shape, data.Y_test.shape  # doctest: +SKIP
    ((2515, 1836), (2515, 159))
    """
    subsets = (subset,) if isinstance(subset, str) else tuple(subset)
    if not subsets or any(s not in _SUBSETS for s in subsets) or len(set(subsets)) != len(subsets):
        raise ValueError(f"subset must be 'train', 'test' or a tuple of them, got {subset!r}")
    folder = _mulan_folder(name_or_path, data_home)
    xml_names = _xml_label_names(_only(sorted(folder.glob("*.xml")), "label .xml file", folder))
    n_labels = len(xml_names)
    result = Bunch(folder=folder)
    for split in subsets:
        path = _arff_file(folder, split)
        data, names, _ = read_arff(path)
        if len(names) <= n_labels:
            raise ValueError(f"{path.name}: {len(names)} attributes, not more than {n_labels} labels")
        feature_names, label_names = names[:-n_labels], names[-n_labels:]
        if set(label_names) != set(xml_names):
            raise ValueError(
                f"{path.name}: the last {n_labels} attributes are not the labels of the xml file"
            )
        if "feature_names" in result and result.feature_names != feature_names:
            raise ValueError(f"{path.name}: attributes differ from the other split's")
        result.feature_names, result.label_names = feature_names, label_names
        n_features = len(feature_names)
        result[f"X_{split}"] = sp.csr_matrix(data[:, :n_features], dtype=np.float32)
        result[f"Y_{split}"] = sp.csr_matrix(data[:, n_features:] != 0, dtype=bool)
    return result


def load_xc_repo(path, *, data_home=None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Load a data file in the Extreme Classification Repository text format.

    The first line is ``n_rows n_features n_labels``; each following line is
    ``l1,l2,... f:v f:v ...`` with 0-based label and feature indices (a row without labels
    starts with a space).

    Parameters
    ----------
    path : str or path-like
        The file, optionally ``.xz``/``.gz``/``.bz2`` compressed. A relative path that
        does not exist from the working directory is read from the data home.
    data_home : str or path-like, default=None
        See :func:`~skmhe.datasets.get_data_home`.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float32, shape (n_rows, n_features)
    Y : scipy.sparse.csr_matrix of bool, shape (n_rows, n_labels)
        Label indicator.

    Examples
    --------
    >>> X, Y = load_xc_repo("Bibtex/train.txt")  # doctest: +SKIP
    """
    given = Path(os.fspath(path)).expanduser()
    path = given
    if not path.is_absolute() and not path.exists():
        path = get_data_home(data_home) / path
    if not path.is_file():
        where = "" if given.is_absolute() else f" (nor {given} from the working directory)"
        raise FileNotFoundError(
            f"XC repository file not found: {path}{where}. Pass data_home=..., set {DATA_ENV_VAR}, "
            "or give an existing path"
        )
    with open_text(path) as handle:
        header = handle.readline().split()
        body = handle.read()
    try:
        n_rows, n_features, n_labels = (int(v) for v in header)
    except ValueError:
        raise ValueError(
            f"{path}: first line must be 'n_rows n_features n_labels', got {' '.join(header)!r}"
        ) from None
    if min(n_rows, n_features, n_labels) < 0:
        raise ValueError(f"{path}: negative size in header {header}")
    if n_rows == 0:
        return sp.csr_matrix((0, n_features), dtype=np.float32), sp.csr_matrix((0, n_labels), dtype=bool)
    try:
        X, labels = load_svmlight_file(
            io.BytesIO(body.encode("utf-8")), n_features=n_features, dtype=np.float32,
            multilabel=True, zero_based=True,
        )
    except ValueError as err:
        raise ValueError(f"{path}: malformed data: {err}") from None
    if X.shape[0] != n_rows:
        raise ValueError(f"{path}: header announces {n_rows} rows, found {X.shape[0]}")
    counts = np.fromiter((len(row) for row in labels), dtype=np.int64, count=len(labels))
    cols = np.fromiter((lab for row in labels for lab in row), dtype=np.float64, count=counts.sum())
    if cols.size and (np.any(cols != np.round(cols)) or cols.min() < 0 or cols.max() >= n_labels):
        raise ValueError(f"{path}: labels must be integers in [0, {n_labels})")
    indptr = np.concatenate([[0], np.cumsum(counts)])
    Y = sp.csr_matrix((np.ones(cols.size, dtype=bool), cols.astype(np.int64), indptr),
                      shape=(n_rows, n_labels))
    Y.sum_duplicates()
    return sp.csr_matrix(X, dtype=np.float32), Y
