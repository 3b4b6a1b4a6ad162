"""Sparse-regression generators: Gaussian designs (centred or not) and sparse planted vectors.

References:
    The setting of the step-size experiment (docs/papers/step_size_bias.md#defaults), after
    Woodworth et al., Kernel and rich regimes in overparametrized models, COLT 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_number

__all__ = ["SparseRegression", "sparse_regression_data"]


@dataclass
class SparseRegression:
    """A noiseless sparse-regression problem ``y = X beta_star``.

    Attributes:
        X: design ``(N, d)``.
        y: targets ``(N,)``.
        beta_star: planted vector ``(d,)`` with ``s`` unit entries.
        support: indices of the nonzero entries of ``beta_star``.
        mu: mean of every feature (0 for a centred design).

    Example:
        >>> p = sparse_regression_data(10, 4, 2, mu=1.0, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(p.y, p.X @ p.beta_star), p.support.tolist() == p.beta_star.nonzero().flatten().tolist()
        (True, True)

    References:
        Nacson, Ravichandran, Srebro & Soudry (ICML 2022), sparse regression with non-centred
        features (docs/papers/step_size_bias.md#defaults).
    """

    X: Tensor
    y: Tensor
    beta_star: Tensor
    support: Tensor
    mu: float


def sparse_regression_data(
    d: int,
    n: int,
    s: int,
    mu: float = 0.0,
    generator: torch.Generator | None = None,
    center: bool = False,
    noise_std: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> SparseRegression:
    r"""Draw ``x ~ N(mu 1, I_d)`` rows and a planted ``s``-sparse ``beta_star`` with unit entries.

    .. math::
        X_{ij} \sim \mathcal{N}(\mu, 1),\quad \beta^*_i = 1 \text{ on a random support of size } s,
        \quad y = X\beta^* (+\ \text{noise})

    ``mu != 0`` gives non-centred features (the case where large GD steps change the bias,
    Nacson et al. 2022); ``mu = 0`` is centred in expectation, and ``center=True`` removes
    the sample column means exactly (then ``y`` is recomputed from the centred ``X``).

    Args:
        d: dimension, >= 1.
        n: examples, >= 1 (``n < d`` for the underdetermined setting).
        s: support size, ``0 <= s <= d``.
        mu: feature mean.
        generator: random source (design, then support).
        center: subtract the sample column means of X.
        noise_std: standard deviation of additive Gaussian label noise.
        dtype: output dtype.

    Returns:
        :class:`SparseRegression`.

    Example:
        >>> p = sparse_regression_data(200, 40, 3, mu=1.0, generator=torch.Generator().manual_seed(0))
        >>> p.X.shape, int(p.beta_star.sum())
        (torch.Size([40, 200]), 3)

    References:
        Nacson, Ravichandran, Srebro & Soudry (ICML 2022), non-centred features; the quick
        setting d = 200, N = 40, s = 3, x ~ N(mu 1, I) is the project's design, after
        Woodworth et al. 2020 (docs/papers/step_size_bias.md#defaults).
    """
    check_int("d", d, low=1)
    check_int("n", n, low=1)
    check_int("s", s, low=0, high=d)
    check_number("mu", mu)
    check_number("noise_std", noise_std, low=0.0)
    X = torch.randn(n, d, generator=generator, dtype=dtype) + float(mu)
    if center:
        X = X - X.mean(dim=0, keepdim=True)
    support = torch.randperm(d, generator=generator)[:s].sort().values
    beta_star = torch.zeros(d, dtype=dtype)
    beta_star[support] = 1.0
    y = X @ beta_star
    if noise_std > 0:
        y = y + noise_std * torch.randn(n, generator=generator, dtype=dtype)
    return SparseRegression(X=X, y=y, beta_star=beta_star, support=support, mu=float(mu))
