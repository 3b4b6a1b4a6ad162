"""Tests of icml22dl.data.catalog: the catalogue agrees with the checksum tables, the data pack and the papers."""

import gzip
import hashlib

import pytest

from icml22dl.data import catalog
from icml22dl.data.catalog import CATALOG, DataFile, DataSet, check_file, file_status, needed, satisfied
from icml22dl.data.checksums import DECODED_SHA256, SHA256, UNVERIFIED, ChecksumError, known_digests
from icml22dl.data.root import data_root
from icml22dl.papers import PAPERS

ALL_FILES = [f for d in CATALOG.values() for f in d.files]


def test_every_file_has_the_checksums_of_the_tables():
    for file in ALL_FILES:
        assert file.relpath.count("/") <= 1 and not file.relpath.startswith("/")
        if file.relpath in UNVERIFIED:
            assert not file.verifiable
        else:
            assert set(file.sha256) == set(known_digests(file.relpath))
        assert file.decoded_sha256 == DECODED_SHA256.get(file.relpath)
    assert {f.relpath for f in ALL_FILES} >= set(SHA256)  # the pack's files and the CIFAR-10 archive
    assert [f.relpath for f in ALL_FILES if not f.verifiable] == ["planetoid/ind.pubmed.allx"]


def test_every_file_has_a_source_except_the_jpeg_pack():
    no_upstream = {f.relpath for f in ALL_FILES if f.url is None}
    assert no_upstream == {"cifar10-jpeg/train.tar.gz", "cifar10-jpeg/test.tar.gz"}
    assert all(f.url.startswith("https://") for f in ALL_FILES if f.url is not None)
    covid = CATALOG["england-covid"].files[0]
    assert covid.compress and covid.url.endswith("/pytorch_geometric_temporal/master/dataset/england_covid.json")
    assert CATALOG["cifar10"].files[0].url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@pytest.mark.parametrize(
    "file",
    [
        pytest.param(f, id=f.relpath, marks=pytest.mark.requires_data(f.relpath))
        for f in ALL_FILES
        if f.relpath in SHA256 and f.relpath != "cifar-10-python.tar.gz"
    ],
)
def test_pack_files_have_the_catalogued_size_and_verify(file):
    path = data_root() / file.relpath
    assert path.stat().st_size == file.size
    assert file_status(file) == catalog.PRESENT


@pytest.mark.requires_data("england-covid")
def test_the_pack_covid_file_decompresses_to_the_upstream_bytes():
    # The pack's .json.gz is a gzip of PyTorch Geometric Temporal's england_covid.json (1,436,945 bytes).
    content = gzip.decompress((data_root() / "england-covid/england_covid.json.gz").read_bytes())
    assert len(content) == 1436945
    assert hashlib.sha256(content).hexdigest() == DECODED_SHA256["england-covid/england_covid.json.gz"]


def test_every_paper_declares_known_data_for_its_own_presets():
    for slug, paper in PAPERS.items():
        assert set(paper.data) <= set(paper.presets), slug
        assert {"quick", "paper"} <= set(paper.data), f"{slug} declares no data for quick or paper"
        for names in paper.data.values():
            catalog.check_names(list(names))


def test_needed_reads_the_declarations():
    assert needed("adai", "quick") == ("mnist",)
    assert needed("time_then_graph", "quick") == ("england-covid",)
    assert needed("local_augmentation", "paper") == ("cora", "citeseer")
    assert needed("sop", "quick") == () and needed("sop", "paper") == ("cifar10",)
    assert needed("deep_linear", "no-such-scale") == ()
    with pytest.raises(ValueError, match="nope"):
        needed("nope", "quick")


def test_the_quick_scale_needs_only_what_the_data_pack_holds():
    quick = {name for paper in PAPERS.values() for name in paper.data.get("quick", ())}
    assert quick == {"mnist", "cora", "citeseer", "england-covid"}


def _toy(tmp_path, content=b"abc"):
    file = DataFile("toy/a.bin", 3, (hashlib.sha256(b"abc").hexdigest(),), None)
    (tmp_path / "toy").mkdir(exist_ok=True)
    (tmp_path / "toy" / "a.bin").write_bytes(content)
    return file


def test_file_status_present_missing_corrupt_unverified(tmp_path):
    file = _toy(tmp_path)
    assert file_status(file, tmp_path) == catalog.PRESENT
    (tmp_path / "toy" / "a.bin").write_bytes(b"abd")
    assert file_status(file, tmp_path) == catalog.CORRUPT
    assert file_status(DataFile("toy/b.bin", 1, (), None), tmp_path) == catalog.MISSING
    (tmp_path / "toy" / "c.bin").write_bytes(b"?")
    assert file_status(DataFile("toy/c.bin", 1, (), None), tmp_path) == catalog.UNVERIFIED


def test_a_locally_gzipped_file_is_accepted_by_its_content(tmp_path):
    content = b'{"a": 1}'
    file = DataFile("s/x.json.gz", None, ("0" * 64,), "https://x", hashlib.sha256(content).hexdigest(), True)
    (tmp_path / "s").mkdir()
    path = tmp_path / "s" / "x.json.gz"
    path.write_bytes(gzip.compress(content, mtime=0))
    assert check_file(file, path) == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(gzip.compress(b"other"))
    with pytest.raises(ChecksumError):
        check_file(file, path)
    path.write_bytes(b"not gzip at all")
    assert file_status(file, tmp_path) == catalog.CORRUPT


def test_an_alternative_satisfies_a_data_set(tmp_path, monkeypatch):
    file = _toy(tmp_path)
    monkeypatch.setitem(CATALOG, "toy", DataSet("toy", "t", (file,), "", ""))
    monkeypatch.setitem(CATALOG, "big", DataSet("big", "b", (DataFile("big/x", 1, (), None),), "", "", "", ("toy",)))
    assert satisfied("big", tmp_path) and not catalog.complete("big", tmp_path)
    (tmp_path / "toy" / "a.bin").unlink()
    assert not satisfied("big", tmp_path)


def test_check_names_lists_the_catalogue():
    with pytest.raises(ValueError, match=r"unknown data set\(s\) \['imagenet'\]: choose from \['mnist'"):
        catalog.check_names(["mnist", "imagenet"])
