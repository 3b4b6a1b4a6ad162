"""Certificates of Lipschitz networks and the orthogonality error of a layer (pure functions)."""

from __future__ import annotations

import math

import torch
from torch import nn


def logit_margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """f_y - max_{j != y} f_j per example (negative when misclassified)."""
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (B, C) with C >= 2, got shape {tuple(logits.shape)}")
    correct = logits.gather(1, target[:, None])[:, 0]
    others = logits.scatter(1, target[:, None], float("-inf"))
    return correct - others.max(dim=1).values


def certified_radius(logits: torch.Tensor, target: torch.Tensor, lipschitz: float = 1.0) -> torch.Tensor:
    """The l2 radius within which an L-Lipschitz classifier's prediction provably stays y.

    Math: r = max(0, f_y - max_{j != y} f_j) / (sqrt(2) L): each logit difference f_y - f_j is
    sqrt(2) L-Lipschitz in l2 when f is L-Lipschitz; 0 for a misclassified example.

    Args:
        logits: (B, C); target: (B,) labels; lipschitz: L (> 0), the l2 Lipschitz constant of
        the logits as a function of the input (1 for an orthogonal network; 1/sigma_min of a
        normalisation otherwise).

    Returns:
        (B,) radii.

    Example:
        >>> certified_radius(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
        tensor([1.4142])

    References:
        Tsuzuku, Sato & Sugiyama (2018); Su et al., ICML 2022, Sec. 6 (certified at eps iff
        f_y - max_j f_j > sqrt(2) L eps).
    """
    if not lipschitz > 0:
        raise ValueError(f"lipschitz={lipschitz} must be > 0")
    return logit_margin(logits, target).clamp_min(0) / (math.sqrt(2) * lipschitz)


def certify(logits: torch.Tensor, target: torch.Tensor, eps: float, lipschitz: float = 1.0) -> torch.Tensor:
    """Boolean (B,): prediction y provably constant on the l2 ball of radius ``eps``.

    Math: f_y - max_{j != y} f_j > sqrt(2) L eps. See :func:`certified_radius`.
    """
    if eps < 0:
        raise ValueError(f"eps={eps} must be >= 0")
    if not lipschitz > 0:
        raise ValueError(f"lipschitz={lipschitz} must be > 0")
    return logit_margin(logits, target) > math.sqrt(2) * lipschitz * eps


def layer_jacobian(layer: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The full Jacobian of a linear (or piecewise-linear at 0) layer, (out_dim, in_dim), by
    pushing the identity basis through it as one batch (exact for linear layers)."""
    dim = math.prod(input_shape)
    eye = torch.eye(dim, dtype=dtype).reshape(dim, *input_shape)
    with torch.no_grad():
        out = layer(eye)
    return out.reshape(dim, -1).T


def orthogonality_error(
    layer: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float64
) -> dict[str, float]:
    """sigma_min, sigma_max and max |sigma - 1| of a linear layer's full Jacobian (brute force).

    Args:
        layer: a linear map of a (B, *input_shape) batch (e.g. a convolution without bias), in
            ``dtype`` already; input_shape: one example's shape (C, H, W); dtype: of the basis.

    Returns:
        ``{"sigma_min", "sigma_max", "max_abs_dev"}`` over the min(m, n) singular values.

    References:
        Su et al., ICML 2022, Sec. 6.1 (orthogonality measured from the Jacobian's spectrum).
    """
    sv = torch.linalg.svdvals(layer_jacobian(layer, input_shape, dtype))
    return {"sigma_min": sv.min().item(), "sigma_max": sv.max().item(), "max_abs_dev": (sv - 1).abs().max().item()}


__all__ = ["certified_radius", "certify", "layer_jacobian", "logit_margin", "orthogonality_error"]
