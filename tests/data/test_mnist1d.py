"""Tests of icml22dl.data.mnist1d: local generation, determinism, no download."""

import numpy as np
import pytest
import torch

from icml22dl.data.mnist1d import load_mnist1d


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    import mnist1d.data

    def refuse(*args, **kwargs):
        raise AssertionError("MNIST-1D tried to download")

    monkeypatch.setattr(mnist1d.data.requests, "get", refuse)


def test_default_sizes_and_dtypes():
    (x_train, y_train), (x_test, y_test) = load_mnist1d()
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_test.shape == (1000,)
    all_labels = torch.cat([y_train, y_test])
    assert torch.bincount(all_labels).tolist() == [500] * 10


def test_seed_determinism_and_global_rng_untouched():
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    (a, ya), _ = load_mnist1d(num_samples=200, seed=1)
    assert np.random.random() == expected_next
    (b, yb), _ = load_mnist1d(num_samples=200, seed=1)
    (c, _), _ = load_mnist1d(num_samples=200, seed=2)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)


def test_train_split_and_overrides():
    (x_train, _), (x_test, _) = load_mnist1d(num_samples=100, train_split=0.5, final_seq_length=30)
    assert x_train.shape == (50, 30) and x_test.shape == (50, 30)


@pytest.mark.parametrize(
    "kwargs, bad",
    [({"num_samples": 5}, "num_samples=5"), ({"train_split": 1.0}, "train_split=1.0"), ({"url": "x"}, "url")],
)
def test_bad_arguments_are_rejected(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        load_mnist1d(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_samples": 9}, "num_samples=9 is out of range: must be >= 10"),
        ({"train_split": 0.0}, "train_split=0.0 is out of range: must be > 0.0 and < 1.0"),
        ({"seed": -1}, "seed=-1 is out of range: must be >= 0"),
        ({"num_samples": 100.0}, "num_samples=100.0 has the wrong type: expected int"),
    ],
)
def test_bad_arguments_name_the_value_and_range(kwargs, message):
    with pytest.raises(ValueError) as info:
        load_mnist1d(**kwargs)
    assert message in str(info.value)
