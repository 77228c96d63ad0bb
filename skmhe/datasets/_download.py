"""Download one file into the data home, verified by its sha256 (scikit-learn's ``_fetch_remote``)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RemoteFile", "fetch_file", "sha256_of"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file of a data set: where it is published and what it must hash to.

    Attributes
    ----------
    filename : str
        Name in the data set's folder of the data home.
    url : str
        Public address of the original.
    sha256 : str or None
        Hex digest of the file's bytes; None where no checksum is known, in which
        case the file is never downloaded automatically.
    """

    filename: str
    url: str
    sha256: str | None


def sha256_of(path) -> str:
    """Hex sha256 digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_file(remote: RemoteFile, folder: Path, url: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``folder / remote.filename`` unless it is already there.

    The bytes go to ``<filename>.part`` and are hashed on the way; the file is
    renamed into place only when its sha256 equals ``remote.sha256``, so an
    interrupted or corrupted download never looks like a cached file.

    Parameters
    ----------
    remote : RemoteFile
        File name and expected sha256 (must not be None).
    folder : pathlib.Path
        Destination folder, created if needed.
    url : str
        Where to download from (``remote.url`` or a mirror's copy).
    timeout : float, default=60.0
        Seconds to wait for the server.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    OSError
        When the download fails, or its sha256 differs from the expected one (the
        partial file is removed in both cases).
    """
    if remote.sha256 is None:
        raise ValueError(f"{remote.filename}: no known sha256, refusing to download unverified data")
    target = folder / remote.filename
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except BaseException as err:
        partial.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(f"downloading {url} failed: {err}") from err
        raise
    if digest.hexdigest() != remote.sha256:
        partial.unlink(missing_ok=True)
        raise OSError(
            f"{url}: sha256 {digest.hexdigest()} differs from the expected {remote.sha256}; "
            "the file may be corrupted or changed upstream, and the download was removed"
        )
    os.replace(partial, target)
    return target

