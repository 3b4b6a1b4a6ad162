"""The fixed digits split: one seed-0 permutation, 1347 / 450, disjoint."""

import pytest
import torch

from icml22dl.data import DIGITS_SPLIT_SEED, digits_split, load_digits

pytest.importorskip("sklearn")


def test_default_split_is_the_seed_zero_permutation():
    x_train, y_train, x_test, y_test = digits_split()
    images, labels = load_digits()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    assert DIGITS_SPLIT_SEED == 0 and x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert torch.equal(x_train, images.reshape(1797, 64)[perm[:1347]])
    assert torch.equal(y_test, labels[perm[1347:]])


def test_a_generator_gives_another_split_of_the_requested_size():
    x_train, y_train, x_test, _ = digits_split(torch.Generator().manual_seed(5), train_size=1000)
    assert len(x_train) == 1000 and len(x_test) == 797
    assert not torch.equal(y_train[:50], digits_split()[1][:50])
    with pytest.raises(ValueError, match="train_size=1797 is out of range"):
        digits_split(train_size=1797)
