"""MNIST t10k at 14 x 14 through a 1-Lipschitz downsampling, split into disjoint train and test subsets.

The certified-robustness check of the paraunitary experiment trains a small orthogonal
network on the 10,000 t10k images halved to 14 x 14. The halving sums each 2 x 2 block and
divides by 2, a map whose Jacobian has every singular value equal to 1 (four disjoint
pixels, norm sqrt(4) / 2), so an l2 certificate at 14 x 14 is also one at 28 x 28.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

from icml22dl.data.mnist import load_mnist
from icml22dl.data.subsets import random_subset
from icml22dl.validation import check_int

__all__ = ["lipschitz_downsample", "mnist14_split"]


def lipschitz_downsample(images: Tensor, factor: int = 2) -> Tensor:
    """Sum each ``factor x factor`` block and divide by ``factor``: ``factor * avg_pool2d(x, factor)``.

    Every singular value of this linear map is exactly 1 (row-orthogonal), so it is
    1-Lipschitz in l2 and preserves the norm of block-constant images.

    Args:
        images: (N, C, H, W) floats, H and W divisible by ``factor``.
        factor: block side (>= 1).

    Returns:
        (N, C, H / factor, W / factor) images.

    Example:
        >>> lipschitz_downsample(torch.ones(1, 1, 2, 2))  # ||x|| = 2 = ||y||
        tensor([[[[2.]]]])

    References:
        Su, Byeon & Huang, ICML 2022, Sec. 6 (certified l2 robustness needs every layer, input
        transforms included, to be 1-Lipschitz; docs/papers/paraunitary.md#defaults).
    """
    check_int("factor", factor, low=1)
    if images.ndim != 4 or images.shape[-1] % factor or images.shape[-2] % factor:
        raise ValueError(f"images must be (N, C, H, W) with H, W divisible by {factor}, got {tuple(images.shape)}")
    return factor * F.avg_pool2d(images, factor)


def mnist14_split(
    train_size: int,
    test_size: int,
    generator: torch.Generator,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Disjoint train and test subsets of MNIST t10k at 14 x 14, centred by the training mean.

    One permutation of the 10,000 t10k images is drawn from ``generator``
    (:func:`icml22dl.data.random_subset`); its first ``train_size`` entries are the training
    set and its last ``test_size`` the test set. Pixels are scaled to [0, 1], halved by
    :func:`lipschitz_downsample`, and the training subset's scalar mean is subtracted from both.

    Args:
        train_size, test_size: subset sizes (>= 1, together at most 10,000).
        generator: the seeded generator of the permutation.
        data_dir: as in :func:`icml22dl.data.load_mnist`.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: float32 (N, 1, 14, 14) images, int64 labels.

    Example (needs the MNIST files; tests/data/test_mnist14.py runs it):
        >>> x, y, xt, yt = mnist14_split(100, 50, torch.Generator().manual_seed(0))  # doctest: +SKIP
        >>> x.shape, xt.shape, abs(float(x.mean())) < 1e-6  # doctest: +SKIP
        (torch.Size([100, 1, 14, 14]), torch.Size([50, 1, 14, 14]), True)

    References:
        The quick-scale data of the paraunitary check (8,000 train and 2,000 test t10k images;
        docs/papers/paraunitary.md#deviations-from-the-paper); the official code subtracts the
        mean only (no division by a std, which would change the Lipschitz constant).
    """
    images, labels = load_mnist("test", data_dir)
    check_int("train_size", train_size, low=1)
    check_int("test_size", test_size, low=1, high=len(images) - train_size)
    perm = random_subset(len(images), len(images), generator)
    x = lipschitz_downsample(images.float()[:, None] / 255, 2)
    train, test = perm[:train_size], perm[len(images) - test_size :]
    x = x - x[train].mean()
    return x[train], labels[train], x[test], labels[test]
