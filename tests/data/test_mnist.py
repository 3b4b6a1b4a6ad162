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


def test_test_split_shapes_and_label_histogram():
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_train_split_is_canonical():
    images, labels = load_mnist("train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert int(images.min()) == 0 and int(images.max()) == 255
    assert abs(images.double().mean().item() / 255 - 0.1307) < 5e-4


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
