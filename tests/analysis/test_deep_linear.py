"""Reduced dynamics, critical points, escape time and final rate against independent references."""

import math

import pytest
import torch

from icml22dl.analysis.deep_linear import (
    crossing_time,
    end_to_end_critical_points,
    escape_time,
    final_rate,
    fitted_rate,
    reduced_flow,
    saddle_escape_rate,
)
from icml22dl.data.linear_targets import spectral_target
from icml22dl.nn.linear_nets import balanced_rank_one_init, factor_flow, factor_gradients

F64 = torch.float64
SIGMAS = (3.0, 2.0, 1.0, 0.5, 0.2)


def test_critical_points_have_zero_factor_gradient_and_the_stated_losses():
    z = spectral_target(SIGMAS, 5, 6, torch.Generator().manual_seed(0))
    U, S, Vh = torch.linalg.svd(z, full_matrices=False)
    points = end_to_end_critical_points(z)
    total = 0.5 * sum(s * s for s in SIGMAS)
    assert points[0][1] == pytest.approx(total)
    for j, (w, loss) in enumerate(points[1:]):
        assert loss == pytest.approx(total - 0.5 * SIGMAS[j] ** 2, rel=1e-12)
        assert float(0.5 * ((w - z) ** 2).sum()) == pytest.approx(loss, rel=1e-12)
        ws = balanced_rank_one_init(
            (6, 1, 3, 5), SIGMAS[j], U[:, j].clone(), Vh[j].clone(), generator=torch.Generator().manual_seed(j)
        )
        grads, _, _ = factor_gradients(ws, z)
        assert max(float(g.abs().max()) for g in grads) <= 1e-12
    # brute force: no rank-one matrix near the global minimum has a lower loss
    best = points[1][1]
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        w = points[1][0] + 0.05 * torch.outer(
            torch.randn(5, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)
        )
        assert float(0.5 * ((w - z) ** 2).sum()) >= best - 1e-12 or torch.linalg.matrix_rank(w) > 1


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_escape_time_quadrature_matches_the_reduced_ode_and_the_asymptotics(depth):
    sigma1, s0 = 3.0, 1e-2
    e = torch.zeros(2, dtype=F64)
    e[0] = 1.0
    z = torch.diag(torch.tensor([sigma1, 1.0], dtype=F64))
    t_quad = escape_time(s0, sigma1, depth)
    flow = reduced_flow(z, s0, e, e, depth, 1.2 * t_quad, 1e-3)
    k = int(torch.nonzero(flow.s >= sigma1 / 2)[0])
    assert float(flow.times[k]) == pytest.approx(t_quad, abs=1.5e-3)  # crossing resolved to one step
    if depth == 2:  # closed form: ds/dt = 2 s (sigma1 - s) is logistic
        exact = (math.log((sigma1 / 2) / s0) - math.log((sigma1 / 2) / (sigma1 - s0))) / (2 * sigma1)
        assert t_quad == pytest.approx(exact, rel=1e-10)
    tiny = 1e-8
    ratio = escape_time(tiny, sigma1, depth) / (
        math.log(sigma1 / tiny) / (2 * sigma1)
        if depth == 2
        else tiny ** (-(depth - 2) / depth) / ((depth - 2) * sigma1)
    )
    assert ratio == pytest.approx(1.0, rel=0.05)


def test_final_rate_matches_the_fitted_slope_of_factor_flow():
    z = spectral_target(SIGMAS, 5, 6, torch.Generator().manual_seed(2))
    U, S, Vh = torch.linalg.svd(z, full_matrices=False)
    l_star = 0.5 * sum(s * s for s in SIGMAS[1:])
    u0 = U[:, 0] + 0.3 * U[:, 1]
    v0 = Vh[0] + 0.3 * Vh[1]
    ws = balanced_rank_one_init((6, 1, 5), 1.0, u0 / u0.norm(), v0 / v0.norm())
    flow = factor_flow(ws, z, 8.0, 2e-3, record_every=5)
    excess = flow.loss - l_star
    m = (excess > 1e-10) & (excess < 1e-5)
    t, y = flow.times[m], torch.log(excess[m])
    slope = float(((t - t.mean()) * (y - y.mean())).sum() / ((t - t.mean()) ** 2).sum())
    assert -slope == pytest.approx(final_rate(SIGMAS, 2), rel=0.03)
    assert final_rate(SIGMAS, 2) == pytest.approx(2.0)
    assert final_rate(SIGMAS, 3) == pytest.approx(2 * 3 ** (1 / 3))


def test_saddle_start_stays_at_the_saddle_and_bad_input_raises():
    z = spectral_target(SIGMAS, 5, 6, torch.Generator().manual_seed(3))
    U, S, Vh = torch.linalg.svd(z, full_matrices=False)
    flow = reduced_flow(z, SIGMAS[1], U[:, 1].clone(), Vh[1].clone(), 3, 5.0, 1e-3, record_every=100)
    l_saddle = 0.5 * (sum(s * s for s in SIGMAS) - SIGMAS[1] ** 2)
    assert float((flow.loss - l_saddle).abs().max()) <= 1e-10
    with pytest.raises(ValueError, match="s0"):
        escape_time(2.0, 3.0, 2)
    with pytest.raises(ValueError, match="depth"):
        reduced_flow(z, 0.1, U[:, 0], Vh[0], 0, 1.0, 0.1)


def test_crossing_time_interpolates_an_analytic_curve():
    # s(t) = t^2 on a coarse grid: the crossing of 2 lies at sqrt(2), linear interpolation
    # between t = 1 (1) and t = 2 (4) gives 1 + 1/3.
    times = torch.arange(0.0, 4.0, dtype=F64)
    assert crossing_time(times, times**2, 2.0) == pytest.approx(1.0 + 1.0 / 3.0)
    fine = torch.linspace(0.0, 3.0, 30001, dtype=F64)
    assert crossing_time(fine, fine**2, 2.0) == pytest.approx(math.sqrt(2.0), abs=1e-7)
    assert math.isnan(crossing_time(times, times**2, 100.0))  # never reached
    assert math.isnan(crossing_time(times, times**2 + 5.0, 2.0))  # starts above the level
    with pytest.raises(ValueError, match="vectors"):
        crossing_time(times, times[:2], 1.0)


def test_fitted_rate_recovers_an_exponential_and_needs_points_in_the_window():
    t = torch.linspace(0.0, 20.0, 2001, dtype=F64)
    excess = 3.0 * torch.exp(-1.7 * t) * (1.0 + 1e-3 * torch.sin(t))
    assert fitted_rate(t, excess, (1e-12, 1e-2)) == pytest.approx(1.7, rel=1e-3)
    assert math.isnan(fitted_rate(t[:5], excess[:5], (1e-12, 1e-2)))
    with pytest.raises(ValueError, match="window"):
        fitted_rate(t, excess, (1e-2, 1e-12))


@pytest.mark.parametrize("depth", [2, 3])
def test_saddle_escape_rate_is_the_slope_of_the_delay_in_log_one_over_p1(depth):
    # Starts at the saddle's s = sigma_2 with (u, v) = (u_2 + eps u_1, v_2 + eps v_1)/norm, so
    # p_1(0) ~ 2 eps: the time for |p_1| to reach 1 grows like ln(1/eps) / lambda.
    z = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=F64))
    e = torch.eye(3, dtype=F64)
    lam = saddle_escape_rate((3.0, 2.0, 1.0), depth)
    times = []
    for eps in (1e-4, 1e-6):
        u0 = e[1] + eps * e[0] + 0.1 * e[2]
        flow = reduced_flow(z, 2.0, u0 / u0.norm(), u0 / u0.norm(), depth, 30.0, 1e-2, record_every=10)
        p1 = flow.u[:, 0] + flow.v[:, 0]
        assert bool((p1 > 0).all())  # p_1 never changes sign
        times.append(crossing_time(flow.times, p1, 1.0))
    slope = (times[1] - times[0]) / math.log(1e-4 / 1e-6)
    assert slope == pytest.approx(1.0 / lam, rel=0.02)
    with pytest.raises(ValueError, match="two positive"):
        saddle_escape_rate((3.0,), 2)
