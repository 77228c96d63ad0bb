"""fetch_xc against a local HTTP server on 127.0.0.1 (no internet here)."""

import functools
import hashlib
import lzma
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sklearn.utils import Bunch

from skmhe.datasets import XC_DATASETS, fetch_xc, find_shared_data, get_data_home, load_xc_repo
from skmhe.datasets._download import RemoteFile
from skmhe.datasets._fetch import RemoteDataset

TINY = b"2 3 2\n0 0:1 2:0.5\n1 1:2\n"


class _Handler(SimpleHTTPRequestHandler):
    requests: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A mirror folder served on 127.0.0.1; yields (folder, base_url, requested paths)."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = type("Handler", (_Handler,), {"requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    httpd.shutdown()
    httpd.server_close()


def _register(monkeypatch, sha256, name="tiny"):
    remote = RemoteFile("train.txt", "http://example.invalid/train.txt", sha256)
    entry = RemoteDataset(name, (remote,), lambda folder: Bunch(data=load_xc_repo(folder / "train.txt")),
                          "test")
    monkeypatch.setitem(XC_DATASETS, name, entry)


def _serve(root, name="tiny", body=TINY):
    (root / name).mkdir(exist_ok=True)
    (root / name / "train.txt").write_bytes(body)


def test_downloads_verifies_and_caches(server, tmp_path, monkeypatch):
    root, url, requests = server
    _serve(root)
    _register(monkeypatch, hashlib.sha256(TINY).hexdigest())
    home = tmp_path / "home" / "not-yet-created"
    X, Y = fetch_xc("tiny", data_home=home, base_url=url).data
    assert X.shape == (2, 3) and Y.toarray().tolist() == [[True, False], [False, True]]
    assert (home / "tiny" / "train.txt").read_bytes() == TINY
    assert requests == ["/tiny/train.txt"]
    (root / "tiny" / "train.txt").unlink()  # served no more: the cached copy is used
    monkeypatch.setenv("SKMHE_DATA", str(home))
    assert fetch_xc("tiny", base_url=url, download_if_missing=False).data[0].shape == (2, 3)
    assert requests == ["/tiny/train.txt"]


def test_mirror_from_the_environment(server, tmp_path, monkeypatch):
    root, url, requests = server
    _serve(root)
    _register(monkeypatch, hashlib.sha256(TINY).hexdigest())
    monkeypatch.setenv("SKMHE_DATA_MIRROR", url + "/")
    assert fetch_xc("tiny", data_home=tmp_path / "home").data[1].shape == (2, 2)
    assert requests == ["/tiny/train.txt"]


def test_bad_checksum_removes_the_partial_file(server, tmp_path, monkeypatch):
    root, url, _ = server
    _serve(root, body=TINY + b"tampered")
    _register(monkeypatch, hashlib.sha256(TINY).hexdigest())
    with pytest.raises(OSError, match="sha256 .* differs from the expected"):
        fetch_xc("tiny", data_home=tmp_path / "home", base_url=url)
    assert list((tmp_path / "home" / "tiny").iterdir()) == []
    with pytest.raises(OSError, match="downloading .* failed"):  # 404: nothing kept either
        fetch_xc("tiny", data_home=tmp_path / "home", base_url=url + "/nowhere")
    assert list((tmp_path / "home" / "tiny").iterdir()) == []


def test_refusals_name_the_problem(tmp_path, monkeypatch):
    _register(monkeypatch, "0" * 64)
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        fetch_xc("tiny", data_home=tmp_path, download_if_missing=False)
    with pytest.raises(FileNotFoundError, match="no sha256 is known"):  # before any request
        fetch_xc("mediamill", data_home=tmp_path, base_url="http://127.0.0.1:9")
    assert all(f.sha256 is None for f in XC_DATASETS["eurlex-4k"].files)
    with pytest.raises(ValueError, match="unknown data set 'nope'; known: amazoncat-13k"):
        fetch_xc("nope")
    with pytest.raises(ValueError, match="download_if_missing"):
        fetch_xc("tiny", download_if_missing="no")


def test_registry_checksums_against_the_shared_copy(server, tmp_path):
    """The registry's sha256 of Corel5k are those of the originals (shared copies, unpacked)."""
    shared = find_shared_data("corel5k")
    if shared is None:
        pytest.skip(f"corel5k/ is not in the data home {get_data_home()} (set SKMHE_DATA to run this test)")
    root, url, requests = server
    (root / "corel5k").mkdir()
    for remote in XC_DATASETS["corel5k"].files:
        source = shared / remote.filename
        data = source.read_bytes() if source.exists() else lzma.open(f"{source}.xz").read()
        (root / "corel5k" / remote.filename).write_bytes(data)
    data = fetch_xc("corel5k", data_home=tmp_path / "home", base_url=url)
    assert data.X_train.shape == (4500, 499) and data.Y_test.shape == (500, 374)
    assert len(requests) == 3
    cached = fetch_xc("corel5k", data_home=shared.parent, download_if_missing=False)  # the .xz copies
    assert (cached.X_train != data.X_train).nnz == 0
