"""Linear-DEQ gain and Jacobian spectra against closed forms and brute force."""

import math

import pytest
import torch

from icml22dl.analysis.deq import (
    jacobian_spectrum,
    linear_gain,
    linear_gain_theory,
    single_ring_radii,
    tanh_deq_jacobian,
)
from icml22dl.nn.init import matrix_family


def test_orthogonal_gain_matches_closed_form():
    # I - sigma Q has singular values |1 - sigma e^{i theta}|: q -> 1/|1 - sigma^2|, cond <= (1+s)/|1-s|
    for sigma in (0.5, 1.5, 2.0):
        w = matrix_family(256, "orthogonal", sigma, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        gain = linear_gain(w)
        assert gain["q"] == pytest.approx(linear_gain_theory("orthogonal", sigma), rel=0.05)
        assert gain["cond"] <= (1 + sigma) / abs(1 - sigma) + 1e-9


def test_gain_with_inputs_is_the_brute_force_ratio():
    g = torch.Generator().manual_seed(1)
    w = 0.3 * torch.randn(6, 6, generator=g, dtype=torch.float64)
    u = torch.randn(4, 6, generator=g, dtype=torch.float64)
    z = u.clone()
    for _ in range(500):  # plain iteration of the contraction z = W z + u (||W|| < 1 here)
        z = z @ w.T + u
    assert torch.allclose(z, torch.linalg.solve(torch.eye(6, dtype=torch.float64) - w, u.T).T, atol=1e-10)
    z = torch.linalg.solve(torch.eye(6, dtype=torch.float64) - w, u.T).T
    assert linear_gain(w, u)["q"] == pytest.approx((z.pow(2).sum() / u.pow(2).sum()).item(), rel=1e-12)


def test_gaussian_and_goe_theory_below_threshold():
    g = torch.Generator().manual_seed(2)
    w = matrix_family(1000, "gaussian", 0.5, generator=g, dtype=torch.float64)
    assert linear_gain(w)["q"] == pytest.approx(linear_gain_theory("gaussian", 0.5), rel=0.05)
    w = matrix_family(1000, "symmetric", 0.25, generator=g, dtype=torch.float64)
    assert linear_gain(w)["q"] == pytest.approx(linear_gain_theory("symmetric", 0.25), rel=0.05)
    assert linear_gain_theory("symmetric", 0.5) == math.inf and linear_gain_theory("gaussian", 1.0) == math.inf


def test_jacobian_spectrum_of_a_diagonal_case():
    w = torch.diag(torch.tensor([0.5, -0.95, 0.2], dtype=torch.float64))
    z = torch.zeros(2, 3, dtype=torch.float64)
    stats = jacobian_spectrum(tanh_deq_jacobian(w, z))
    assert stats["rho"] == pytest.approx(0.95)
    assert stats["sigma_min"] == pytest.approx(0.5)
    assert stats["near_one"] == 0.0


def test_single_ring_radii_constant_derivative():
    inner, outer = single_ring_radii(2.0, torch.full((10,), 0.5))
    assert inner == pytest.approx(1.0) and outer == pytest.approx(1.0)
