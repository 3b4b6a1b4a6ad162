"""Tests of icml22dl.data.cifar10: the JPEG pack (test split), and the python format on a
small synthetic tarball."""

import hashlib
import importlib
import io
import pickle
import sys
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from icml22dl.data import checksums
from icml22dl.data.checksums import ChecksumError
from icml22dl.data.cifar10 import (
    CIFAR10_CLASSES,
    PYTHON_TARBALL,
    load_cifar10,
    read_cifar10_jpeg,
    read_cifar10_python,
)
from icml22dl.data.root import CACHE_ENV_VAR, data_root

cifar10_module = importlib.import_module("icml22dl.data.cifar10")


@pytest.fixture
def user_cache(monkeypatch, tmp_path):
    """Point the cache folder (``$ICML22DL_CACHE``) at a fresh folder of tmp_path."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV_VAR, str(folder))
    return folder


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _jpeg_tarball(path, greys: dict[str, int]) -> None:
    """Write a JPEG-pack tarball of grey 32x32 images, ``test/<class>/<name>.jpg`` -> grey level."""
    with tarfile.open(path, "w:gz") as archive:
        for name, grey in greys.items():
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), (grey, grey, grey)).save(buffer, format="JPEG", quality=95)
            _add(archive, f"test/{name}", buffer.getvalue())


def _batch(rng: np.random.Generator, n: int) -> dict:
    return {
        b"batch_label": b"synthetic",
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }


def _python_tarball(path, batches: dict, skip: str = "") -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, batch in batches.items():
            if name != skip:
                _add(archive, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))


@pytest.fixture
def python_batches():
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {name: _batch(rng, 4 + i) for i, name in enumerate(names)}


def test_class_names():
    assert CIFAR10_CLASSES == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )


@pytest.mark.requires_data("cifar10")
def test_jpeg_test_split_decodes_and_caches(user_cache):
    images, labels = load_cifar10("test", source="jpeg")
    assert images.shape == (10000, 32, 32, 3) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [1000] * 10
    assert bool((labels[1:] >= labels[:-1]).all())  # sorted by class
    # Channel means of the CIFAR-10 test set, in RGB order (up to JPEG loss).
    means = images.double().mean(dim=(0, 1, 2)) / 255
    assert torch.allclose(means, torch.tensor([0.4942, 0.4851, 0.4504], dtype=torch.float64), atol=5e-3)
    cached = sorted(p.name for p in user_cache.iterdir())
    digest = checksums.SHA256["cifar10-jpeg/test.tar.gz"]
    assert cached == [f"cifar10-jpeg-test-{digest}-images.npy", f"cifar10-jpeg-test-{digest}-labels.npy"]
    assert not (data_root() / "cache").exists()
    again_images, again_labels = load_cifar10("test", source="auto")  # no python tarball: jpeg
    assert torch.equal(again_images, images) and torch.equal(again_labels, labels)


def test_jpeg_cache_is_written_to_the_cache_folder_not_to_a_writable_data_root(monkeypatch, tmp_path, user_cache):
    data = tmp_path / "data"
    (data / "cifar10-jpeg").mkdir(parents=True)
    tarball = data / "cifar10-jpeg" / "test.tar.gz"
    _jpeg_tarball(tarball, {"cat/0000.jpg": 90, "airplane/0000.jpg": 30})
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    monkeypatch.setitem(checksums.SHA256, "cifar10-jpeg/test.tar.gz", digest)
    images, labels = load_cifar10("test", data_dir=data, source="jpeg")
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == [0, 3]
    cached = sorted(p.name for p in user_cache.iterdir())
    assert cached == [f"cifar10-jpeg-test-{digest}-images.npy", f"cifar10-jpeg-test-{digest}-labels.npy"]
    in_data_root = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    assert in_data_root == ["cifar10-jpeg", "cifar10-jpeg/test.tar.gz"]
    monkeypatch.setattr(cifar10_module, "read_cifar10_jpeg", lambda *args: pytest.fail("decoded again"))
    again_images, again_labels = load_cifar10("test", data_dir=data, source="jpeg")  # read back from the cache
    assert torch.equal(again_images, images) and torch.equal(again_labels, labels)


def test_jpeg_reader_sorts_by_class_then_name(tmp_path):
    colours = {"truck/0001.jpg": 250, "airplane/0002.jpg": 10, "truck/0000.jpg": 200, "airplane/0001.jpg": 50}
    path = tmp_path / "test.tar.gz"
    _jpeg_tarball(path, colours)
    images, labels = read_cifar10_jpeg(path, "test")
    assert labels.tolist() == [0, 0, 9, 9]
    assert [int(round(images[i].mean())) for i in range(4)] == pytest.approx([50, 10, 200, 250], abs=2)


def test_jpeg_reader_rejects_unexpected_members(tmp_path):
    path = tmp_path / "test.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "test/unicorn/0000.jpg", b"")
    with pytest.raises(ValueError, match="test/unicorn/0000.jpg"):
        read_cifar10_jpeg(path, "test")


def test_missing_pillow_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install icml22dl\[images\]"):
        read_cifar10_jpeg(tmp_path / "unused.tar.gz", "test")


@pytest.mark.parametrize("split", ["train", "test"])
def test_python_reader_layout(tmp_path, python_batches, split):
    path = tmp_path / PYTHON_TARBALL
    _python_tarball(path, python_batches)
    images, labels = read_cifar10_python(path, split)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    data = np.concatenate([python_batches[n][b"data"] for n in names])
    expected_labels = sum((python_batches[n][b"labels"] for n in names), [])
    assert images.shape == (len(data), 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == expected_labels and labels.dtype == np.int64
    # Rows are 1024 red, then 1024 green, then 1024 blue values, each row-major.
    i, h, w = len(data) - 1, 5, 17
    assert images[i, h, w].tolist() == [data[i, c * 1024 + h * 32 + w] for c in range(3)]


def test_python_reader_reports_missing_batches(tmp_path, python_batches):
    path = tmp_path / PYTHON_TARBALL
    _python_tarball(path, python_batches, skip="data_batch_3")
    with pytest.raises(ValueError, match="data_batch_3"):
        read_cifar10_python(path, "train")


def test_python_reader_refuses_code_in_batches(tmp_path):
    path = tmp_path / PYTHON_TARBALL
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "cifar-10-batches-py/test_batch", pickle.dumps(print, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="print"):
        read_cifar10_python(path, "test")


def test_python_source_is_verified_and_preferred_by_auto(monkeypatch, tmp_path, python_batches):
    path = tmp_path / PYTHON_TARBALL
    _python_tarball(path, python_batches)
    with pytest.raises(ChecksumError, match=PYTHON_TARBALL):
        load_cifar10("test", data_dir=tmp_path, source="python")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(checksums.SHA256, PYTHON_TARBALL, digest)
    images, labels = load_cifar10("test", data_dir=tmp_path, source="auto")
    assert images.shape == (9, 32, 32, 3) and labels.tolist() == python_batches["test_batch"][b"labels"]


@pytest.mark.parametrize("kwargs", [{"split": "val"}, {"split": "test", "source": "png"}])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match="val|png"):
        load_cifar10(**kwargs)
