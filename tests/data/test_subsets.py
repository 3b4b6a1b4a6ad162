"""Seeded subsets: a random subset is a permutation prefix; a stratified split keeps class shares."""

import pytest
import torch

from icml22dl.data import random_subset, stratified_split


def test_random_subset_is_the_prefix_of_one_permutation():
    take = random_subset(100, 10, torch.Generator().manual_seed(4))
    assert torch.equal(take, torch.randperm(100, generator=torch.Generator().manual_seed(4))[:10])
    assert len(random_subset(5, 0)) == 0 and sorted(random_subset(5, 5).tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="size=6"):
        random_subset(5, 6)


def test_stratified_split_keeps_class_shares():
    labels = torch.arange(10).repeat_interleave(30)
    train, test = stratified_split(labels, 0.33, torch.Generator().manual_seed(0))
    assert len(set(train.tolist()) & set(test.tolist())) == 0 and len(train) + len(test) == 300
    assert torch.equal(torch.bincount(labels[test]), torch.full((10,), 10))
    assert torch.equal(train, train.sort().values) and torch.equal(test, test.sort().values)


def test_stratified_split_matches_a_per_class_loop():
    labels = torch.tensor([2, 0, 1, 0, 2, 2, 1, 0, 0, 2])
    train, test = stratified_split(labels, 0.5, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    expected = []
    for c in (0, 1, 2):
        members = [i for i in range(len(labels)) if labels[i] == c]
        order = torch.randperm(len(members), generator=g).tolist()
        expected += [members[k] for k in order[: round(0.5 * len(members))]]
    assert test.tolist() == sorted(expected)
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(labels, 1.0, g)
