"""The library's fixed train/test split of scikit-learn's digits.

References:
    :func:`digits_split` keeps scikit-learn's default proportions (``train_test_split`` with
    ``test_size=0.25``: 1,347 training and 450 test images of the 1,797 digits); the
    permutation is torch's (:func:`icml22dl.data.random_subset` of all the images), drawn
    from a generator seeded with :data:`DIGITS_SPLIT_SEED` unless one is given.

Example:
    >>> from icml22dl.data.splits import digits_split
    >>> x_train, y_train, x_test, y_test = digits_split()
    >>> tuple(x_train.shape), tuple(x_test.shape), torch.equal(digits_split()[1], y_train)
    ((1347, 64), (450, 64), True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.data.digits import load_digits
from icml22dl.data.subsets import random_subset
from icml22dl.validation import check_int

__all__ = ["DIGITS_SPLIT_SEED", "DIGITS_TRAIN_SIZE", "digits_split"]

DIGITS_SPLIT_SEED = 0
DIGITS_TRAIN_SIZE = 1347


def digits_split(
    generator: torch.Generator | None = None, train_size: int = DIGITS_TRAIN_SIZE
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The 1,797 8 x 8 digits (:func:`icml22dl.data.load_digits`) flattened and split train/test.

    The images are permuted once (one ``torch.randperm(1797)`` from ``generator``); the first
    ``train_size`` form the training set, the rest the test set.

    Args:
        generator: the generator of the permutation; ``None`` is the library's fixed split
            (a generator seeded with :data:`DIGITS_SPLIT_SEED`), the same for every run.
        train_size: training images (1 to 1,796).

    Returns:
        ``(x_train, y_train, x_test, y_test)``: float32 (N, 64) in [0, 1] and int64 labels.

    References: scikit-learn's ``load_digits`` and the 75 / 25 default of ``train_test_split``
    (the permutation is torch's, so the split differs from scikit-learn's).

    Example:
        >>> x_train, _, x_test, _ = digits_split(torch.Generator().manual_seed(1), train_size=1000)
        >>> len(x_train), len(x_test)
        (1000, 797)
    """
    images, labels = load_digits()
    x = images.reshape(len(images), -1)
    check_int("train_size", train_size, low=1, high=len(x) - 1)
    if generator is None:
        generator = torch.Generator().manual_seed(DIGITS_SPLIT_SEED)
    perm = random_subset(len(x), len(x), generator)
    train, test = perm[:train_size], perm[train_size:]
    return x[train], labels[train], x[test], labels[test]
