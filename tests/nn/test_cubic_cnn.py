"""CubicPatchCNN (Jelassi & Li, ICML 2022): forward, closed-form gradient, metrics, phase-1 step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from icml22dl.data.synthetic import margin_patches, random_unit_vector
from icml22dl.nn import CubicPatchCNN, get_model
from icml22dl.optim import EMAMomentum

torch.set_num_threads(1)


def _model(dim: int = 5, filters: int = 3, init_std: float = 0.5, seed: int = 0) -> CubicPatchCNN:
    return CubicPatchCNN(dim, filters, init_std, generator=torch.Generator().manual_seed(seed)).double()


def test_forward_matches_patch_filter_loop() -> None:
    model = _model()
    x = torch.randn(4, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = model.weight.detach()
    expected = torch.zeros(4, dtype=torch.float64)
    for b in range(4):
        for r in range(3):
            for j in range(6):
                expected[b] += torch.dot(w[r], x[b, j]) ** 3
    out = model(x)
    assert out.shape == (4,)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-14)


def test_init_shape_std_and_seed() -> None:
    model = CubicPatchCNN(30, 400, 0.2, generator=torch.Generator().manual_seed(0))
    assert model.weight.shape == (400, 30) and model.weight.dtype == torch.float32
    # 12 000 draws: the sample std is within 4 of its standard errors (std / sqrt(2n)) of init_std.
    assert abs(model.weight.std().item() - 0.2) <= 4 * 0.2 / (2 * 12_000) ** 0.5
    same = CubicPatchCNN(30, 400, 0.2, generator=torch.Generator().manual_seed(0))
    other = CubicPatchCNN(30, 400, 0.2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model.weight, same.weight) and not torch.equal(model.weight, other.weight)
    assert isinstance(get_model("cubic_patch_cnn", dim=30, filters=10, init_std=0.1), CubicPatchCNN)


def test_gradient_matches_closed_form() -> None:
    """d/dw_r of sum_b u_b f(X_b) = sum_b u_b sum_j 3 <w_r, X_b[j]>^2 X_b[j] (u: upstream gradient)."""
    g = torch.Generator().manual_seed(2)
    model = _model(dim=7, filters=4)
    x = torch.randn(9, 5, 7, dtype=torch.float64, generator=g)
    upstream = torch.randn(9, dtype=torch.float64, generator=g)
    model(x).backward(upstream)
    z = torch.einsum("bjd,rd->bjr", x, model.weight.detach())
    expected = torch.einsum("b,bjr,bjd->rd", upstream, 3 * z**2, x)
    assert model.weight.grad is not None
    torch.testing.assert_close(model.weight.grad, expected, rtol=1e-8, atol=1e-8)


def test_gradcheck_float64() -> None:
    model = _model(dim=4, filters=3)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 4, dtype=torch.float64, requires_grad=True, generator=g)
    weight = model.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda w, inp: functional_call(model, {"weight": w}, (inp,)), (weight, x))


def test_alignment_is_signed_max() -> None:
    model = CubicPatchCNN(3, 2, 0.0)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-5.0, 0.0, 0.0], [0.5, 1.0, 0.0]]))
    w_star = torch.tensor([1.0, 0.0, 0.0])
    # Signed: 0.5, not |-5|; with the fixed +1 output layer only positive alignment classifies.
    assert model.alignment(w_star).item() == pytest.approx(0.5)
    assert not model.alignment(w_star).requires_grad
    with pytest.raises(ValueError, match="w_star"):
        model.alignment(torch.ones(4))


def test_memorisation_is_max_abs_over_filters_and_patches() -> None:
    model = CubicPatchCNN(3, 2, 0.0)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    noise = torch.tensor([[[0.1, 0.2, 9.0], [0.0, -0.7, 0.0]], [[0.3, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert model.memorisation(noise).item() == pytest.approx(0.7)
    assert model.memorisation(noise[0, 0]).item() == pytest.approx(0.2)  # a single patch (d,)
    with pytest.raises(ValueError, match="noise_patches"):
        model.memorisation(torch.zeros(0, 3))


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="^dim=0 "):
        CubicPatchCNN(0, 2, 0.1)
    with pytest.raises(ValueError, match="^filters="):
        CubicPatchCNN(3, 0, 0.1)
    with pytest.raises(ValueError, match="^init_std=-0.1 "):
        CubicPatchCNN(3, 2, -0.1)
    with pytest.raises(ValueError, match=r"^x must have shape \(B, P, 3\)"):
        CubicPatchCNN(3, 2, 0.1)(torch.zeros(4, 5, 2))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_phase_one_step_grows_alignment_by_tensor_power(momentum: float) -> None:
    r"""One full-batch step raises each c_r = <w_r, w*> by (3/2) eta (1-gamma) [(1-mu^) + mu^ alpha^3] c_r^2.

    Derivation. L = (1/N) sum_i softplus(-y_i f_i) and d softplus(-z)/dz = -1 / (1 + e^z), which is -1/2
    at z = 0; with sigma_0 = 1e-4 every f_i is O(m P sigma_0^3), so the logistic slope is 1/2 to ~1e-10.
    Then -grad_{w_r} L = (1/N) sum_i (1/2) y_i sum_j 3 <w_r, X_i[j]>^2 X_i[j]. Noise patches are orthogonal
    to w*, so only the signal patch X_i[p] = s_i y_i w* (s_i = 1 on Z1, alpha on Z2) survives projection:
    <-grad, w*> = (1/N) sum_i (1/2) y_i 3 s_i^2 c_r^2 s_i y_i = (3/2) c_r^2 (1/N) sum_i s_i^3
                = (3/2) [(1 - mu^) + mu^ alpha^3] c_r^2.
    GD moves c_r by eta times that; the first EMA step by eta (1 - gamma) times that (zero buffer).
    """
    eta, alpha, mu = 1.0, 0.2, 0.2
    g = torch.Generator().manual_seed(0)
    w_star = random_unit_vector(30, g, dtype=torch.float64)
    data = margin_patches(500, 30, 5, mu, alpha, 0.3, w_star, g)
    model = CubicPatchCNN(30, 10, 1e-4, generator=g).double()
    c_before = model.weight.detach() @ w_star
    opt = EMAMomentum(model.parameters(), lr=eta, momentum=momentum)
    F.softplus(-data.y * model(data.x)).mean().backward()
    opt.step()
    growth = model.weight.detach() @ w_star - c_before
    mu_hat = data.small_margin.double().mean()
    expected = 1.5 * eta * (1 - momentum) * ((1 - mu_hat) + mu_hat * alpha**3) * c_before**2
    assert (growth > 0).all()  # c_r^2 > 0: even anti-aligned filters move towards w* (and stall at 0-)
    torch.testing.assert_close(growth, expected, rtol=1e-2, atol=0)
