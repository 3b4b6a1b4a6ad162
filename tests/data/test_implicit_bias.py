"""Wilson et al.'s over-parameterised linear task: the layout, written out independently."""

import pytest
import torch

from icml22dl.data import wilson_data, wilson_labels


def test_wilson_data_layout():
    x, y = wilson_data(10, 0.6, torch.Generator().manual_seed(0))
    assert x.shape == (10, 63) and x.dtype == torch.float64
    assert torch.equal(x[:, 0], y) and (x[:, 1:3] == 1).all()
    # Unique block: 1 feature on for y = +1, 5 for y = -1, nowhere else.
    on = x[:, 3:].sum(1)
    assert torch.equal(on, torch.where(y > 0, 1.0, 5.0).double())
    assert ((x[:, 3:] > 0).sum(0) <= 1).all()
    for i in range(10):  # example i owns columns 3 + 6 i ... 3 + 6 i + 5, starting from the first
        block = x[i, 3 + 6 * i : 9 + 6 * i]
        assert torch.equal(block, torch.tensor([1.0] * int(on[i]) + [0.0] * (6 - int(on[i])), dtype=torch.float64))


def test_labels_are_the_first_draws_of_the_generator():
    g = torch.Generator().manual_seed(3)
    expected = torch.rand(7, generator=torch.Generator().manual_seed(3)) < 0.6
    _, y = wilson_data(7, 0.6, g)
    assert torch.equal(y > 0, expected)
    assert set(wilson_labels(50, 0.0, g).tolist()) == {-1.0} and set(wilson_labels(50, 1.0, g).tolist()) == {1.0}


def test_invalid_arguments():
    with pytest.raises(ValueError, match="positive_rate"):
        wilson_labels(3, 1.5)
    with pytest.raises(ValueError, match="n=0"):
        wilson_data(0, 0.5)
