"""Tests of icml22dl.data.checksums: the table, hashing, verification and its cache."""

import hashlib
import shutil
import warnings

import pytest

from icml22dl.data import checksums
from icml22dl.data.checksums import (
    SHA256,
    UNVERIFIED,
    ChecksumError,
    known_digests,
    sha256_file,
    verified_path,
    verify,
)
from icml22dl.data.root import ENV_VAR, data_root

MNIST_LABELS = "mnist/t10k-labels-idx1-ubyte.gz"
CIFAR_PYTHON = "cifar-10-python.tar.gz"
#: The files of the data pack: the checksum table less the canonical CIFAR-10 tarball (the
#: first test checks that this is exactly the pack's SHA256SUMS).
PACK_FILES = sorted(set(SHA256) - {CIFAR_PYTHON})


def _sha256sums() -> dict[str, str]:
    lines = (data_root() / "SHA256SUMS").read_text().splitlines()
    return {path: digest for digest, path in (line.split() for line in lines if line.strip())}


@pytest.mark.requires_data("SHA256SUMS")
def test_table_holds_every_shared_file_and_the_cifar_python_tarball():
    cifar_python = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
    assert SHA256 == {**_sha256sums(), CIFAR_PYTHON: cifar_python}


@pytest.mark.parametrize("relpath", [pytest.param(r, marks=pytest.mark.requires_data(r)) for r in PACK_FILES])
def test_every_shared_file_verifies(relpath):
    path = verified_path(relpath)
    assert path == data_root() / relpath


def test_sha256_file_streams_large_files(tmp_path):
    data = bytes(range(256)) * (3 * 4096 + 17)  # about 3 MiB, not a multiple of the chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.requires_data(MNIST_LABELS)
def test_corrupted_copy_fails_with_a_clear_message(tmp_path):
    (tmp_path / "mnist").mkdir()
    copy = tmp_path / MNIST_LABELS
    shutil.copyfile(data_root() / MNIST_LABELS, copy)
    data = bytearray(copy.read_bytes())
    data[100] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as info:
        verified_path(MNIST_LABELS, data_dir=tmp_path)
    message = str(info.value)
    assert str(copy) in message
    assert SHA256[MNIST_LABELS] in message
    assert hashlib.sha256(data).hexdigest() in message
    assert "delete" in message and "download" in message
    assert isinstance(info.value, ValueError)


def test_missing_file_names_full_path_and_env_var(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        verified_path(MNIST_LABELS, data_dir=tmp_path)
    assert str(tmp_path / MNIST_LABELS) in str(info.value)
    assert ENV_VAR in str(info.value)


def test_unknown_relpath_is_rejected():
    with pytest.raises(ValueError, match="mnist/nope.gz"):
        verified_path("mnist/nope.gz")


def test_verify_rejects_malformed_expected_digest(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="'abc'"):
        verify(path, "abc")


def test_verify_accepts_any_of_several_digests(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    good = hashlib.sha256(b"x").hexdigest()
    assert verify(path, ["0" * 64, good.upper()]) == good
    with pytest.raises(ChecksumError, match="one of"):
        verify(path, ["0" * 64, "1" * 64])


def test_mnist_accepts_shared_and_upstream_digests():
    digests = known_digests(MNIST_LABELS)
    assert digests == (SHA256[MNIST_LABELS], "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")


def test_verification_is_cached_until_the_file_changes(monkeypatch, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"first")
    calls = []
    real = checksums.sha256_file
    monkeypatch.setattr(checksums, "sha256_file", lambda p: calls.append(p) or real(p))
    digest = hashlib.sha256(b"first").hexdigest()
    verify(path, digest)
    verify(path, digest)
    assert len(calls) == 1
    path.write_bytes(b"second!")
    with pytest.raises(ChecksumError):
        verify(path, digest)
    assert len(calls) == 2


def test_unverified_files_are_returned_with_a_warning(tmp_path):
    relpath = "planetoid/ind.pubmed.allx"  # the one file whose upstream bytes were never hashed
    assert relpath in UNVERIFIED and known_digests(relpath) is None
    (tmp_path / "planetoid").mkdir()
    (tmp_path / relpath).write_bytes(b"anything")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert verified_path(relpath, data_dir=tmp_path) == tmp_path / relpath
    assert any("unverified" in str(w.message) for w in caught)
