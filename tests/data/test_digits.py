"""Tests of icml22dl.data.digits."""

import sys

import pytest
import torch

from icml22dl.data.digits import load_digits


def test_shapes_range_and_labels():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert torch.equal(torch.unique(images * 16), torch.arange(17, dtype=torch.float32))
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"icml22dl\[datasets\]"):
        load_digits()
