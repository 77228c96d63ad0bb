"""Tests of the Mulan ARFF and Extreme Classification Repository loaders."""

import lzma
import time

import numpy as np
import pytest

from skmhe.datasets import find_shared_data, get_data_home, load_mulan, load_xc_repo
from skmhe.datasets._arff import read_arff

XML = """<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="lab_a"></label>
<label name="lab b"></label>
</labels>
"""

HEADER = """% a comment
@relation tiny

@attribute f0 numeric
@attribute 'f one' {0,1}
@attribute f2 real
@attribute lab_a {0,1}
@attribute 'lab b' {0,1}

@data
"""

TRAIN = HEADER + "{0 1.5,2 -2,3 1}\n{}\n{1 1,3 1,4 1}\n"
TEST = HEADER + "0,1,0.25,0,1\n"


def _write_mulan(folder, train=TRAIN, test=TEST, xml=XML, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.xml").write_text(xml)
    if compress:
        with lzma.open(folder / "tiny-train.arff.xz", "wt") as handle:
            handle.write(train)
    else:
        (folder / "tiny-train.arff").write_text(train)
    (folder / "tiny-test.arff").write_text(test)
    return folder


@pytest.mark.parametrize("compress", [True, False])
def test_load_mulan_tiny(tmp_path, compress):
    data = load_mulan(_write_mulan(tmp_path / "tiny", compress=compress))
    assert data.feature_names == ["f0", "f one", "f2"]
    assert data.label_names == ["lab_a", "lab b"]
    assert data.X_train.format == "csr" and data.X_train.dtype == np.float32
    assert data.Y_train.format == "csr" and data.Y_train.dtype == bool
    np.testing.assert_array_equal(data.X_train.toarray(), [[1.5, 0, -2], [0, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(data.Y_train.toarray(), [[1, 0], [0, 0], [1, 1]])
    np.testing.assert_array_equal(data.X_test.toarray(), [[0, 1, 0.25]])  # dense ARFF rows
    np.testing.assert_array_equal(data.Y_test.toarray(), [[False, True]])


def test_load_mulan_subset(tmp_path):
    data = load_mulan(_write_mulan(tmp_path / "tiny"), subset="test")
    assert "X_test" in data and "X_train" not in data


def test_load_mulan_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_mulan(tmp_path / "missing")
    with pytest.raises(ValueError, match="subset"):
        load_mulan(_write_mulan(tmp_path / "a"), subset=("valid",))
    bad_xml = XML.replace("lab b", "other")
    with pytest.raises(ValueError, match="labels of the xml"):
        load_mulan(_write_mulan(tmp_path / "b", xml=bad_xml))
    with pytest.raises(ValueError, match="outside"):
        load_mulan(_write_mulan(tmp_path / "c", train=HEADER + "{9 1}\n"))
    with pytest.raises(ValueError, match="invalid value"):
        load_mulan(_write_mulan(tmp_path / "d", train=HEADER + "{1 x}\n"))
    with pytest.raises(ValueError, match="name_or_path"):
        load_mulan(3)
    folder = _write_mulan(tmp_path / "e")
    (folder / "more-train.arff").write_text(TRAIN)
    with pytest.raises(FileNotFoundError, match="exactly one"):
        load_mulan(folder)


def test_read_arff_nominal_strings(tmp_path):
    path = tmp_path / "n.arff"
    path.write_text("@relation r\n@attribute c {red,green}\n@attribute x numeric\n@data\ngreen,2\nred,0\n")
    data, names, relation = read_arff(path)
    assert relation == "r" and names == ["c", "x"]
    np.testing.assert_array_equal(data.toarray(), [[1, 2], [0, 0]])


def test_load_xc_repo_tiny(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("4 5 3\n0,2 0:1.5 3:2\n 1:0.5\n1\n2,2 4:1\n")
    X, Y = load_xc_repo(path)
    assert X.format == Y.format == "csr" and X.dtype == np.float32 and Y.dtype == bool
    np.testing.assert_array_equal(
        X.toarray(), [[1.5, 0, 0, 2, 0], [0, 0.5, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    )
    np.testing.assert_array_equal(Y.toarray(), [[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_loaders_read_the_data_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    _write_mulan(home / "bibtex")
    (home / "xc").mkdir()
    (home / "xc" / "train.txt").write_text("1 2 2\n1 0:1\n")
    monkeypatch.setenv("SKMHE_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="data_home"):
        load_mulan("bibtex")
    assert load_mulan("bibtex", data_home=home).folder == home / "bibtex"
    monkeypatch.chdir(tmp_path)
    X, Y = load_xc_repo("xc/train.txt", data_home=home)  # relative, absent from the cwd
    assert X.shape == (1, 2) and Y.toarray().tolist() == [[False, True]]
    monkeypatch.setenv("SKMHE_DATA", str(home))
    assert load_mulan("bibtex", subset="test").X_test.shape[0] == 1
    assert load_xc_repo("xc/train.txt")[0].shape == (1, 2)  # $SKMHE_DATA
    with pytest.raises(FileNotFoundError, match=r"home/xc/missing.txt \(nor xc/missing.txt .*SKMHE_DATA"):
        load_xc_repo("xc/missing.txt")


def test_load_xc_repo_errors(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("2 5\n0 1:1\n1 2:1\n")
    with pytest.raises(ValueError, match="first line"):
        load_xc_repo(path)
    path.write_text("3 5 3\n0 1:1\n1 2:1\n")
    with pytest.raises(ValueError, match="rows"):
        load_xc_repo(path)
    path.write_text("1 5 3\n7 1:1\n")
    with pytest.raises(ValueError, match="labels must be"):
        load_xc_repo(path)
    path.write_text("1 5 3\n0 9:1\n")
    with pytest.raises(ValueError, match="malformed"):
        load_xc_repo(path)


# ------------------------------------------------------------------ real data (skipped if absent)
REAL = [
    # name, n_train, n_test, n_features, n_labels
    ("bibtex", 4880, 2515, 1836, 159),
    ("delicious", 12920, 3185, 500, 983),
    ("corel5k", 4500, 500, 499, 374),
]


@pytest.mark.parametrize(("name", "n_train", "n_test", "n_features", "n_labels"), REAL)
def test_real_mulan_shapes(name, n_train, n_test, n_features, n_labels):
    if find_shared_data(name) is None:
        pytest.skip(f"{name}/ is not in the data home {get_data_home()} (set SKMHE_DATA to run this test)")
    start = time.perf_counter()
    data = load_mulan(name)
    elapsed = time.perf_counter() - start
    assert data.X_train.shape == (n_train, n_features)
    assert data.X_test.shape == (n_test, n_features)
    assert data.Y_train.shape == (n_train, n_labels) and data.Y_train.dtype == bool
    assert data.Y_test.shape == (n_test, n_labels)
    assert len(data.feature_names) == n_features and len(data.label_names) == n_labels
    assert set(np.unique(data.X_train.data)) <= {1.0}  # binary bags of words
    assert elapsed < 10, f"loading {name} took {elapsed:.1f} s"
