"""A small, fast reader for numeric (sparse or dense) ARFF files, as used by Mulan.

Supports ``numeric``/``real``/``integer`` and nominal (``{...}``) attributes; nominal
values that parse as numbers (Mulan's ``{0,1}``) keep their numeric value, others become
their position in the nominal list. String/date attributes, missing values (``?``),
quoted data values and instance weights are not supported (ValueError).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import shlex
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["open_text", "read_arff"]

_OPENERS = {".xz": lzma.open, ".lzma": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
_NUMERIC = {"numeric", "real", "integer"}


def open_text(path):
    """Open a text file for reading, decompressing ``.xz``/``.lzma``/``.gz``/``.bz2``."""
    path = Path(os.fspath(path))
    opener = _OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding="utf-8", errors="replace")


def _parse_attribute(line: str, lineno: int) -> tuple[str, list[str] | None]:
    """Name and nominal values (None for numeric) of an ``@attribute`` line."""
    rest = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
    if rest[:1] in "'\"" and rest:
        quote = rest[0]
        end = rest.find(quote, 1)
        if end < 0:
            raise ValueError(f"line {lineno}: unterminated quoted attribute name")
        name, kind = rest[1:end], rest[end + 1 :].strip()
    else:
        parts = rest.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"line {lineno}: malformed @attribute line: {line!r}")
        name, kind = parts[0], parts[1].strip()
    if kind.startswith("{"):
        if not kind.endswith("}"):
            raise ValueError(f"line {lineno}: malformed nominal attribute {name!r}")
        lexer = shlex.shlex(kind[1:-1], posix=True)
        lexer.whitespace, lexer.whitespace_split = ",", True
        return name, [value.strip() for value in lexer]
    if kind.lower() not in _NUMERIC:
        raise ValueError(f"line {lineno}: attribute {name!r} has unsupported type {kind!r}")
    return name, None


def _values(tokens: list[str], columns: np.ndarray, nominal: list[list[str] | None]) -> np.ndarray:
    """Numeric values of data tokens; non-numeric nominal tokens become category positions."""
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(tokens))
    for i, (token, col) in enumerate(zip(tokens, columns.tolist())):
        token = token.strip().strip("'\"")
        try:
            out[i] = float(token)
        except ValueError:
            choices = nominal[col]
            if token == "?":
                raise ValueError("missing values ('?') are not supported") from None
            if choices is None or token not in choices:
                raise ValueError(f"invalid value {token!r} for attribute {col}") from None
            out[i] = choices.index(token)
    return out


def read_arff(path) -> tuple[sp.csr_matrix, list[str], str]:
    """Read an ARFF file into a CSR matrix.

    Parameters
    ----------
    path : str or path-like
        ``.arff`` file, optionally ``.xz``/``.gz``/``.bz2`` compressed.

    Returns
    -------
    data : scipy.sparse.csr_matrix of float64, shape (n_rows, n_attributes)
    attribute_names : list of str
    relation : str
        The ``@relation`` name.
    """
    names: list[str] = []
    nominal: list[list[str] | None] = []
    relation = ""
    with open_text(path) as handle:
        lineno = 0
        for line in handle:
            lineno += 1
            stripped = line.strip()
            if not stripped or stripped.startswith("%"):
                continue
            keyword = stripped.split(None, 1)[0].lower()
            if keyword == "@relation":
                relation = stripped.split(None, 1)[1].strip("'\" ") if " " in stripped else ""
            elif keyword == "@attribute":
                name, choices = _parse_attribute(stripped, lineno)
                names.append(name)
                nominal.append(choices)
            elif keyword == "@data":
                break
            else:
                raise ValueError(f"{path}: line {lineno}: unexpected header line {stripped[:60]!r}")
        else:
            raise ValueError(f"{path}: no @data section")
        rows = [ln.strip() for ln in handle]
    rows = [ln for ln in rows if ln and not ln.startswith("%")]
    n_attr = len(names)
    if not rows:
        return sp.csr_matrix((0, n_attr)), names, relation
    if rows[0].startswith("{"):
        matrix = _sparse_rows(rows, nominal)
    else:
        matrix = _dense_rows(rows, nominal)
    return matrix, names, relation


def _sparse_rows(rows: list[str], nominal: list) -> sp.csr_matrix:
    n_attr = len(nominal)
    bodies = []
    for i, row in enumerate(rows):
        if not (row.startswith("{") and row.endswith("}")):
            raise ValueError(f"data row {i}: expected a sparse row '{{index value, ...}}': {row[:60]!r}")
        bodies.append(row[1:-1])
    counts = np.array([b.count(",") + 1 if b.strip() else 0 for b in bodies], dtype=np.int64)
    tokens = " ".join(bodies).replace(",", " ").split()
    if len(tokens) != 2 * counts.sum():
        raise ValueError("malformed sparse data: every entry must be 'index value'")
    try:
        columns = np.array(tokens[0::2], dtype=np.int64)
    except ValueError:
        raise ValueError("malformed sparse data: attribute indices must be integers") from None
    if columns.size and (columns.min() < 0 or columns.max() >= n_attr):
        raise ValueError(f"sparse data has attribute indices outside [0, {n_attr})")
    values = _values(tokens[1::2], columns, nominal)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    matrix = sp.csr_matrix((values, columns, indptr), shape=(len(rows), n_attr))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def _dense_rows(rows: list[str], nominal: list) -> sp.csr_matrix:
    n_attr = len(nominal)
    tokens = [token for row in rows for token in re.split(r"\s*,\s*", row)]
    if len(tokens) != n_attr * len(rows):
        raise ValueError(f"dense data rows must each hold {n_attr} comma-separated values")
    columns = np.tile(np.arange(n_attr), len(rows))
    values = _values(tokens, columns, nominal).reshape(len(rows), n_attr)
    return sp.csr_matrix(values)
