"""SC-Fac layers: float64 Jacobian spectra (brute force), inverses, init, dtype, caching, pieces."""

import pytest
import torch
import torch.nn.functional as F

from icml22dl.analysis.lipschitz import layer_jacobian, orthogonality_error
from icml22dl.nn.paraunitary import (
    ConvexSkip,
    GroupSort,
    LipschitzAvgPool2d,
    OrthogonalLinear,
    OrthogonalMatrix,
    ParaunitaryConv1d,
    ParaunitaryConv2d,
    ParaunitaryConvTranspose2d,
    multi_margin_hinge,
    paraunitary_variants,
)

TOL = 1e-10  # docs/papers/paraunitary.md#claim-and-thresholds (exact_singular_values)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def perturbed(layer, g, scale=0.05):
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return layer


SWEEP = paraunitary_variants(4)


@pytest.mark.parametrize(
    "index",
    range(len(SWEEP)),
    ids=lambda i: "k{kernel_size}s{stride}d{dilation}{padding_mode}g{groups}o{out_channels}".format(**SWEEP[i]),
)
def test_every_sweep_variant_is_exact_in_float64(index):
    spec = SWEEP[index]
    _check_variant(spec, gen(index))


def _check_variant(spec, g):
    # Q4.1 (C_in = 4 here, 8 in the quick claim): every Jacobian singular value within
    # 1e-10 of 1 and the reverse pass recovers the input, except row-orthogonal layers with
    # zero padding: a cropped co-isometry is not an isometry of finite signals (checked below).
    layer = perturbed(ParaunitaryConv2d(**spec, init="uniform", generator=g).double(), g)
    shape = (spec["in_channels"], 8, 8)
    sv = torch.linalg.svdvals(layer_jacobian(layer, shape))
    x = torch.randn(2, *shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = layer(x)
        back = layer(y, reverse=True)
    if layer.orthogonality == "row" and spec["padding_mode"] == "zeros" and max(layer.taps) > 1:
        assert sv.min() < 0.5  # not orthogonal, as the linear-algebra argument says
        return
    assert (sv - 1).abs().max() < TOL
    if layer.orthogonality == "row":
        with torch.no_grad():
            assert (layer(back) - y).abs().max() < TOL  # right inverse
    else:
        assert (back - x).abs().max() < TOL
    # output size: circular n/s; zeros (n + d(k-1) + 1 - s)/s
    k, s, d = spec["kernel_size"], spec["stride"], spec["dilation"]
    n_out = 8 // s if spec["padding_mode"] == "circular" else (8 + d * (k - 1) + 1 - s) // s
    assert y.shape == (2, spec["out_channels"], n_out, n_out)


def test_weight_matches_a_plain_convolution_and_the_circulant_spectrum():
    # independent reference: circular conv via nn.functional with explicit wrap, and the FFT of the
    # kernel (singular values of a circular conv are those of the per-frequency matrices)
    g = gen(1)
    layer = perturbed(ParaunitaryConv2d(6, 6, 3, init="uniform", generator=g).double(), g)
    x = torch.randn(1, 6, 8, 8, generator=g, dtype=torch.float64)
    w = layer.weight
    ref = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), w)
    assert torch.allclose(layer(x), ref, atol=1e-13)
    big = torch.zeros(6, 6, 8, 8, dtype=torch.float64)
    big[:, :, :3, :3] = w
    sv = torch.linalg.svdvals(torch.fft.fft2(big).permute(2, 3, 0, 1))
    assert (sv - 1).abs().max() < TOL


def test_stride_equals_pixel_unshuffle_then_polyphase_conv():
    g = gen(2)
    layer = ParaunitaryConv2d(3, 12, 4, stride=2, init="uniform", padding_mode="zeros", generator=g).double()
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    w = layer.weight  # (12, 3, 4, 4), tap h = p*2 + phase
    poly = w.reshape(12, 3, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(12, 12, 2, 2)
    ref = F.conv2d(F.pad(F.pixel_unshuffle(x, 2), (1, 1, 1, 1)), poly)
    assert torch.allclose(layer(x), ref, atol=1e-13)


def test_float32_built_then_cast_loses_orthogonality_but_built_in_float64_does_not():
    g = gen(3)
    layer = perturbed(ParaunitaryConv2d(8, 8, 3, init="uniform", generator=g), g)
    cast = layer.weight.detach().double()
    big = torch.zeros(8, 8, 8, 8, dtype=torch.float64)
    big[:, :, :3, :3] = cast
    dev_cast = (torch.linalg.svdvals(torch.fft.fft2(big).permute(2, 3, 0, 1)) - 1).abs().max().item()
    dev64 = orthogonality_error(layer.double(), (8, 8, 8))["max_abs_dev"]
    assert dev_cast > 1e-8 and dev64 < 1e-13


def test_float32_checkpoint_loaded_into_float64_stays_exact():
    g = gen(11)
    src = perturbed(ParaunitaryConv2d(4, 8, 3, init="uniform", generator=g), g)
    dst = ParaunitaryConv2d(4, 8, 3, init="uniform", generator=gen(12)).double()
    dst.load_state_dict(src.state_dict())
    assert orthogonality_error(dst, (4, 8, 8))["max_abs_dev"] < TOL
    assert torch.allclose(dst.weight.float(), src.weight, atol=1e-5)


def test_intended_permutation_init_is_a_centre_tap_and_the_official_tie_is_not():
    for k in (3, 5):
        for tie, centre_only in (("intended", True), ("official", False)):
            layer = ParaunitaryConv2d(8, 8, k, init="permutation", tie=tie, generator=gen(4)).double()
            w = layer.weight.detach()
            c = k // 2
            off = w.clone()
            off[:, :, c, c] = 0
            assert (off.abs().max() < 1e-12) == centre_only
            if centre_only:
                centre = w[:, :, c, c]
                assert torch.equal(centre.abs().round(), centre.abs().round())
                assert torch.allclose(centre.abs().sum(0), torch.ones(8, dtype=torch.float64))  # a permutation
    # symmetric Q0 (identity): the two ties agree
    a = ParaunitaryConv2d(4, 4, 3, init="identical", tie="intended", generator=gen(5)).weight
    b = ParaunitaryConv2d(4, 4, 3, init="identical", tie="official", generator=gen(5)).weight
    assert torch.allclose(a, b)


def test_eval_mode_caches_the_kernel_until_a_parameter_changes():
    layer = ParaunitaryConv2d(4, 4, 3, init="uniform", generator=gen()).eval()
    with torch.no_grad():
        a, b = layer.weight, layer.weight
        assert a is b
        layer.systems[0][0].q0.A.add_(0.1)
        assert layer.weight is not a
    layer.train()
    assert layer.weight is not layer.weight


def test_one_d_and_transposed_layers():
    g = gen(6)
    c1 = perturbed(ParaunitaryConv1d(4, 8, 4, stride=2, init="uniform", generator=g).double(), g)
    assert orthogonality_error(c1, (4, 16))["max_abs_dev"] < TOL
    t = ParaunitaryConvTranspose2d(16, 4, 2, stride=2, init="uniform", generator=g).double()
    assert orthogonality_error(t, (16, 4, 4))["max_abs_dev"] < TOL
    y = torch.randn(2, 16, 4, 4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(t(t(y), reverse=True), y, atol=1e-12)


def test_gradients_flow_and_keep_orthogonality_after_an_optimiser_step():
    g = gen(7)
    layer = ParaunitaryConv2d(4, 4, 3, init="permutation", generator=g).double()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    x = torch.randn(3, 4, 8, 8, generator=g, dtype=torch.float64)
    layer(x).square().mul(torch.arange(4.0, dtype=torch.float64).view(1, 4, 1, 1)).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    opt.step()
    assert orthogonality_error(layer, (4, 8, 8))["max_abs_dev"] < TOL


def test_orthogonal_matrix_and_linear():
    q = OrthogonalMatrix(5, orthogonal_map="cayley", generator=gen()).double()
    with torch.no_grad():
        q.A.normal_()
    m = q()
    assert torch.allclose(m.T @ m, torch.eye(5, dtype=torch.float64), atol=1e-13)
    tall = OrthogonalLinear(3, 7, generator=gen()).double()
    assert torch.allclose(tall.weight.T @ tall.weight, torch.eye(3, dtype=torch.float64), atol=1e-13)
    wide = OrthogonalLinear(7, 3, generator=gen()).double()
    assert torch.allclose(wide.weight @ wide.weight.T, torch.eye(3, dtype=torch.float64), atol=1e-13)


def test_groupsort_pool_and_skip_jacobians():
    g = gen(8)
    x = torch.randn(6, 8, 4, 4, generator=g, dtype=torch.float64)
    for gs in (GroupSort(2), GroupSort(4)):
        # a per-sample permutation: exactly norm-preserving, and sorted groups
        assert torch.allclose(gs(x).flatten(1).norm(dim=1), x.flatten(1).norm(dim=1))
    ref = torch.cat([torch.maximum(x[:, :4], x[:, 4:]), torch.minimum(x[:, :4], x[:, 4:])], 1)
    assert torch.equal(GroupSort(2)(x), ref)
    assert orthogonality_error(LipschitzAvgPool2d(2), (2, 4, 4))["max_abs_dev"] < 1e-14
    skip = ConvexSkip(ParaunitaryConv2d(2, 2, 3, init="uniform", generator=g).double(), init=0.3)
    jac = layer_jacobian(skip, (2, 4, 4))
    assert torch.linalg.matrix_norm(jac, 2).item() <= 1 + 1e-12


def test_hinge_matches_torch_multi_margin_loss():
    g = gen(9)
    logits = torch.randn(10, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (10,), generator=g)
    assert multi_margin_hinge(logits, y, 0.5).item() == pytest.approx(F.multi_margin_loss(logits, y, margin=0.5).item())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kernel_size=3, stride=2), "stride"),
        (dict(kernel_size=2, stride=2, dilation=2), "dilation"),
        (dict(kernel_size=4), "odd"),
        (dict(kernel_size=3, padding_mode="reflect"), "padding_mode"),
        (dict(kernel_size=3, groups=3), "groups"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParaunitaryConv2d(4, 4, **kwargs)


def test_the_variant_sweep_is_complete_and_checked():
    variants = paraunitary_variants(4)
    # k 1-5 x stride 1/2 (s | k) x dilation 1/2 (not with s = 2, not for k = 1) x 2 paddings x 2 groups x 3 ratios
    assert len(variants) == 132 and len({tuple(sorted(v.items())) for v in variants}) == 132
    assert all(v["kernel_size"] % v["stride"] == 0 for v in variants)
    with pytest.raises(ValueError, match="even"):
        paraunitary_variants(5)
