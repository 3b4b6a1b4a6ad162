"""Procedural targets for linear-network experiments: matrices with chosen singular values.

References:
    The targets of the deep-linear experiment (docs/papers/deep_linear.md#defaults); Haar
    orthogonal factors after Mezzadri (2007).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from icml22dl.validation import check_int

__all__ = ["random_orthogonal", "spectral_target"]


def random_orthogonal(n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
    """A Haar-distributed ``n x n`` orthogonal matrix (QR of a Gaussian matrix, signs fixed).

    Args:
        n: size, >= 1.
        generator: random source.
        dtype: output dtype.

    Returns:
        ``Q`` with ``Q^T Q = I``.

    Example:
        >>> q = random_orthogonal(4, torch.Generator().manual_seed(0))
        >>> torch.allclose(q.T @ q, torch.eye(4, dtype=torch.float64))
        True

    References:
        F. Mezzadri. How to generate random matrices from the classical compact groups. 2007.
    """
    check_int("n", n, low=1)
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=dtype))
    return q * torch.sign(torch.diagonal(r))[None, :]


def spectral_target(
    singular_values: Sequence[float],
    d_y: int,
    d_x: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""A ``d_y x d_x`` matrix ``Z = U diag(sigma) V^T`` with random orthogonal factors.

    .. math::
        Z = \sum_i \sigma_i u_i v_i^T

    Args:
        singular_values: ``sigma_1, sigma_2, ...`` (at most ``min(d_y, d_x)``, >= 0).
        d_y: rows.
        d_x: columns.
        generator: random source of U and V.
        dtype: output dtype.

    Returns:
        ``Z`` whose singular values are the given ones (zeros elsewhere).

    Example:
        >>> z = spectral_target((3.0, 2.0, 1.0, 0.5, 0.2), 5, 6, torch.Generator().manual_seed(0))
        >>> [round(float(s), 6) for s in torch.linalg.svdvals(z)]
        [3.0, 2.0, 1.0, 0.5, 0.2]

    References:
        Chen, Lin & Zhang (ICML 2022), the target Z = sum_i sigma_i u_i v_i^T; the quick
        setting (Z 5x6 with singular values (3, 2, 1, 0.5, 0.2) and random orthogonal
        factors) is the project's design (docs/papers/deep_linear.md#defaults).
    """
    check_int("d_y", d_y, low=1)
    check_int("d_x", d_x, low=1)
    sigmas = [float(s) for s in singular_values]
    if len(sigmas) > min(d_y, d_x) or any(s < 0 for s in sigmas):
        raise ValueError(f"singular_values must be at most min(d_y, d_x) = {min(d_y, d_x)} values >= 0, got {sigmas}")
    u = random_orthogonal(d_y, generator, dtype)[:, : len(sigmas)]
    v = random_orthogonal(d_x, generator, dtype)[:, : len(sigmas)]
    return (u * torch.tensor(sigmas, dtype=dtype)[None, :]) @ v.T
