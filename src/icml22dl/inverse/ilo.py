"""CSGM and ILO: inverse problems by optimising a generator's latent or intermediate layer.

CSGM (Bora et al. 2017) solves min_z ||A G(z) - y||^2 + lambda ||z||^2; ILO (Daras et al.
2021) then optimises the intermediate code h of G = G2 o G1, starting from G1(z), within an
l1 ball around the previous round's code, which lets it leave the range of G.

References:
    Bora, Jalal, Price, Dimakis, "Compressed Sensing using Generative Models", ICML 2017.
    Daras, Dean, Jalal, Dimakis, "Intermediate Layer Optimization for Inverse Problems
    using Deep Generative Models", ICML 2021 (official: steps [50, 50, 25, 25], Adam lr 0.1,
    l1 projections off by default).
    Duchi, Shalev-Shwartz, Singer, Chandra, "Efficient Projections onto the l1-Ball",
    ICML 2008 (the projection).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from icml22dl.validation import check_int, check_number

Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Reconstruction:
    """A solver's output: the image estimate, the variables that produced it, the data loss.

    Attributes:
        estimate: the image estimate (batch, n).
        variable: the optimised variable (z for CSGM, h for ILO).
        data_loss: ``||A estimate - y||^2`` per image.

    Example:
        >>> r = ilo(torch.nn.Identity(), lambda x: x, torch.ones(1, 2), torch.ones(1, 2), steps=0)
        >>> r.estimate.tolist(), r.data_loss.tolist()
        ([[1.0, 1.0]], [0.0])

    References:
        Bora et al. (ICML 2017), CSGM; Daras et al. (ICML 2021), ILO.
    """

    estimate: torch.Tensor
    variable: torch.Tensor
    data_loss: torch.Tensor


def project_l1_ball(v: torch.Tensor, center: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of v onto {u : ||u - center||_1 <= radius}.

    Math: for w = v - c with ||w||_1 > r, the projection is c + sign(w) max(|w| - theta, 0)
    with theta >= 0 chosen so that the l1 norm is r (sort-based, Duchi et al. 2008).
    radius = inf returns v.

    Args:
        v: points, shape (batch, d).
        center: centres, shape (batch, d) or (d,).
        radius: r >= 0 (float or per-row tensor), inf for no constraint.

    Returns:
        The projected points, shape (batch, d).

    Example:
        >>> project_l1_ball(torch.tensor([[3.0, 1.0]]), torch.zeros(2), 2.0)
        tensor([[2., 0.]])

    References:
        Duchi, Shalev-Shwartz, Singer, Chandra (ICML 2008), Fig. 1 (sort-based projection);
        ILO (Daras et al., ICML 2021), the l1 ball around the previous round's code.
    """
    r = torch.as_tensor(radius, dtype=v.dtype, device=v.device)
    if bool((r < 0).any()) or bool(torch.isnan(r).any()):
        raise ValueError(f"radius={radius} must be >= 0")
    if r.dim() == 0 and math.isinf(float(r)):
        return v
    r = r.expand(v.shape[0]) if r.dim() == 0 else r
    w = v - center
    a = w.abs()
    inside = a.sum(dim=1) <= r
    mu = a.sort(dim=1, descending=True).values
    cums = mu.cumsum(dim=1)
    ks = torch.arange(1, w.shape[1] + 1, dtype=v.dtype, device=v.device)
    cond = mu - (cums - r[:, None]) / ks > 0
    rho = cond.to(v.dtype).mul(ks).argmax(dim=1)  # last index where cond holds
    theta = ((cums.gather(1, rho[:, None]).squeeze(1) - r) / (rho + 1).to(v.dtype)).clamp_min(0.0)
    projected = center + torch.sign(w) * (a - theta[:, None]).clamp_min(0.0)
    return torch.where(inside[:, None], v, projected)


def _measure_loss(A: Operator, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (A(x) - y).pow(2).sum(dim=-1)


def csgm(
    G: nn.Module,
    A: Operator,
    y: torch.Tensor,
    latent_dim: int,
    steps: int = 300,
    lr: float = 0.05,
    restarts: int = 3,
    weight: float = 0.05,
    generator: torch.Generator | None = None,
) -> Reconstruction:
    """CSGM: min_z ||A G(z) - y||^2 + weight ||z||^2 by Adam, best of ``restarts`` random starts.

    Batched over measurements y (batch, m); all restarts run in one batch and each image
    keeps the restart with the smallest data loss ||A G(z) - y||^2. Adam is per coordinate
    and the summed loss separates, so the batch equals independent runs.

    Args:
        G: the generator z -> flat image.
        A: the forward operator (``A(x)`` on batches).
        y: measurements, shape (batch, m).
        latent_dim: k.
        steps: Adam steps (quick preset: 300).
        lr: Adam learning rate.
        restarts: random N(0, I) starts per image (quick preset: 3).
        weight: l2 penalty on z (quick preset: 0.05).
        generator: torch generator of the starts.

    Returns:
        :class:`Reconstruction` with the estimate G(z), z and the data loss.

    Example:
        >>> G = nn.Linear(2, 4, bias=False)
        >>> y = G(torch.tensor([[1.0, -2.0]])).detach()
        >>> r = csgm(G, lambda x: x, y, 2, steps=500, lr=0.05, weight=0.0, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(r.variable, torch.tensor([[1.0, -2.0]]), atol=1e-3)
        True

    References:
        Bora et al. (ICML 2017), Eq. 3 (l2 regulariser on z, random restarts); quick preset
        values in docs/papers/sgilo.md#defaults.
    """
    check_int("restarts", restarts, low=1)
    check_int("steps", steps, low=0)
    check_number("weight", weight, low=0.0)
    batch = y.shape[0]
    yy = y.repeat(restarts, 1)
    z = torch.randn(restarts * batch, latent_dim, generator=generator, dtype=y.dtype, device=y.device)
    z.requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        loss = (_measure_loss(A, G(z), yy) + weight * z.pow(2).sum(dim=1)).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        x = G(z)
        data = _measure_loss(A, x, yy).reshape(restarts, batch)
        best = data.argmin(dim=0)
        pick = best * batch + torch.arange(batch, device=y.device)
        return Reconstruction(x[pick], z.detach()[pick], data.min(dim=0).values)


def ilo(
    G2: nn.Module,
    A: Operator,
    y: torch.Tensor,
    h0: torch.Tensor,
    radius: float = math.inf,
    steps: int = 300,
    lr: float = 0.05,
) -> Reconstruction:
    """ILO: min_h ||A G2(h) - y||^2 over the l1 ball ||h - h0||_1 <= radius, by projected Adam.

    Args:
        G2: the generator's second part, h -> flat image.
        A: the forward operator.
        y: measurements (batch, m).
        h0: the starting code, G1(z_CSGM) (batch, d_h); also the centre of the ball.
        radius: l1 radius (inf: unconstrained; the official ILO leaves the projection off
            by default).
        steps: Adam steps.
        lr: Adam learning rate (official ILO: 0.1 with a cosine ramp).

    Returns:
        :class:`Reconstruction` with G2(h), h and the data loss.

    Example:
        >>> y = torch.tensor([[3.0, 1.0]])
        >>> free = ilo(nn.Identity(), lambda x: x, y, torch.zeros(1, 2), steps=400)
        >>> torch.allclose(free.variable, y, atol=1e-2)
        True
        >>> ball = ilo(nn.Identity(), lambda x: x, y, torch.zeros(1, 2), radius=2.0, steps=400)
        >>> float(ball.variable.abs().sum()) <= 2.0 + 1e-5  # stays in the l1 ball around h0
        True

    References:
        Daras et al. (ICML 2021), Alg. 1 (one round at one layer).
    """
    check_int("steps", steps, low=0)
    check_number("radius", radius, low=0.0, finite=False)
    center = h0.detach()
    h = center.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([h], lr=lr)
    for _ in range(steps):
        loss = _measure_loss(A, G2(h), y).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if not math.isinf(radius):
            with torch.no_grad():
                h.copy_(project_l1_ball(h, center, radius))
    with torch.no_grad():
        x = G2(h)
        return Reconstruction(x, h.detach(), _measure_loss(A, x, y))
