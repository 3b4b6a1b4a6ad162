"""Baseline orthogonal convolutions: Cayley exact on circular signals, SOC skew-symmetric, RKO scaled."""

import pytest
import torch
import torch.nn.functional as F

from icml22dl.analysis.lipschitz import layer_jacobian
from icml22dl.nn.orthogonal_convs import CayleyConv2d, RKOConv2d, SOCConv2d


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_cayley_is_orthogonal_in_float64():
    layer = CayleyConv2d(3, 3, generator=gen()).double()
    sv = torch.linalg.svdvals(layer_jacobian(layer, (3, 6, 6)))
    assert (sv - 1).abs().max() < 1e-12


def test_soc_operator_is_skew_and_converges_to_the_matrix_exponential():
    layer = SOCConv2d(2, 3, terms=30, eval_terms=30, generator=gen(1)).double().eval()
    shape = (2, 5, 5)
    s = layer.skew_kernel(shape[1:])
    jac_s = layer_jacobian(lambda x: F.conv2d(x, s, padding=1), shape)
    assert torch.allclose(jac_s, -jac_s.T, atol=1e-14)
    assert torch.linalg.matrix_norm(jac_s, 2).item() == pytest.approx(1.0, abs=1e-2)  # power iteration, 20 steps
    jac = layer_jacobian(layer, shape)
    assert torch.allclose(jac, torch.linalg.matrix_exp(jac_s), atol=1e-12)
    layer5 = SOCConv2d(2, 3, terms=5, generator=gen(1)).double().train()
    sv5 = torch.linalg.svdvals(layer_jacobian(layer5, shape))
    assert (sv5 - 1).abs().max() > 1e-6  # 5 Taylor terms are not exact


def test_rko_is_one_lipschitz_and_far_from_norm_preserving():
    layer = RKOConv2d(4, 4, 3, generator=gen(2)).double()
    sv = torch.linalg.svdvals(layer_jacobian(layer, (4, 6, 6)))
    assert sv.max() <= 1 + 1e-12 and sv.mean() < 0.6
