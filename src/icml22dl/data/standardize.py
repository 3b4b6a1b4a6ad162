"""Per-feature standardisation with a reference set's statistics, and the standardised digits of a fixed split.

References:
    Standardising each input feature with the training set's mean and standard deviation is
    scikit-learn's ``StandardScaler`` (fitted on the training split only); the digits split
    keeps scikit-learn's default proportions (1,347 training and 450 test images).

Example:
    >>> import torch
    >>> from icml22dl.data.standardize import FeatureStandardize
    >>> x = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    >>> FeatureStandardize.fit(x)(x)[:, 0].tolist(), FeatureStandardize.fit(x)(x)[:, 1].tolist()
    ([-1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.data.splits import DIGITS_TRAIN_SIZE, digits_split
from icml22dl.validation import check_int

__all__ = ["INTERPOLATION_SPLIT_SEED", "FeatureStandardize", "standardized_digits"]

#: The seed of the fixed digits split of the interpolation experiment (the same split for every run seed).
INTERPOLATION_SPLIT_SEED = 20220717


class FeatureStandardize:
    """``(x - mean) / std`` per feature (last dimension), with a reference set's statistics.

    ``std`` is the unbiased standard deviation; a constant feature (``std = 0``, e.g. the
    always-blank border pixels of the digits) is divided by 1 instead, so it maps to 0.

    Args:
        mean: (F,) feature means.
        std: (F,) feature standard deviations, all > 0.

    Example:
        >>> scale = FeatureStandardize(torch.tensor([1.0]), torch.tensor([2.0]))
        >>> scale(torch.tensor([[5.0]])).item()
        2.0

    References:
        scikit-learn's ``StandardScaler`` (which also leaves zero-variance features unscaled).
    """

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        if mean.shape != std.shape:
            raise ValueError(f"mean and std differ in shape: {tuple(mean.shape)} != {tuple(std.shape)}")
        if not bool((std > 0).all()):
            raise ValueError(f"std={std.tolist()} is out of range: must be > 0")
        self.mean, self.std = mean, std

    @classmethod
    def fit(cls, reference: Tensor) -> FeatureStandardize:
        """The transform with ``reference``'s per-feature mean and std (N >= 2 rows; std 0 becomes 1)."""
        if reference.ndim != 2 or len(reference) < 2:
            raise ValueError(f"reference must have shape (N >= 2, F), got {tuple(reference.shape)}")
        std = reference.std(0)
        return cls(reference.mean(0), torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, x: Tensor) -> Tensor:
        """``(x - mean) / std``, on ``x``'s device."""
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def standardized_digits(
    train_size: int = DIGITS_TRAIN_SIZE, split_seed: int = INTERPOLATION_SPLIT_SEED
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The 8 x 8 digits, split by a permutation fixed by ``split_seed``, standardised with the training statistics.

    The split is :func:`icml22dl.data.digits_split` with a generator seeded with
    ``split_seed`` (the same split for every run seed); every pixel is then standardised by
    :class:`FeatureStandardize` fitted on the training images.

    Args:
        train_size: training images (1 <= train_size < 1797); the rest is the test set.
        split_seed: the seed of the split's permutation (>= 0).

    Returns:
        ``(x_train, y_train, x_test, y_test)``: float32 (N, 64) and int64 labels.

    Example:
        >>> # needs scikit-learn (the ``datasets`` extra); tests/data/test_standardize.py runs it
        >>> x_train, y_train, x_test, y_test = standardized_digits()  # doctest: +SKIP
        >>> x_train.shape, x_test.shape, bool(x_train.mean(0).abs().max() < 1e-5)  # doctest: +SKIP
        (torch.Size([1347, 64]), torch.Size([450, 64]), True)

    References:
        Vlaar & Frankle (ICML 2022) study image classifiers; the quick digits task and its fixed
        split are this library's (docs/papers/interpolation.md#defaults).
    """
    check_int("split_seed", split_seed, low=0)
    x_train, y_train, x_test, y_test = digits_split(torch.Generator().manual_seed(split_seed), train_size)
    scale = FeatureStandardize.fit(x_train)
    return scale(x_train), y_train, scale(x_test), y_test
