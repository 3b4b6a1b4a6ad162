"""UFM-MSE and the extended UFM: manual gradients vs autograd, closed forms vs brute force, GD."""

import math

import numpy as np
import pytest
import torch

from icml22dl.analysis.collapse import collapse_metrics, of_etf_distance
from icml22dl.analysis.ufm import (
    UFMMSE,
    ExtendedUFM,
    etf_rho,
    extended_ufm_optimum,
    one_hot_targets,
    saddle_min_eigenvalue,
    ufm_mse_optimum,
    ufm_strict_saddle,
)


def _rand(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bias,lambda_b", [(True, 0.0), (True, 0.3), (False, 0.0)])
def test_ufm_manual_gradient_matches_autograd(bias, lambda_b):
    ufm = UFMMSE(3, 4, 5, 2e-2, 3e-2, lambda_b, bias=bias)
    W, H = _rand(3, 5, seed=1).requires_grad_(), _rand(5, 12, seed=2).requires_grad_()
    b = _rand(3, seed=3).requires_grad_() if bias else None
    params = [W, H] + ([b] if bias else [])
    auto = torch.autograd.grad(ufm.loss(W, H, b), params)
    manual = [g for g in ufm.grad(W.detach(), H.detach(), None if b is None else b.detach()) if g is not None]
    for a, m in zip(auto, manual):
        assert torch.allclose(a, m, atol=1e-12, rtol=0)


@pytest.mark.parametrize("activation,bias", [("identity", False), ("relu", False), ("relu", True)])
def test_extended_manual_gradient_matches_autograd(activation, bias):
    model = ExtendedUFM(3, 4, 5, 6, 1e-2, 2e-2, 3e-2, activation=activation, bias=bias, lambda_b=0.1)
    W2, W1, H = (
        _rand(3, 6, seed=1).requires_grad_(),
        _rand(6, 5, seed=2).requires_grad_(),
        _rand(5, 12, seed=3).requires_grad_(),
    )
    b = _rand(3, seed=4).requires_grad_() if bias else None
    params = [W2, W1, H] + ([b] if bias else [])
    auto = torch.autograd.grad(model.loss(W2, W1, H, b), params)
    manual = [
        g for g in model.grad(*(p.detach() for p in (W2, W1, H)), None if b is None else b.detach()) if g is not None
    ]
    for a, m in zip(auto, manual):
        assert torch.allclose(a, m, atol=1e-12, rtol=0)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lam", [1e-3, 2e-2, 0.2])
def test_closed_form_matches_svd_soft_thresholding(bias, lam):
    K, n = 5, 4
    opt = ufm_mse_optimum(K, n, lam, lam / 2, bias=bias)
    # Independent reference: soft-threshold the singular values of the (centred) target.
    Y = one_hot_targets(K, n).numpy()
    target = Y - Y.mean(1, keepdims=True) if bias else Y
    s = np.linalg.svd(target, compute_uv=False)
    N, t = n * K, math.sqrt(lam * lam / 2)
    shrunk = np.maximum(s - N * t, 0.0)
    f_ref = ((s - shrunk) ** 2).sum() / (2 * N) + t * shrunk.sum()
    assert opt.f_star == pytest.approx(f_ref, rel=1e-12)
    assert opt.singular_value == pytest.approx(shrunk.max(), abs=1e-12)


def test_gd_reaches_the_closed_form_with_a_bias_and_collapses_to_zero_past_c_1():
    ufm = UFMMSE(4, 5, 8, 5e-3, 5e-3, bias=True)
    state = ufm.gd(0.5, 6000, seed=0, init_std=0.05)
    opt = ufm.optimum()
    assert float(ufm.loss(state.W, state.H, state.b)) == pytest.approx(opt.f_star, rel=1e-8)
    assert torch.allclose(state.b, torch.full((4,), 0.25, dtype=torch.float64), atol=1e-5)
    lam = 1.2 / (4 * math.sqrt(5))  # c = 1.2
    zero = UFMMSE(4, 5, 8, lam, lam, bias=True)
    assert zero.optimum().collapsed_to_zero
    state = zero.gd(1.0, 6000, seed=0, init_std=0.05)
    assert float(torch.linalg.matrix_norm(state.W)) < 1e-8
    assert float(zero.loss(state.W, state.H, state.b)) == pytest.approx(3 / 8, rel=1e-10)  # (K-1)/(2K)


def test_bias_free_optimum_is_an_orthogonal_frame_and_the_bias_one_an_etf():
    K = 4
    results = {}
    for bias in (False, True):
        ufm = UFMMSE(K, 5, 8, 5e-3, 5e-3, bias=bias)
        state = ufm.gd(0.5, 8000, seed=1, init_std=0.05)
        results[bias] = collapse_metrics(state.H.T, ufm.labels, state.W, state.b)
        assert float(ufm.loss(state.W, state.H, state.b)) == pytest.approx(ufm.optimum().f_star, rel=1e-8)
    free, with_bias = results[False], results[True]
    assert free["of_gap_W"] < 1e-6 and free["of_gap_means"] < 1e-6
    assert free["nc2_etf_W_uncentred"] == pytest.approx(of_etf_distance(K), abs=1e-5)  # not an ETF
    assert free["nc2_etf_means_centred"] < 1e-6  # the centred metric cannot tell
    assert with_bias["nc2_etf_W_uncentred"] < 1e-6
    assert with_bias["of_gap_W"] == pytest.approx(of_etf_distance(K), abs=1e-5)  # not an OF


@pytest.mark.parametrize("r", [0, 1, 2, 3])
def test_strict_saddles_have_the_predicted_negative_curvature(r):
    K, n, d, lw, lh = 4, 3, 5, 5e-3, 1e-2
    Q = torch.linalg.qr(_rand(d, r, seed=r))[0] if r else None
    ufm, st = ufm_strict_saddle(K, n, d, r, lw, lh, Q=Q)
    assert max(float(g.abs().max()) for g in ufm.grad(st.W, st.H, st.b)) <= 1e-12
    eig = ufm.hessian_min_eigenvalue(st.W, st.H, st.b)
    if r < K - 1:
        assert eig == pytest.approx(saddle_min_eigenvalue(K, n, lw, lh), abs=1e-10)
        assert eig == pytest.approx(-0.1369, abs=1e-4)  # Zhou et al. 2022, strict-saddle theorem
    else:
        assert abs(eig) < 1e-12
        assert float(ufm.loss(st.W, st.H, st.b)) == pytest.approx(0.035842, abs=1e-6)
        assert float(ufm.loss(st.W, st.H, st.b)) == pytest.approx(ufm.optimum().f_star, abs=1e-14)


def test_extended_optimum_matches_a_dense_grid_and_the_zero_branch():
    for K, n, lam in ((4, 10, 5e-3), (3, 7, 2e-2), (5, 3, 1e-3)):
        opt = extended_ufm_optimum(K, n, lam, lam, lam)
        N, a = n * K, lam
        s = np.linspace(0.0, 2 * math.sqrt(n), 400001)
        g = (s - math.sqrt(n)) ** 2 / (2 * N) + 1.5 * a * s ** (2 / 3)
        assert opt.f_star == pytest.approx(K * g.min(), rel=1e-8)
        assert opt.s_star == pytest.approx(s[g.argmin()], abs=1e-3)
    first = extended_ufm_optimum(4, 10, 5e-3, 5e-3, 5e-3)
    assert first.f_star == pytest.approx(0.06369, abs=1e-5) and first.s_star == pytest.approx(3.024, abs=1e-3)
    big = extended_ufm_optimum(4, 10, 0.5, 0.5, 0.5)
    assert big.s_star == 0.0 and not big.interior and big.f_star == pytest.approx(4 * 10 / (2 * 40))


def test_linear_extended_gd_reaches_the_optimum_with_of_at_every_layer():
    model = ExtendedUFM(4, 10, 16, 16, 5e-3, 5e-3, 5e-3)
    state = model.gd(0.5, 5000, seed=0)
    assert float(model.loss(state.W, state.W1, state.H)) == pytest.approx(model.optimum().f_star, rel=1e-6)
    # Balance conditions of the first-order optimality (Tirer & Bruna 2022, extended UFM).
    assert torch.allclose(state.W.T @ state.W, state.W1 @ state.W1.T, atol=1e-6)
    assert torch.allclose(state.W1.T @ state.W1, state.H @ state.H.T, atol=1e-6)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="K="):
        UFMMSE(1, 3, 3, 1e-3, 1e-3)
    with pytest.raises(ValueError, match="lambda_W="):
        ufm_mse_optimum(3, 3, 0.0, 1e-3)
    with pytest.raises(ValueError, match="activation="):
        ExtendedUFM(3, 3, 3, 3, 1e-3, 1e-3, 1e-3, activation="tanh")
    with pytest.raises(ValueError, match="r="):
        ufm_strict_saddle(4, 3, 5, 4, 1e-3, 1e-3)


def test_etf_rho_matches_the_closed_form_at_the_gd_solution():
    ufm = UFMMSE(5, 10, 8, 1e-3, 2e-3, bias=True)
    state = ufm.gd(1.0, 4000, seed=1, init_std=0.01)
    rho = etf_rho(state.W)
    assert rho == pytest.approx(ufm.optimum().rho, rel=1e-4)  # GD to ~1e-5 of the optimum
    # Least squares by brute force: argmin_r ||W W^T - r P||_F over a fine grid around rho.
    P = torch.eye(5, dtype=torch.float64) - 0.2
    grid = torch.linspace(0.9 * rho, 1.1 * rho, 20001, dtype=torch.float64)
    errors = ((state.W @ state.W.T)[None] - grid[:, None, None] * P).pow(2).sum((1, 2))
    assert rho == pytest.approx(float(grid[errors.argmin()]), rel=1e-4)


def test_divergence_is_reported_not_raised():
    state = ExtendedUFM(4, 10, 16, 16, 5e-3, 5e-3, 5e-3).gd(50.0, 2000, seed=0, init_std=1.0, log_every=10)
    assert state.diverged_step is not None
