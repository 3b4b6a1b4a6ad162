"""Seeded index subsets of a data set: a random subset and a stratified train/test split.

Both return index tensors (int64, on the CPU) drawn from the caller's generator only, so a
split is reproducible from the run seed and leaves torch's global generator alone.
"""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_number

__all__ = ["random_subset", "stratified_split"]


def random_subset(n: int, size: int, generator: torch.Generator | None = None) -> Tensor:
    """The first ``size`` entries of one random permutation of ``range(n)``: a uniform subset without replacement.

    Args:
        n: the data set's size (>= 0).
        size: how many indices to keep, ``0 <= size <= n``.
        generator: the seeded generator of the permutation (one ``torch.randperm(n)`` draw).

    Returns:
        (size,) int64 indices, in the permutation's order (not sorted).

    References:
        A uniform random subset (sampling without replacement, e.g. the paper-scale
        ``train_subset`` of the Adai CIFAR-10 run, Xie et al., ICML 2022; its MNIST run uses
        5,000 training images).

    Example:
        >>> take = random_subset(10, 4, torch.Generator().manual_seed(0))
        >>> len(take), len(set(take.tolist())), bool((take < 10).all())
        (4, 4, True)
    """
    check_int("n", n, low=0)
    check_int("size", size, low=0, high=n)
    return torch.randperm(n, generator=generator)[:size]


def stratified_split(labels: Tensor, test_fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Indices of a stratified train/test split: per class, ``round(test_fraction * n_c)`` go to the test side.

    Classes are visited in increasing order; each draws one ``torch.randperm(n_c)`` from
    ``generator`` and sends its first ``round(test_fraction * n_c)`` members to the test side.

    Args:
        labels: (N,) integer class labels.
        test_fraction: the test share, in (0, 1).
        generator: the seeded generator of the per-class permutations.

    Returns:
        ``(train, test)``: sorted, disjoint int64 index tensors covering ``range(N)``.

    References:
        scikit-learn's ``train_test_split(..., stratify=labels)`` keeps each class's share the
        same way; the SOP quick run (Liu et al., ICML 2022; docs/papers/sop.md#defaults)
        splits the 1,797 digits 67/33.

    Example:
        >>> labels = torch.tensor([0, 0, 0, 1, 1, 1])
        >>> train, test = stratified_split(labels, 1 / 3, torch.Generator().manual_seed(0))
        >>> torch.bincount(labels[test]).tolist(), len(train)
        ([1, 1], 4)
    """
    check_number("test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    train, test = [], []
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(test_fraction * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values
