"""Synthetic data generators: the margin-split patch data of Jelassi & Li (ICML 2022)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_number, check_probability

__all__ = ["MarginPatches", "margin_patches", "random_unit_vector"]


def random_unit_vector(d: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""Draw a direction uniformly on the unit sphere of :math:`\mathbb{R}^d`.

    .. math:: w = z / \lVert z \rVert_2,\quad z \sim \mathcal{N}(0, I_d)

    Args:
        d: dimension, an integer in ``[1, inf)``.
        generator: source of randomness; the vector lives on its device.
        dtype: floating dtype of the result.

    Returns:
        Tensor of shape ``(d,)`` with unit Euclidean norm.

    Example:
        >>> w = random_unit_vector(30, torch.Generator().manual_seed(0))
        >>> w.shape, round(float(w.norm()), 6)
        (torch.Size([30]), 1.0)

    References:
        S. Jelassi, Y. Li. Towards understanding how momentum improves generalization in deep
        learning. ICML 2022, arXiv:2207.05931 (the feature direction :math:`w^*`).
    """
    check_int("d", d, low=1)
    z = torch.randn(d, generator=generator, dtype=dtype, device=generator.device)
    return z / torch.linalg.vector_norm(z)


class MarginPatches(NamedTuple):
    """A margin-split patch data set, as returned by :func:`margin_patches`.

    References:
        Jelassi & Li (ICML 2022), Sec. 2 (the data distribution): a signal patch
        y w* (scaled by alpha on the small-margin set Z2) among Gaussian noise patches.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> data = margin_patches(8, 4, 3, 0.2, 0.2, 0.3, random_unit_vector(4, g), g)
        >>> tuple(data.x.shape), tuple(data.noise_patches().shape), set(data.y.tolist()) <= {-1.0, 1.0}
        ((8, 3, 4), (8, 2, 4), True)

    Attributes:
        x: inputs, shape ``(n, P, d)``.
        y: labels in ``{-1., +1.}``, shape ``(n,)``, dtype of ``x``.
        small_margin: ``True`` for the small-margin set Z2 (signal scaled by ``alpha``), shape ``(n,)``.
        signal_position: index of the signal patch in ``[0, P)``, dtype long, shape ``(n,)``.
    """

    x: Tensor
    y: Tensor
    small_margin: Tensor
    signal_position: Tensor

    def noise_patches(self) -> Tensor:
        """Return every patch but the signal patch, shape ``(n, P - 1, d)``, in patch order."""
        n, patches, d = self.x.shape
        keep = torch.ones(n, patches, dtype=torch.bool, device=self.x.device)
        keep[torch.arange(n, device=self.x.device), self.signal_position] = False
        return self.x[keep].view(n, patches - 1, d)


def margin_patches(
    n: int,
    d: int,
    patches: int,
    mu: float,
    alpha: float,
    sigma: float,
    w_star: Tensor,
    generator: torch.Generator,
) -> MarginPatches:
    r"""Sample the data distribution D(d, P, mu, alpha, sigma, w*) of Jelassi & Li (ICML 2022).

    Each example has a label :math:`y \sim U\{-1, +1\}`, a signal position :math:`p \sim U\{0..P-1\}`
    and ``P`` patches:

    .. math::
        X[p] = \begin{cases} y\,w^* & \text{w.p. } 1-\mu \ (Z_1,\ \text{large margin})\\
                              \alpha\,y\,w^* & \text{w.p. } \mu \ (Z_2,\ \text{small margin})\end{cases}
        \qquad X[j] = \xi_j \sim \mathcal{N}\big(0, \sigma^2 (I - w^* w^{*\top})\big),\ j \ne p.

    The noise is isotropic Gaussian noise projected by :math:`I - w^* w^{*\top}`, so it lives in the
    orthogonal complement of :math:`w^*` (isotropic noise would leak label-independent components
    along the feature). Draw order from ``generator``: labels, positions, Z2 flags, noise.

    Args:
        n: number of examples, in ``[1, inf)``.
        d: patch dimension, in ``[1, inf)``; must equal ``w_star.numel()``.
        patches: patches per example ``P``, in ``[1, inf)``.
        mu: probability of the small-margin set Z2, in ``[0, 1]``.
        alpha: signal scale of Z2, in ``(0, 1]``.
        sigma: noise standard deviation, in ``[0, inf)``.
        w_star: unit feature vector of shape ``(d,)``; sets the dtype and device of the data.
        generator: source of randomness, on the device of ``w_star``.

    Returns:
        :class:`MarginPatches` ``(x, y, small_margin, signal_position)``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> w = random_unit_vector(30, g)
        >>> data = margin_patches(500, 30, 5, 0.2, 0.2, 0.3, w, g)
        >>> data.x.shape
        torch.Size([500, 5, 30])
        >>> signal = data.x[torch.arange(500), data.signal_position] @ w  # y on Z1, alpha * y on Z2
        >>> torch.allclose(signal, torch.where(data.small_margin, 0.2, 1.0) * data.y, atol=1e-6)
        True

    References:
        S. Jelassi, Y. Li. Towards understanding how momentum improves generalization in deep
        learning. ICML 2022, PMLR 162:9965-10040, arXiv:2207.05931 (the synthetic data distribution).
    """
    for name, value in (("n", n), ("d", d), ("patches", patches)):
        check_int(name, value, low=1)
    check_probability("mu", mu)
    check_number("alpha", alpha, low=0.0, high=1.0, low_inclusive=False)
    check_number("sigma", sigma, low=0.0)
    if w_star.shape != (d,) or not w_star.is_floating_point():
        raise ValueError(
            f"w_star must be a floating tensor of shape ({d},), "
            f"got shape {tuple(w_star.shape)} and dtype {w_star.dtype}"
        )
    norm = torch.linalg.vector_norm(w_star).item()
    if abs(norm - 1.0) > 1e-4:
        raise ValueError(f"w_star must have unit norm (|norm - 1| <= 1e-4), got norm {norm!r}")

    device, dtype = w_star.device, w_star.dtype
    y = torch.randint(0, 2, (n,), generator=generator, device=device).to(dtype).mul_(2).sub_(1)
    signal_position = torch.randint(0, patches, (n,), generator=generator, device=device)
    small_margin = torch.rand(n, generator=generator, device=device, dtype=dtype) < mu

    z = torch.randn(n, patches, d, generator=generator, device=device, dtype=dtype)
    x = sigma * (z - (z @ w_star).unsqueeze(-1) * w_star)
    scale = torch.where(small_margin, torch.full_like(y, alpha), torch.ones_like(y))
    x[torch.arange(n, device=device), signal_position] = (scale * y).unsqueeze(-1) * w_star
    return MarginPatches(x=x, y=y, small_margin=small_margin, signal_position=signal_position)
