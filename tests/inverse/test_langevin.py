"""Langevin through generators: the Jacobian, the Hand-Voroninski field, and the stationary
covariance against a discrete Lyapunov solve and against simulated chains."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from icml22dl.inverse import hv_field, langevin, random_relu_generator, stationary_covariance


def test_jacobian_matches_autograd():
    G = random_relu_generator((5, 40, 80), torch.Generator().manual_seed(0))
    x = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = torch.autograd.functional.jacobian(lambda v: G(v[None])[0], x)
    assert torch.allclose(G.jacobian(x), expected, atol=1e-12)


def test_weights_have_variance_one_over_n_out():
    G = random_relu_generator((50, 400), torch.Generator().manual_seed(2))
    assert G.weights[0].var().item() == pytest.approx(1 / 400, rel=0.03)


def test_field_vanishes_at_x_star_and_points_away_from_it_elsewhere():
    x_star = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert hv_field(x_star, x_star, 2).abs().max().item() < 1e-12
    x = torch.tensor([[2.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    # At x = 2 x* the field is 2^-d (x - x*) exactly (all angles 0).
    assert torch.allclose(hv_field(x[:1], x_star, 2), 0.25 * (x[:1] - x_star), atol=1e-12)


def _field_error(widths, xs, x_star, g):
    G = random_relu_generator(widths, g)
    x = xs.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(0.5 * (G(x) - G(x_star)).pow(2).sum(), x)
    field = hv_field(xs, x_star, len(widths) - 1)
    return ((grad - field).norm(dim=1) / field.norm(dim=1)).mean().item()


def test_finite_sample_gradient_concentrates_around_the_field():
    # grad of 1/2 ||G(x) - G(x*)||^2 for a random G vs h_{x, x*}: close, and closer as the
    # layers widen (concentration at rate ~ n^-1/2: x4 widths halve the error, measured
    # 0.28 -> 0.14 at d = 2); at d = 1 the field is the exact expectation (4 % at n = 20000).
    g = torch.Generator().manual_seed(3)
    k = 8
    x_star = torch.randn(k, dtype=torch.float64, generator=g)
    x_star = x_star / x_star.norm()
    xs = torch.randn(6, k, dtype=torch.float64, generator=g)
    narrow = _field_error((k, 250, 2000), xs, x_star, g)
    wide = _field_error((k, 1000, 8000), xs, x_star, g)
    assert wide < 0.2
    assert wide < 0.7 * narrow
    assert _field_error((k, 20000), xs, x_star, g) < 0.06


def test_stationary_covariance_solves_the_discrete_lyapunov_equation():
    g = torch.Generator().manual_seed(4)
    J = torch.randn(30, 4, dtype=torch.float64, generator=g) / 5
    A = torch.randn(20, 30, dtype=torch.float64, generator=g) / math.sqrt(20)
    beta, eta = 50.0, 0.5
    H = (A @ J).T @ (A @ J)
    M = np.eye(4) - eta * H.numpy()
    expected = scipy.linalg.solve_discrete_lyapunov(M, 2 * eta / beta * np.eye(4))
    assert np.allclose(stationary_covariance(J, A, beta, eta).numpy(), expected, atol=1e-12)


def test_langevin_on_a_linear_generator_has_the_closed_form_spread():
    # G(x) = W x: the chain is Gaussian AR(1); its stationary covariance is the closed form.
    g = torch.Generator().manual_seed(5)
    k, n, m = 3, 20, 15
    W = torch.randn(n, k, dtype=torch.float64, generator=g) / math.sqrt(n)
    A = torch.randn(m, n, dtype=torch.float64, generator=g) / math.sqrt(m)
    M = A @ W
    x_star = torch.tensor([1.0, -0.5, 0.2], dtype=torch.float64)
    y = M @ x_star
    H = M.T @ M
    eta = 1.5 / torch.linalg.eigvalsh(H).max().item()  # eta lambda_max = 1.5: large O(eta) inflation
    beta = 200.0

    samples = []
    x = langevin(
        lambda x: (x @ M.T - y) @ M,
        x_star.repeat(4000, 1),
        eta,
        beta,
        300,
        g,
        callback=lambda t, x: samples.append(x.clone()) if t > 200 and t % 20 == 0 else None,
    )
    pooled = torch.cat(samples)
    empirical = torch.cov(pooled.T)
    predicted = stationary_covariance(W, A, beta, eta)
    assert torch.trace(empirical).item() == pytest.approx(torch.trace(predicted).item(), rel=0.03)
    assert (empirical - predicted).norm().item() < 0.05 * predicted.norm().item()
    assert pooled.mean(0).sub(x_star).norm().item() < 0.02 * math.sqrt(torch.trace(predicted).item()) * 10
    continuous = torch.linalg.inv(H) / beta  # the Laplace approximation misses the inflation
    assert torch.trace(empirical).item() > 1.2 * torch.trace(continuous).item()
    assert x.shape == (4000, 3)


def test_langevin_with_infinite_beta_is_gradient_descent():
    H = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    x0 = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    x = x0.clone()
    for _ in range(25):
        x = x - 0.1 * x @ H
    assert torch.allclose(langevin(lambda v: v @ H, x0, 0.1, math.inf, 25), x, atol=1e-14)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="eta"):
        langevin(lambda x: x, torch.zeros(1, 2), 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="beta"):
        langevin(lambda x: x, torch.zeros(1, 2), 0.1, -1.0, 3)
    with pytest.raises(ValueError, match="eta"):
        stationary_covariance(torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64), 1.0, 3.0)
    with pytest.raises(ValueError, match="widths"):
        random_relu_generator((3,))
    with pytest.raises(ValueError, match="depth"):
        hv_field(torch.ones(2), torch.ones(2), 0)
