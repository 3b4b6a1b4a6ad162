"""FeatureStandardize and standardized_digits (the fixed digits split of the interpolation experiment)."""

import pytest
import torch

from icml22dl.data import INTERPOLATION_SPLIT_SEED, FeatureStandardize, load_digits, standardized_digits


def test_feature_standardize_matches_the_formula_and_leaves_constant_features_at_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g) * torch.tensor([1.0, 2.0, 3.0, 0.0]) + 5.0
    scale = FeatureStandardize.fit(x)
    out = scale(x)
    torch.testing.assert_close(out[:, :3], (x[:, :3] - x[:, :3].mean(0)) / x[:, :3].std(0))
    assert torch.equal(out[:, 3], torch.zeros(50))
    other = torch.randn(7, 4, generator=g)
    torch.testing.assert_close(scale(other)[:, 0], (other[:, 0] - x[:, 0].mean()) / x[:, 0].std())


def test_feature_standardize_rejects_bad_input():
    with pytest.raises(ValueError, match="reference"):
        FeatureStandardize.fit(torch.ones(1, 3))
    with pytest.raises(ValueError, match="std=.* is out of range"):
        FeatureStandardize(torch.zeros(2), torch.tensor([1.0, 0.0]))


def test_standardized_digits_is_the_fixed_permutation_split_standardised_with_training_statistics():
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = standardized_digits()
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    # Independent reference: the permutation of a generator seeded with the split seed, by hand.
    images, labels = load_digits()
    x = images.reshape(len(images), -1)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(INTERPOLATION_SPLIT_SEED))
    train, test = perm[:1347], perm[1347:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    assert torch.equal(y_train, labels[train]) and torch.equal(y_test, labels[test])
    assert torch.equal(x_train, (x[train] - mean) / std) and torch.equal(x_test, (x[test] - mean) / std)
    assert standardized_digits(100)[0].shape == (100, 64)
    with pytest.raises(ValueError, match="split_seed"):
        standardized_digits(split_seed=-1)
