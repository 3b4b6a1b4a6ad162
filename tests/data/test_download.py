"""Tests of icml22dl.data.download with local file:// URLs (no network)."""

import hashlib
import importlib
import warnings

import pytest

from icml22dl.data.checksums import SHA256, UNVERIFIED, ChecksumError, known_digests
from icml22dl.data.download import URLS, download, fetch
from icml22dl.data.root import data_root

# ``icml22dl.data.download`` is shadowed by the exported function of the same name.
download_module = importlib.import_module("icml22dl.data.download")
PAYLOAD = b"some bytes to download\n" * 1000
MNIST_LABELS = "mnist/t10k-labels-idx1-ubyte.gz"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.bin"
    path.write_bytes(PAYLOAD)
    return path


def test_download_verifies_and_places_file(source, tmp_path):
    dest = tmp_path / "out" / "sub" / "file.bin"
    result = download(source.as_uri(), dest, hashlib.sha256(PAYLOAD).hexdigest())
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]


def test_checksum_mismatch_leaves_no_file(source, tmp_path):
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(ChecksumError) as info:
        download(source.as_uri(), dest, "0" * 64)
    assert source.as_uri() in str(info.value)
    assert "0" * 64 in str(info.value)
    assert hashlib.sha256(PAYLOAD).hexdigest() in str(info.value)
    assert not dest.parent.exists()  # neither the file nor the folder made for it


def test_checksum_mismatch_keeps_existing_destination(source, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")
    with pytest.raises(ChecksumError):
        download(source.as_uri(), dest, "0" * 64)
    assert dest.read_bytes() == b"old"


def test_missing_checksum_warns(source, tmp_path):
    dest = tmp_path / "file.bin"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        download(source.as_uri(), dest, None)
    assert dest.read_bytes() == PAYLOAD
    assert any("not verified" in str(w.message) for w in caught)


def test_unsupported_scheme_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="ftp://example.org/x"):
        download("ftp://example.org/x", tmp_path / "x", "0" * 64)


def test_urls_cover_the_sources_and_only_pubmed_lacks_a_checksum():
    assert URLS[MNIST_LABELS] == "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"
    assert URLS["cifar-10-python.tar.gz"] == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert URLS["planetoid/ind.pubmed.test.index"] == (
        "https://github.com/kimiyoung/planetoid/raw/master/data/ind.pubmed.test.index"
    )
    unverified = {relpath for relpath in URLS if known_digests(relpath) is None}
    assert unverified == set(UNVERIFIED)
    assert all("pubmed" in relpath for relpath in unverified)


@pytest.mark.requires_data(MNIST_LABELS)
def test_fetch_downloads_a_missing_file(monkeypatch, tmp_path):
    monkeypatch.setitem(URLS, MNIST_LABELS, (data_root() / MNIST_LABELS).as_uri())
    path = fetch(MNIST_LABELS, data_dir=tmp_path)
    assert path == tmp_path / MNIST_LABELS
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[MNIST_LABELS]


@pytest.mark.requires_data(MNIST_LABELS)
def test_fetch_does_not_download_a_present_file(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("download called")

    monkeypatch.setattr(download_module, "download", fail)
    assert fetch(MNIST_LABELS) == data_root() / MNIST_LABELS


def test_fetch_refuses_a_read_only_root(monkeypatch, tmp_path):
    monkeypatch.setitem(URLS, MNIST_LABELS, (data_root() / MNIST_LABELS).as_uri())
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            fetch(MNIST_LABELS, data_dir=tmp_path)
    finally:
        tmp_path.chmod(0o755)


def test_fetch_of_england_covid_gzips_the_upstream_json(monkeypatch, tmp_path):
    import gzip

    from icml22dl.data.checksums import DECODED_SHA256

    relpath = "england-covid/england_covid.json.gz"
    pack = data_root() / relpath
    if not pack.is_file():
        pytest.skip(f"data file {relpath} is absent")
    upstream = tmp_path / "england_covid.json"  # the upstream bytes: the pack's file decompressed
    upstream.write_bytes(gzip.decompress(pack.read_bytes()))
    monkeypatch.setitem(URLS, relpath, upstream.as_uri())
    path = fetch(relpath, data_dir=tmp_path / "data")
    assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == DECODED_SHA256[relpath]
