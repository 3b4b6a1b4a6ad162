"""EFLD samplers: noise moments on many draws, zero-noise limits, seeded reproducibility."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from icml22dl.optim import EFLD, SGLD, NoisySignSGD, QuantizedSGD
from icml22dl.optim.efld import efld_grid, sample_efld_noise

torch.set_num_threads(1)
DRAWS = 200_000


def _xi(opt_cls, grad_value: float, **kwargs) -> torch.Tensor:
    """The step direction xi = (w_before - w_after)/lr for DRAWS coordinates sharing one gradient."""
    p = nn.Parameter(torch.zeros(DRAWS, dtype=torch.float64))
    opt = opt_cls([p], lr=0.5, seed=3, **kwargs)
    p.grad = torch.full_like(p, grad_value)
    opt.step()
    return -p.detach() / 0.5


@pytest.mark.parametrize("g", [-0.7, 0.0, 0.3])
def test_sign_noise_moments(g: float) -> None:
    alpha = 1.5
    xi = _xi(NoisySignSGD, g, alpha=alpha)
    assert set(xi.unique().tolist()) <= {-1.0, 1.0}
    p_plus = 1 / (1 + math.exp(-2 * alpha * g))  # sigmoid(2 alpha g)
    se = math.sqrt(p_plus * (1 - p_plus) / DRAWS)
    assert abs((xi == 1).double().mean().item() - p_plus) < 5 * se
    assert abs(xi.mean().item() - math.tanh(alpha * g)) < 10 * se


@pytest.mark.parametrize("levels", [1, 2, (-1.0, -0.25, 0.5, 1.0)])
@pytest.mark.parametrize("g", [-0.4, 0.8])
def test_quantized_noise_is_the_grid_softmax(levels, g: float) -> None:
    alpha = 2.0
    grid = efld_grid(levels)
    xi = _xi(QuantizedSGD, g, alpha=alpha, levels=levels)
    weights = [math.exp(alpha * g * v) for v in grid]
    probs = [w / sum(weights) for w in weights]
    for v, pv in zip(grid, probs):
        freq = (xi == v).double().mean().item()
        assert abs(freq - pv) < 5 * math.sqrt(pv * (1 - pv) / DRAWS) + 1e-12, (v, freq, pv)
    assert set(xi.unique().tolist()) <= set(grid)
    mean = sum(v * pv for v, pv in zip(grid, probs))
    var = sum(v * v * pv for v, pv in zip(grid, probs)) - mean**2
    assert abs(xi.var().item() - var) < 0.02 and var <= max(abs(v) for v in grid) ** 2


def test_gaussian_and_sgld_moments_and_equivalence() -> None:
    xi = _xi(EFLD, 0.4, family="gaussian", alpha=3.0)
    assert abs(xi.mean().item() - 1.2) < 5 / math.sqrt(DRAWS) and abs(xi.var().item() - 1.0) < 0.02
    # SGLD: w <- w - lr g - lr s eps: mean g, std s per unit step.
    step = _xi(SGLD, 0.4, std_coef=0.5)
    assert abs(step.mean().item() - 0.4) < 5 * 0.5 / math.sqrt(DRAWS) and abs(step.std().item() - 0.5) < 0.005
    # A hand SGLD step with the same generator equals the optimizer's, and EFLD(gaussian, alpha = 1/s)
    # with step lr*s is the same update.
    gen_a, gen_b, gen_c = (torch.Generator().manual_seed(11) for _ in range(3))
    g = torch.randn(50, dtype=torch.float64)
    p, q = (nn.Parameter(torch.ones(50, dtype=torch.float64)) for _ in range(2))
    p.grad, q.grad = g.clone(), g.clone()
    SGLD([p], lr=0.1, std_coef=0.5, generator=gen_a).step()
    EFLD([q], lr=0.1 * 0.5, family="gaussian", alpha=2.0, generator=gen_b).step()
    hand = 1.0 - 0.1 * g - 0.1 * 0.5 * torch.randn(50, generator=gen_c, dtype=torch.float64)
    torch.testing.assert_close(p.detach(), hand, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(q.detach(), hand, rtol=1e-12, atol=1e-12)


def test_zero_noise_limits_are_deterministic() -> None:
    g = torch.tensor([-2.0, -0.1, 0.0, 0.3, 5.0], dtype=torch.float64)
    cases = [
        (SGLD, dict(std_coef=0.0), -0.2 * g),  # SGD
        (NoisySignSGD, dict(alpha=math.inf), -0.2 * torch.sign(g)),  # sign-SGD
        (QuantizedSGD, dict(alpha=math.inf, levels=2), -0.2 * torch.sign(g)),
    ]
    for cls, kwargs, delta in cases:
        for seed in (0, 1):
            p = nn.Parameter(torch.zeros(5, dtype=torch.float64))
            p.grad = g.clone()
            cls([p], lr=0.2, seed=seed, **kwargs).step()
            assert torch.equal(p.detach(), delta), cls
    # Large alpha approaches the limit: the sign sampler agrees with sign(g) nearly always.
    xi = sample_efld_noise(torch.full((10_000,), 0.5), "sign", 50.0, None, torch.Generator().manual_seed(0))
    assert (xi == 1).all()


def test_noise_is_reproducible_and_resumable() -> None:
    def run(steps: int, resume_at: int | None = None) -> torch.Tensor:
        p = nn.Parameter(torch.zeros(20, dtype=torch.float64))
        opt = NoisySignSGD([p], lr=0.1, alpha=1.0, seed=5)
        for t in range(steps):
            p.grad = torch.sin(p.detach() + t)
            opt.step()
            if t == resume_at:
                buffer = io.BytesIO()
                torch.save(opt.state_dict(), buffer)
                buffer.seek(0)
                opt = NoisySignSGD([p], lr=0.1, alpha=1.0, seed=999)
                opt.load_state_dict(torch.load(buffer, weights_only=True))
        return p.detach().clone()

    assert torch.equal(run(30), run(30)) and torch.equal(run(30), run(30, resume_at=9))
    p = nn.Parameter(torch.zeros(20, dtype=torch.float64))
    p.grad = torch.zeros(20, dtype=torch.float64)
    NoisySignSGD([p], lr=0.1, alpha=1.0, seed=6).step()
    assert not torch.equal(p.detach(), run(1))  # another seed, another stream


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda p: SGLD(p, lr=0.1, std_coef=-1.0), "std_coef"),
        (lambda p: NoisySignSGD(p, lr=0.1, alpha=0.0), "alpha"),
        (lambda p: EFLD(p, lr=0.1, family="gaussian", alpha=math.inf), "alpha"),
        (lambda p: EFLD(p, lr=0.1, family="laplace"), "family"),
        (lambda p: QuantizedSGD(p, lr=0.1, levels=0), "levels"),
        (lambda p: QuantizedSGD(p, lr=0.1, levels=(1.0,)), "levels"),
    ],
)
def test_invalid_arguments(make, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make([nn.Parameter(torch.ones(2))])
