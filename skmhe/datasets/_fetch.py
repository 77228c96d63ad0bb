"""``fetch_xc``: download a known data set into the data home once, verified, then load it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sklearn.utils import Bunch

from ._data_home import get_data_home
from ._download import RemoteFile, fetch_file
from ._ptb import load_ptb
from ._xmc import load_mulan

__all__ = ["MIRROR_ENV_VAR", "XC_DATASETS", "RemoteDataset", "fetch_xc"]

#: a mirror laid out as a data home (``<mirror>/<folder>/<filename>``), used instead of the originals
MIRROR_ENV_VAR = "SKMHE_DATA_MIRROR"
_COMPRESSED = (".xz", ".gz", ".bz2", ".lzma")  # a cached copy may be re-compressed (as in ../shared/data)


@dataclass(frozen=True)
class RemoteDataset:
    """A data set :func:`fetch_xc` knows: its folder in the data home, files and loader.

    Attributes
    ----------
    folder : str
        Sub-folder of the data home (the one the ``load_*`` functions read).
    files : tuple of RemoteFile
    loader : callable or None
        ``loader(folder) -> Bunch``; None returns the files' paths only.
    source : str
        Where the files come from.
    """

    folder: str
    files: tuple[RemoteFile, ...]
    loader: Callable[[Path], Bunch] | None
    source: str


def _mulan(folder: str, stems: tuple[str, str, str], digests: tuple[str, str, str]) -> RemoteDataset:
    base = ("https://raw.githubusercontent.com/tsoumakas/mulan/"
            f"43f6389095ad71984264db4387a8074b22bc7d4a/data/multi-label/{folder}/")
    files = tuple(RemoteFile(stem, base + stem, digest) for stem, digest in zip(stems, digests))
    return RemoteDataset(folder, files, load_mulan, "Mulan (GitHub tsoumakas/mulan, pinned commit)")


def _xc_repo(folder: str, archive: str, drive_id: str) -> RemoteDataset:
    url = f"https://drive.google.com/uc?export=download&id={drive_id}"
    # The repository publishes no checksums and none has been verified here: never invented.
    return RemoteDataset(folder, (RemoteFile(archive, url, None),), None,
                         "Extreme Classification Repository (manikvarma.org/downloads/XC), Google Drive")


_PTB = ("https://raw.githubusercontent.com/Lasagne/Recipes/"
        "d616658de38e69f5036b236b6acbaf6e465ec9bd/examples/penntree/")

#: name -> RemoteDataset. sha256 digests are those of the files in ../shared/data (SOURCE.md),
#: byte-identical to the originals at the pinned commits; None where no digest is known.
XC_DATASETS: dict[str, RemoteDataset] = {
    "bibtex": _mulan(
        "bibtex", ("bibtex.xml", "bibtex-train.arff", "bibtex-test.arff"),
        ("08fe20013c1e75dcf1888c185f5187c95e76495b8518ce289b4d3afce38d1232",
         "8dcc9de6e0b2cebaec8c1f4fac78431adeeb73cfd3ab879b530a66d366e59174",
         "9b03329cde64d3f994bdf7fbbac3f3b10fe185c311cb9ae725475f59c7f3f922")),
    "delicious": _mulan(
        "delicious", ("delicious.xml", "delicious-train.arff", "delicious-test.arff"),
        ("4e0c0f93c7d86a39b9fca4aaefaa00e9428f2c80277732dfbf03ca48e2c14da2",
         "030186cdb542ebdd32052fcdbb1ebe30115b3a22518c1b4b198c45eb827aebe1",
         "2dfb01723a819914b0ca83361177ed413ce3f2169851d9f228d4692915d63944")),
    "corel5k": _mulan(
        "corel5k", ("Corel5k.xml", "Corel5k-train-sparse.arff", "Corel5k-test-sparse.arff"),
        ("54ef6a6ccb7ca9b77524052b34b306d5d501661a5609b9d1cc7085b2b597679d",
         "19eb253c447144bea74ffa86b4731a56022addae2ba7d0aab72ad07fdc02e9b3",
         "e8f8e9cd052c43ba7bdfdf99d242f461fc8c2a03163466d921e576887b51d8a7")),
    "ptb": RemoteDataset(
        "ptb",
        tuple(RemoteFile(f"ptb.{split}.txt.gz", f"{_PTB}ptb.{split}.txt.gz", digest) for split, digest in (
            ("train", "270e0c1de69c076ee9be3fb389e0a6a3c849a03664d9a05550c6a98afd63bf4e"),
            ("valid", "2c532ce295a2a82b986b0ab85f39422d4c1a6211cc78d9d4c3b647eb827d56a5"),
            ("test", "c186c58140c532dcf89939356c67f0ceaad98baac97c3eab733c14c9ce427ffa"),
        )),
        load_ptb, "Mikolov's PTB (GitHub Lasagne/Recipes, pinned commit)"),
    "mediamill": _xc_repo("mediamill", "Mediamill.zip", "0B3lPMIHmG6vGY3B4TXRmZnZBTkk"),
    "eurlex-4k": _xc_repo("eurlex-4k", "Eurlex.zip", "0B3lPMIHmG6vGU0VTR1pCejFpWjg"),
    "amazoncat-13k": _xc_repo("amazoncat-13k", "AmazonCat.zip", "0B3lPMIHmG6vGa2tMbVJGdDNSMGc"),
}


def _cached(folder: Path, filename: str) -> Path | None:
    """The file in ``folder``, or a re-compressed copy of it (``name.xz``, ...)."""
    names = [filename]
    if not filename.endswith(_COMPRESSED):
        names += [filename + suffix for suffix in _COMPRESSED]
    return next((folder / n for n in names if (folder / n).is_file()), None)


def fetch_xc(name: str, *, data_home=None, download_if_missing: bool = True, base_url=None,
             timeout: float = 60.0) -> Bunch:
    """Load a known data set from the data home, downloading it there first if needed.

    As scikit-learn's ``fetch_*``: each missing file is downloaded into
    ``get_data_home(data_home) / <folder>``, checked against its sha256 (a mismatch
    removes it and raises), and read from there on later calls. Files already there,
    or re-compressed copies of them (``.xz``, ``.gz``, as in the shared data folder),
    are used as they are. Data sets whose checksum is unknown (``sha256=None`` in
    :data:`XC_DATASETS`, the Extreme Classification Repository's Google Drive
    archives) are never downloaded: the error says where to get the file and where
    to put it.

    Parameters
    ----------
    name : str
        A key of :data:`XC_DATASETS`: ``"bibtex"``, ``"delicious"``, ``"corel5k"``
        (Mulan ARFF), ``"ptb"``, or ``"mediamill"``, ``"eurlex-4k"``, ``"amazoncat-13k"``
        (XC repository archives, no known checksum).
    data_home : str or path-like, default=None
        See :func:`~skmhe.datasets.get_data_home`; the folder is created if needed.
    download_if_missing : bool, default=True
        When False, raise instead of downloading a missing file.
    base_url : str, default=None
        A mirror laid out as a data home, files fetched from
        ``<base_url>/<folder>/<filename>``; else ``$SKMHE_DATA_MIRROR`` when set, else
        each file's original address.
    timeout : float, default=60.0
        Seconds to wait for a server.

    Returns
    -------
    sklearn.utils.Bunch
        What the data set's loader returns (:func:`~skmhe.datasets.load_mulan`,
        :func:`~skmhe.datasets.load_ptb` with its defaults); for a data set without a
        loader, ``folder`` and ``files`` (the paths, e.g. an archive to unpack and read
        with :func:`~skmhe.datasets.load_xc_repo`).

    Raises
    ------
    FileNotFoundError
        A file is missing and ``download_if_missing=False``, or it has no known checksum.
    OSError
        A download failed or its sha256 differs from the registry's (nothing is kept).

    Examples
    --------
    >>> from skmhe.datasets import fetch_xc
    >>> data = fetch_xc("bibtex")  # doctest: +SKIP
    >>> data.X_train.shape, data.Y_train.shape  # doctest: +SKIP
    ((4880, 1836), (4880, 159))
    """
    if not isinstance(name, str) or name.lower() not in XC_DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(XC_DATASETS))}")
    if not isinstance(download_if_missing, bool):
        raise ValueError(f"download_if_missing must be a bool, got {download_if_missing!r}")
    if base_url is None:
        base_url = os.environ.get(MIRROR_ENV_VAR, "").strip() or None
    if base_url is not None and not isinstance(base_url, str):
        raise ValueError(f"base_url must be a str or None, got {base_url!r}")
    entry = XC_DATASETS[name.lower()]
    folder = get_data_home(data_home) / entry.folder
    paths = []
    for remote in entry.files:
        path = _cached(folder, remote.filename)
        if path is None:
            path = _download(remote, folder, entry.folder, name, download_if_missing, base_url, timeout)
        paths.append(path)
    if entry.loader is None:
        return Bunch(folder=folder, files=paths)
    return entry.loader(folder)


def _download(remote: RemoteFile, folder: Path, subfolder: str, name: str,
              download_if_missing: bool, base_url: str | None, timeout: float) -> Path:
    target = folder / remote.filename
    if not download_if_missing:
        raise FileNotFoundError(
            f"{name}: {target} is missing and download_if_missing=False "
            f"(fetch_xc({name!r}) downloads it from {remote.url})"
        )
    if remote.sha256 is None:
        raise FileNotFoundError(
            f"{name}: {target} is missing, and no sha256 is known for it, so it is not downloaded "
            f"automatically. Download {remote.url} yourself, check it, and save it as {target}"
        )
    url = f"{base_url.rstrip('/')}/{subfolder}/{remote.filename}" if base_url else remote.url
    return fetch_file(remote, folder, url, timeout=timeout)
