"""Tests of icml22dl.data.mnist: the IDX reader and the MNIST loader."""

import gzip

import numpy as np
import pytest
import torch

from icml22dl.data.download import URLS
from icml22dl.data.mnist import load_mnist, read_idx
from icml22dl.data.root import data_root


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.requires_data("mnist")
def test_test_split_shapes_and_label_histogram():
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.requires_data("mnist")
def test_train_split_is_canonical():
    images, labels = load_mnist("train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert int(images.min()) == 0 and int(images.max()) == 255
    assert abs(images.double().mean().item() / 255 - 0.1307) < 5e-4


@pytest.mark.requires_data("mnist")
def test_download_path(monkeypatch, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        monkeypatch.setitem(URLS, f"mnist/{name}", (data_root() / "mnist" / name).as_uri())
    images, labels = load_mnist("test", data_dir=tmp_path, download=True)
    assert images.shape == (10000, 28, 28) and labels[:3].tolist() == [7, 2, 1]
    assert (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="'validation'"):
        load_mnist("validation")


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.arange(-12, 12, dtype=np.int32).reshape(2, 3, 4) * 1000
    raw = _idx_bytes(array, 0x0C)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    result = read_idx(path)
    np.testing.assert_array_equal(result, array)
    assert result.dtype == np.int32 and result.dtype.isnative


def test_read_idx_rejects_bad_magic(tmp_path):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5])))
    with pytest.raises(ValueError, match="bad.idx.gz.*magic"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="magic"):
        read_idx(path)


def test_read_idx_rejects_size_mismatch(tmp_path):
    raw = _idx_bytes(np.zeros((3, 2), dtype=np.uint8), 0x08)
    path = tmp_path / "short.idx"
    path.write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="short.idx"):
        read_idx(path)


@pytest.mark.requires_data("mnist")
def test_mnist_split_draws_disjoint_normalised_subsets():
    from icml22dl.data.mnist import MNIST_MEAN, MNIST_STD, mnist_as_rgb32, mnist_split

    x_tr, y_tr, x_te, y_te = mnist_split(300, 200, torch.Generator().manual_seed(0), source="test")
    assert x_tr.shape == (300, 28, 28) and x_te.shape == (200, 28, 28) and x_tr.dtype == torch.float32
    assert x_tr.min().item() == pytest.approx(-MNIST_MEAN / MNIST_STD, rel=1e-6)
    raw, _ = load_mnist("test")
    normalised = (raw.float() / 255 - MNIST_MEAN) / MNIST_STD
    # disjoint: no test image equals a training image of the same draw (bitwise rows)
    train_rows = {bytes(r.numpy().tobytes()) for r in x_tr}
    assert not any(bytes(r.numpy().tobytes()) in train_rows for r in x_te)
    assert any(torch.equal(x_tr[0], row) for row in normalised)
    again = mnist_split(300, 200, torch.Generator().manual_seed(0), source="test")
    assert torch.equal(again[0], x_tr) and torch.equal(again[3], y_te)
    rgb = mnist_as_rgb32(x_tr[:2])
    assert rgb.shape == (2, 3, 32, 32) and torch.equal(rgb[:, 0, 2:30, 2:30], x_tr[:2])
    assert rgb[0, 1, 0, 0].item() == pytest.approx(-MNIST_MEAN / MNIST_STD)
    with pytest.raises(ValueError, match="source='val'"):
        mnist_split(1, 1, torch.Generator(), source="val")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_size": -1}, "train_size=-1 is out of range: must be >= 0"),
        ({"test_size": 1.5}, "test_size=1.5 has the wrong type: expected int"),
        ({"source": "val"}, "source='val' is not allowed: choose one of ['train', 'test']"),
    ],
)
def test_mnist_split_rejects_bad_arguments_before_reading(tmp_path, kwargs, message):
    from icml22dl.data.mnist import mnist_split

    args = {"train_size": 1, "test_size": 1, "generator": torch.Generator(), "data_dir": tmp_path, **kwargs}
    with pytest.raises(ValueError) as info:  # raised before any file is looked up in the empty tmp_path
        mnist_split(**args)
    assert message in str(info.value)
