"""CSGM, ILO, the l1 projection and SGILO against closed forms on linear generators."""

import math

import pytest
import torch
from torch import nn

from icml22dl.inverse import GaussianOperator, Normaliser, csgm, ilo, project_l1_ball, sgilo


def _bisection_projection(w, r):
    """Independent reference: theta by bisection so that sum max(|w| - theta, 0) = r."""
    if w.abs().sum() <= r:
        return w.clone()
    lo, hi = 0.0, w.abs().max().item()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (w.abs() - mid).clamp_min(0).sum().item() > r:
            lo = mid
        else:
            hi = mid
    return torch.sign(w) * (w.abs() - hi).clamp_min(0)


def test_l1_projection_matches_bisection():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(20, 7, dtype=torch.float64, generator=g) * 3
    c = torch.randn(20, 7, dtype=torch.float64, generator=g)
    radii = torch.rand(20, dtype=torch.float64, generator=g) * 8
    out = project_l1_ball(v, c, radii)
    for i in range(20):
        assert torch.allclose(out[i], c[i] + _bisection_projection(v[i] - c[i], radii[i].item()), atol=1e-10)
    assert torch.equal(project_l1_ball(v, c, math.inf), v)


def _linear(k, n, seed):
    lin = nn.Linear(k, n, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n, k, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    for p in lin.parameters():
        p.requires_grad_(False)
    return lin


def test_csgm_on_a_linear_generator_reaches_the_ridge_solution():
    k, n, m, lam = 3, 10, 6, 0.05
    G = _linear(k, n, 1)
    A = GaussianOperator(m, n, torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.randn(4, m, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    M = A.A @ G.weight
    ridge = torch.linalg.solve(M.T @ M + lam * torch.eye(k, dtype=torch.float64), M.T @ y.T).T
    out = csgm(G, A, y, k, steps=3000, lr=0.02, restarts=2, weight=lam, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(out.variable, ridge, atol=1e-3)


def test_ilo_unconstrained_is_least_squares_and_the_ball_is_respected():
    d, n, m = 4, 12, 8
    G2 = _linear(d, n, 5)
    A = GaussianOperator(m, n, torch.Generator().manual_seed(6), dtype=torch.float64)
    y = torch.randn(3, m, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    M = A.A @ G2.weight
    ls = torch.linalg.lstsq(M, y.T).solution.T
    h0 = torch.zeros(3, d, dtype=torch.float64)
    free = ilo(G2, A, y, h0, math.inf, steps=3000, lr=0.02)
    assert torch.allclose(free.variable, ls, atol=1e-3)
    ball = ilo(G2, A, y, h0, 0.1, steps=200, lr=0.02)
    assert ball.variable.abs().sum(dim=1).max().item() <= 0.1 + 1e-9


def test_sgilo_without_prior_or_noise_is_ilo():
    G2 = _linear(4, 12, 8)
    A = GaussianOperator(8, 12, torch.Generator().manual_seed(9), dtype=torch.float64)
    y = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    h0 = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    norm = Normaliser(torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
    ref = ilo(G2, A, y, h0, math.inf, steps=50, lr=0.05)
    out = sgilo(G2, A, y, h0, lambda u, t: -u, norm, "faithful", lam=0.0, steps=50, lr=0.05, temperature=0.0, average=1)
    assert torch.allclose(out.last, ref.variable, atol=1e-12)
    assert torch.allclose(out.estimate, ref.estimate, atol=1e-12)


def test_faithful_score_nudge_is_the_official_update():
    # One iteration, A = 0 (no data gradient, Adam does not move h): h += lam * scale * Delta.
    d = 3
    G2 = nn.Identity()
    h0 = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    shift = torch.tensor([0.5, 0.0, -1.0], dtype=torch.float64)
    scale = torch.tensor([2.0, 1.0, 4.0], dtype=torch.float64)
    lam, t0 = 0.7, 0.2
    out = sgilo(
        G2,
        lambda x: 0 * x,
        torch.zeros(1, d, dtype=torch.float64),
        h0,
        lambda u, t: -3 * u,
        Normaliser(shift, scale),
        lam=lam,
        t0=t0,
        steps=1,
        temperature=0.0,
        average=1,
    )
    u = (h0 - shift) / scale
    delta = (0.1 + 19.9 * t0) / 1000 * (u / 2 - 3 * u)
    assert torch.allclose(out.last, h0 + lam * scale * delta, atol=1e-14)


def test_principled_mode_without_noise_reaches_the_map_of_a_gaussian_prior():
    # Energy ||h - y||^2 - lam log p(h), p = N(0, v I): MAP = 2 y / (2 + lam / v).
    v, lam = 0.5, 1.0
    y = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    norm = Normaliser(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    out = sgilo(
        nn.Identity(),
        lambda x: x,
        y,
        torch.zeros(1, 2, dtype=torch.float64),
        lambda u, t: -u / v,
        norm,
        "principled",
        lam=lam,
        steps=2000,
        average=1,
        eta=0.05,
        beta=math.inf,
    )
    assert torch.allclose(out.last, 2 * y / (2 + lam / v), atol=1e-10)


def test_principled_mode_samples_the_gaussian_posterior():
    # With beta = 1 the chain targets exp(-(||h - y||^2 + lam ||h||^2 / (2 v))): mean 2y/(2 + lam/v),
    # variance 1 / (2 + lam / v) per coordinate; the average of the iterates is the posterior mean.
    v, lam, eta = 0.5, 1.0, 0.01
    y = torch.tensor([[1.0, -2.0]], dtype=torch.float64).repeat(400, 1)
    norm = Normaliser(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    out = sgilo(
        nn.Identity(),
        lambda x: x,
        y,
        torch.zeros(400, 2, dtype=torch.float64),
        lambda u, t: -u / v,
        norm,
        "principled",
        lam=lam,
        steps=1500,
        average=1000,
        eta=eta,
        beta=1.0,
        generator=torch.Generator().manual_seed(12),
    )
    precision = 2 + lam / v
    assert torch.allclose(out.estimate.mean(0), y[0] * 2 / precision, atol=0.01)
    # Discrete chain: Hessian P = precision, stationary variance 2 / (P (2 - eta P)) per coordinate.
    predicted = 2.0 / (precision * (2 - eta * precision))
    assert out.last.var(dim=0).mean().item() == pytest.approx(predicted, rel=0.15)  # across 400 chains
    # Within-chain variance over 1000 correlated iterates (correlation time 1/(eta P) = 25 steps):
    # biased low by about 2 x 25 / 1000.
    assert out.variance.mean().item() == pytest.approx(predicted * (1 - 2 / (eta * precision * 1000)), rel=0.05)


def test_bad_inputs_raise():
    norm = Normaliser(torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="mode"):
        sgilo(nn.Identity(), lambda x: x, torch.zeros(1, 2), torch.zeros(1, 2), lambda u, t: u, norm, mode="x")
    with pytest.raises(ValueError, match="average"):
        sgilo(
            nn.Identity(), lambda x: x, torch.zeros(1, 2), torch.zeros(1, 2), lambda u, t: u, norm, steps=3, average=5
        )
    with pytest.raises(ValueError, match="radius"):
        project_l1_ball(torch.zeros(1, 2), torch.zeros(2), -1.0)
