"""Diagonal-net analysis: potential, GF solution, KKT, sharpness, bound, test error."""

import pytest
import torch

from icml22dl.analysis.diagonal_nets import (
    gaussian_test_error,
    gf_solution,
    gn_sharpness,
    init_sharpness,
    kkt_residual,
    q_alpha,
    stability_bound,
    weighted_l1,
)
from icml22dl.data.sparse_regression import sparse_regression_data
from icml22dl.nn.linear_nets import diagonal_gd

F64 = torch.float64


def _problem(mu=1.0, seed=0, d=60, n=15):
    return sparse_regression_data(d, n, 3, mu, torch.Generator().manual_seed(seed))


def test_q_alpha_gradient_is_arcsinh_and_limits():
    beta = torch.tensor([0.3, -1.2, 0.0, 2.0], dtype=F64, requires_grad=True)
    q_alpha(beta, 0.2).backward()
    assert torch.allclose(beta.grad, torch.asinh(beta.detach() / (2 * 0.04)), atol=1e-12)
    b = beta.detach()
    # kernel limit: Q ~ ||b||^2 / (4 alpha^2) for large alpha
    assert float(q_alpha(b, 30.0)) == pytest.approx(float((b * b).sum()) / (4 * 900), rel=1e-4)


def test_gf_solution_satisfies_kkt_and_matches_small_step_gd():
    p = _problem()
    beta = gf_solution(p.X, p.y, 0.1)
    assert float((p.X @ beta - p.y).abs().max()) <= 1e-9
    assert kkt_residual(p.X, beta, 0.1) <= 1e-10
    # optimality against feasible perturbations in the null space of X
    null = torch.linalg.svd(p.X, full_matrices=True).Vh[p.X.shape[0] :]
    base = float(q_alpha(beta, 0.1))
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        step = null.T @ torch.randn(null.shape[0], generator=g, dtype=F64)
        assert float(q_alpha(beta + 1e-3 * step / step.norm(), 0.1)) >= base - 1e-12
    eta = 0.01 * 2 / init_sharpness(p.X, 0.1)
    gd = diagonal_gd(p.X, p.y, 0.1, eta, max_steps=400_000, tol=1e-12)
    assert gd.status == "converged"
    assert float((gd.beta - beta).norm() / beta.norm()) <= 1e-2


def test_gn_sharpness_equals_the_autograd_hessian_at_an_interpolating_point():
    p = _problem(seed=2)
    res = diagonal_gd(p.X, p.y, 0.1, 0.2 * 2 / init_sharpness(p.X, 0.1), tol=1e-20, max_steps=50_000)
    u, v = res.u.clone(), res.v.clone()
    n, d = p.X.shape

    def loss(w):
        uu, vv = w[:d], w[d:]
        r = p.X @ (uu * uu - vv * vv) - p.y
        return (r @ r) / (2 * n)

    hessian = torch.autograd.functional.hessian(loss, torch.cat([u, v]))
    top = float(torch.linalg.eigvalsh(hessian)[-1])
    assert gn_sharpness(p.X, u, v) == pytest.approx(top, rel=1e-6)
    ones = torch.full((d,), 0.1, dtype=F64)
    assert init_sharpness(p.X, 0.1) == pytest.approx(8 * 0.01 / n * float(torch.linalg.eigvalsh(p.X @ p.X.T)[-1]))
    assert gn_sharpness(p.X, ones, ones) == pytest.approx(init_sharpness(p.X, 0.1))


def test_stability_bound_is_never_violated_by_converged_runs():
    violations = converged = 0
    for seed in range(3):
        p = _problem(mu=1.0, seed=seed)
        s0 = init_sharpness(p.X, 0.1)
        for f in (0.1, 0.2, 0.3, 0.4, 0.5):
            eta = f * 2 / s0
            res = diagonal_gd(p.X, p.y, 0.1, eta, max_steps=20_000)
            if res.status == "converged":
                converged += 1
                violations += weighted_l1(p.X, res.beta) > stability_bound(eta) * (1 + 1e-3)
                violations += gn_sharpness(p.X, res.u, res.v) > 2 / eta * (1 + 1e-3)
    assert converged >= 6 and violations == 0


def test_centred_data_gives_no_step_size_gain():
    # x ~ N(0, I): the weighted-l1 bound is vacuous; larger steps do not improve the median
    small, large = [], []
    for seed in range(5):
        p = _problem(mu=0.0, seed=seed, d=100, n=25)
        s0 = init_sharpness(p.X, 0.1)
        for f, out in ((0.02, small), (0.2, large)):
            res = diagonal_gd(p.X, p.y, 0.1, f * 2 / s0, max_steps=50_000)
            assert res.status == "converged"
            out.append(gaussian_test_error(res.beta, p.beta_star, 0.0))
    small.sort(), large.sort()
    assert large[2] >= small[2]


def test_weighted_l1_and_gaussian_test_error_against_references():
    p = _problem()
    beta = torch.randn(60, dtype=F64, generator=torch.Generator().manual_seed(3))
    xbar = p.X.mean(0)
    assert weighted_l1(p.X, beta) == pytest.approx(float((xbar**2 * beta.abs()).sum()))
    assert stability_bound(0.25) == 2.0
    # Monte Carlo of E (x^T (beta - beta*))^2 for x ~ N(mu 1, I)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(200_000, 60, generator=g, dtype=F64) + 0.5
    mc = float(((x @ (beta - p.beta_star)) ** 2).mean())
    assert gaussian_test_error(beta, p.beta_star, 0.5) == pytest.approx(mc, rel=0.02)
    with pytest.raises(ValueError, match="alpha"):
        q_alpha(beta, 0.0)
