"""A linear predictor ``x -> <w, x>`` with a zero-initialised weight vector (implicit-bias experiments)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from icml22dl.validation import check_int

__all__ = ["LinearPredictor"]


class LinearPredictor(nn.Module):
    r"""``f(x) = x w``: one score per example from a weight vector ``w``, no bias, initialised at 0.

    .. math::
        f(x) = \sum_j w_j x_j, \qquad w^{(0)} = 0

    Starting every optimiser from ``w = 0`` makes the solution it converges to a property
    of the optimiser alone (its implicit bias): gradient descent on a least-squares loss
    stays in the row space of the data and reaches the minimum-norm interpolant.

    Args:
        in_features: the length of ``w`` (>= 1).
        dtype: the parameter dtype (float64 by default: the losses reach 1e-6 and below).

    Returns:
        ``forward(x)`` maps ``(N, in_features)`` to ``(N,)``.

    Example:
        >>> model = LinearPredictor(3)
        >>> model(torch.ones(2, 3, dtype=torch.float64)).tolist()
        [0.0, 0.0]
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        >>> model(torch.eye(3, dtype=torch.float64)).tolist()
        [1.0, 2.0, 3.0]

    References:
        Wilson et al., "The Marginal Value of Adaptive Gradient Methods in Machine Learning",
        NeurIPS 2017, Sec. 3 (linear least squares from ``w = 0``); the quick-scale task of the
        Adai paper (Xie et al., ICML 2022; docs/papers/adai.md#method).
    """

    def __init__(self, in_features: int, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        check_int("in_features", in_features, low=1)
        self.weight = nn.Parameter(torch.zeros(in_features, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight
