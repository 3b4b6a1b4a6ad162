"""Random-matrix diagnostics of deep equilibrium networks (linear gain, Jacobian spectrum).

References:
    Agarwala & Schoenholz, Deep equilibrium networks are sensitive to initialization
    statistics, ICML 2022; the linear-DEQ gain and its large-N limits are our derivation
    (docs/papers/deq_init.md#method).
"""

from __future__ import annotations

import math

import torch

from icml22dl.nn.init import KINDS
from icml22dl.validation import check_choice, check_number


def linear_gain(weight: torch.Tensor, u: torch.Tensor | None = None) -> dict[str, float]:
    """Gain q and conditioning of the linear DEQ z* = W z* + u, i.e. z* = (I - W)^{-1} u.

    Math: q = ||z*||^2 / ||u||^2 for the inputs ``u`` (rows); without ``u``, its expectation over
    isotropic u, (1/N) tr[(I - W)^{-T} (I - W)^{-1}]; cond = sigma_max / sigma_min of I - W.

    Args:
        weight: (N, N); u: optional (B, N) inputs.

    Returns:
        ``{"q", "cond", "sigma_min"}`` (q = inf when I - W is singular).

    Example:
        >>> linear_gain(0.5 * torch.eye(4))  # z* = 2 u: q = 4, I - W = I/2 is perfectly conditioned
        {'q': 4.0, 'cond': 1.0, 'sigma_min': 0.5}

    References:
        docs/papers/deq_init.md#method (our derivation): Gaussian q -> 1/(1 - sigma^2)
        (sigma < 1), orthogonal 1/|1 - sigma^2|, GOE singular once 2 sigma >= 1
        (:func:`linear_gain_theory`).
    """
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight must be square, got shape {tuple(weight.shape)}")
    w = weight.to(torch.float64)
    a = torch.eye(w.shape[0], dtype=w.dtype, device=w.device) - w
    sv = torch.linalg.svdvals(a)
    smin, smax = sv.min().item(), sv.max().item()
    if smin == 0:
        return {"q": math.inf, "cond": math.inf, "sigma_min": 0.0}
    if u is None:
        q = (sv.pow(-2).sum() / w.shape[0]).item()
    else:
        z = torch.linalg.solve(a, u.to(torch.float64).T).T
        q = (z.pow(2).sum() / u.to(torch.float64).pow(2).sum()).item()
    return {"q": q, "cond": smax / smin, "sigma_min": smin}


def linear_gain_theory(kind: str, sigma: float, normalize: str = "frobenius") -> float:
    """Large-N limit of the linear-DEQ gain q = (1/N) tr[(I - W)^{-T}(I - W)^{-1}].

    Math: Gaussian 1/(1 - sigma^2) for sigma < 1 (inf beyond); orthogonal 1/|1 - sigma^2|
    (inf at 1); GOE with semicircle radius R (2 sigma, or sigma under "spectral"):
    (2/R^2)(1/sqrt(1 - R^2) - 1) for R < 1 (inf beyond), -G'(1) of the semicircle law.

    Args:
        kind: ``gaussian``, ``orthogonal`` or ``symmetric``; sigma: scale; normalize: GOE scaling.

    Example:
        >>> round(linear_gain_theory("orthogonal", 0.5), 4), linear_gain_theory("gaussian", 1.5)
        (1.3333, inf)

    References: docs/papers/deq_init.md#method (our derivation; the GOE value is -G'(1) of
    the semicircle law).
    """
    check_choice("kind", kind, KINDS)
    check_number("sigma", sigma, low=0.0)
    if kind == "gaussian":
        return 1 / (1 - sigma**2) if sigma < 1 else math.inf
    if kind == "orthogonal":
        return 1 / abs(1 - sigma**2) if sigma != 1 else math.inf
    r = 2 * sigma if normalize == "frobenius" else sigma  # symmetric (GOE): semicircle radius
    if r == 0:
        return 1.0
    return (2 / r**2) * (1 / math.sqrt(1 - r**2) - 1) if r < 1 else math.inf


def tanh_deq_jacobian(weight: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
    """J = diag(1 - z*^2) W per example of z* = tanh(W z* + u): (B, N, N).

    Example:
        >>> tanh_deq_jacobian(torch.eye(2), torch.tensor([[0.0, 0.5]]))[0].diagonal().tolist()
        [1.0, 0.75]

    References: the chain rule on f(z) = tanh(W z + u) (tanh' = 1 - tanh^2), the Jacobian of
    the DEQ analyses of Agarwala & Schoenholz, ICML 2022.
    """
    return (1 - z_star.pow(2))[:, :, None] * weight[None]


def jacobian_spectrum(jacobian: torch.Tensor, near: float = 0.1) -> dict[str, float]:
    """Spectral statistics of DEQ Jacobians J (B, N, N), means over the batch.

    Returns:
        ``{"rho"}`` spectral radius (plain iteration converges locally iff < 1),
        ``"sigma_min"`` of I - J (conditioning of the backward solve), ``"near_one"`` share of
        eigenvalues within ``near`` of 1.

    Example:
        >>> jacobian_spectrum(tanh_deq_jacobian(0.5 * torch.eye(3), torch.zeros(2, 3)))
        {'rho': 0.5, 'sigma_min': 0.5, 'near_one': 0.0}

    References: Bai, Kolter & Koltun, Deep equilibrium models (NeurIPS 2019): the backward
    solve needs I - J well conditioned; Agarwala & Schoenholz, ICML 2022 (the Jacobian
    spectrum depends on the initialisation family).
    """
    j = jacobian.to(torch.float64)
    eig = torch.linalg.eigvals(j)
    eye = torch.eye(j.shape[-1], dtype=j.dtype, device=j.device)
    smin = torch.linalg.svdvals(eye - j).min(dim=-1).values
    return {
        "rho": eig.abs().max(dim=-1).values.mean().item(),
        "sigma_min": smin.mean().item(),
        "near_one": ((eig - 1).abs() < near).double().mean().item(),
    }


def single_ring_radii(sigma: float, phi_prime: torch.Tensor) -> tuple[float, float]:
    """Inner and outer radii of the single-ring spectrum of D W, W = sigma Q (Q Haar), D = diag(phi').

    Math (Haagerup-Larsen, D and W asymptotically free): inner sigma (E phi'^{-2})^{-1/2},
    outer sigma (E phi'^2)^{1/2}, with the expectations over the entries of ``phi_prime``.

    Example:
        >>> single_ring_radii(2.0, torch.ones(10))  # phi' = 1: the circle of radius sigma
        (2.0, 2.0)

    References: Haagerup & Larsen, J. Funct. Anal. 176 (2000) (single ring theorem).
    """
    p = phi_prime.to(torch.float64).flatten()
    inner = sigma / math.sqrt(p.pow(-2).mean().item()) if bool((p != 0).all()) else 0.0
    return inner, sigma * math.sqrt(p.pow(2).mean().item())


__all__ = ["jacobian_spectrum", "linear_gain", "linear_gain_theory", "single_ring_radii", "tanh_deq_jacobian"]
