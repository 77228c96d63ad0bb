"""``load_ptb``: Penn Treebank next-word prediction (10,000 classes) from the shared data folder."""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._context_features import context_features
from ._data_home import find_shared_data, missing_data_message
from ._validation import check_int

__all__ = ["load_ptb"]

SPLITS = ("train", "valid", "test")
EOS = "<eos>"
UNK = "<unk>"


def _resolve_folder(path, data_home) -> Path:
    if path is None:
        found = find_shared_data("ptb", data_home)
        if found is None:
            raise FileNotFoundError(
                missing_data_message("Penn Treebank folder", "ptb", data_home)
                + " (or pass path=..., a folder holding ptb.{train,valid,test}.txt.gz)"
            )
        return found
    folder = Path(os.fspath(path)).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Penn Treebank folder not found: {folder}")
    return folder


def _split_file(folder: Path, split: str) -> Path:
    for name in (f"ptb.{split}.txt.gz", f"ptb.{split}.txt"):
        if (folder / name).is_file():
            return folder / name
    missing = folder / f"ptb.{split}.txt.gz"
    raise FileNotFoundError(f"Penn Treebank file not found: {missing} (nor ptb.{split}.txt)")


def _read_tokens(file: Path) -> list[str]:
    """Whitespace tokens of the file with ``<eos>`` appended to every line (sentence)."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8") as handle:
        text = handle.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line does not start another sentence
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def _vocabulary(tokens: list[str]) -> list[str]:
    """Distinct tokens by decreasing frequency, ties by the word itself."""
    counts = Counter(tokens)
    return sorted(counts, key=lambda word: (-counts[word], word))


def _encode(tokens: list[str], index: dict[str, int], split: str) -> np.ndarray:
    ids = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))
    unknown = ids < 0
    if unknown.any():
        if UNK not in index:
            example = tokens[int(np.flatnonzero(unknown)[0])]
            raise ValueError(
                f"the {split} split has words absent from the training vocabulary, e.g. {example!r}"
            )
        ids[unknown] = index[UNK]
    return ids


def _check_subset(subset) -> tuple[str, ...]:
    names = (subset,) if isinstance(subset, str) else subset
    try:
        names = tuple(names)
    except TypeError:
        raise ValueError(
            f"subset must be a split name or a sequence of them among {SPLITS}, got {subset!r}"
        ) from None
    if not names or any(name not in SPLITS for name in names):
        raise ValueError(f"subset must name one or more of {SPLITS}, got {subset!r}")
    return tuple(dict.fromkeys(names))


def load_ptb(
    path=None,
    *,
    context: int = 3,
    subset=("train", "test"),
    max_samples: int | None = None,
    data_home=None,
) -> Bunch:
    """Penn Treebank next-word prediction: 10,000 classes, previous words as sparse features.

    Reads Mikolov's word-level PTB (``ptb.{train,valid,test}.txt.gz``, one sentence
    per line, rare words already mapped to ``<unk>``). Each line gets an ``<eos>``
    token and the lines of a split are concatenated into one token stream, as in
    standard language-modelling setups. Every token of a split is a sample: its
    class is the word's id and its features are the ``context`` preceding tokens
    (``<eos>`` before the start of the split), one-hot encoded per position.

    The vocabulary is built from the training split, sorted by decreasing frequency
    (ties by the word), so class 0 is the most frequent word; it has exactly 10,000
    words including ``<unk>`` and ``<eos>``. Words of other splits missing from it
    (none in the standard files) map to ``<unk>``.

    Parameters
    ----------
    path : str, os.PathLike or None, default=None
        Folder holding the ``ptb.*.txt.gz`` files (plain ``ptb.*.txt`` also works).
        ``None`` reads ``ptb/`` in the data home (see ``data_home``).
    context : int, default=3
        Number of preceding tokens used as features, >= 1.
    subset : str or sequence of str, default=("train", "test")
        Splits to return, among ``"train"``, ``"valid"`` and ``"test"``. The
        training file is always read, for the vocabulary.
    max_samples : int or None, default=None
        Keep only the first ``max_samples`` tokens (samples) of each returned split;
        ``None`` keeps all (train 929,589; valid 73,760; test 82,430).
    data_home : str or path-like, default=None
        Used when ``path`` is None; see :func:`~skmhe.datasets.get_data_home`.

    Returns
    -------
    data : sklearn.utils.Bunch
        With, for each requested split ``s``, ``X_s`` (``scipy.sparse.csr_matrix``
        of shape ``(n_s, context * 10000)``, float32, exactly ``context`` ones per
        row at columns ``p * V + word_id`` where position ``p = context - 1`` is the
        immediately preceding word) and ``y_s`` (ndarray of int64 word ids); plus
        ``vocabulary`` (list of str, index = class id), ``context`` (int),
        ``path`` (pathlib.Path of the folder read) and ``DESCR`` (str).

    Raises
    ------
    FileNotFoundError
        If the folder or one of the needed files is absent; the message names the
        path(s) tried.
    ValueError
        If a parameter is invalid.

    Examples
    --------
    >>> from skmhe.datasets import load_ptb
    >>> ptb = load_ptb(context=2, max_samples=1000)  # doctest: +SKIP
    >>> ptb.X_train.shape, len(ptb.vocabulary)  # doctest: +SKIP
    ((1000, 20000), 10000)
    """
    context = check_int(context, "context", low=1)
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples", low=1)
    splits = _check_subset(subset)
    folder = _resolve_folder(path, data_home)
    files = {split: _split_file(folder, split) for split in SPLITS if split == "train" or split in splits}

    train_tokens = _read_tokens(files["train"])
    vocabulary = _vocabulary(train_tokens)
    if EOS not in vocabulary:  # only for an empty training file
        vocabulary.append(EOS)
    index = {word: i for i, word in enumerate(vocabulary)}
    bunch = Bunch(vocabulary=vocabulary, context=context, path=folder)
    for split in splits:
        tokens = train_tokens if split == "train" else _read_tokens(files[split])
        if max_samples is not None:
            tokens = tokens[:max_samples]
        ids = _encode(tokens, index, split)
        bunch[f"X_{split}"] = context_features(ids, context, len(vocabulary), index[EOS])
        bunch[f"y_{split}"] = ids
    bunch.DESCR = (
        f"Penn Treebank (Mikolov LM version) next-word prediction from {folder}: "
        f"{len(vocabulary)} classes (words by decreasing training frequency), features = one-hot of the "
        f"{context} previous tokens, column = position * {len(vocabulary)} + word id; "
        f"splits {', '.join(splits)}."
    )
    return bunch
