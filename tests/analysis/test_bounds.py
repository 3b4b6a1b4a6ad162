"""EFLD / Li et al. bound estimators against hand-computed values and a loop of single backward passes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from icml22dl.analysis import EFLDBound, efld_bound, efld_bound_trajectory, li_bound, per_sample_grads

torch.set_num_threads(1)


def _half_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out.squeeze(-1) - y) ** 2).sum()


def test_per_sample_grads_match_single_backward_passes() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(7, 6), torch.randint(0, 3, (7,))
    fast = per_sample_grads(model, F.cross_entropy, x, y)
    for i in range(7):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        slow = torch.cat([p.grad.flatten() for p in model.parameters()])
        torch.testing.assert_close(fast[i], slow, rtol=1e-6, atol=1e-6)


def test_hand_computed_linear_case() -> None:
    # f(x) = w.x, loss 1/2 (w.x - y)^2, gradient (w.x - y) x. Two steps at w0 = (1, 0), w1 = (0.5, 0.5).
    model = nn.Linear(2, 1, bias=False)
    pairs = (
        torch.tensor([[1.0, 0.0], [0.0, 2.0]]),
        torch.tensor([0.0, 1.0]),
        torch.tensor([[0.0, 1.0], [1.0, 1.0]]),
        torch.tensor([1.0, 0.0]),
    )
    bound = EFLDBound(model, _half_mse, pairs, n=10, constant=2.0, li_constant=3.0)
    alphas = (2.0, 1.0)
    for w, alpha in zip(([1.0, 0.0], [0.5, 0.5]), alphas):
        with torch.no_grad():
            model.weight.copy_(torch.tensor([w]))
        bound.update(alpha)
    # Step 1 (w0): pair 1: g(z)=(1-0)(1,0)=(1,0), g(z')=(0-1)(0,1)=(0,-1): |d|^2=2;
    #              pair 2: g(z)=(0-1)(0,2)=(0,-2), g(z')=(1-0)(1,1)=(1,1): |d|^2=1+9=10.
    # Step 2 (w1): pair 1: g(z)=0.5(1,0), g(z')=(0.5-1)(0,1)=(0,-0.5): |d|^2=0.5;
    #              pair 2: g(z)=(1-1)(0,2)=0, g(z')=(1-0)(1,1): |d|^2=2.
    s1 = 4 * 2 + 1 * 0.5
    s2 = 4 * 10 + 1 * 2
    assert bound.value() == pytest.approx(2 / 10 * (math.sqrt(s1) + math.sqrt(s2)) / 2, rel=1e-12)
    # Li: alpha^2 * mean_i |g(z_i)|^2: step 1 (1 + 4)/2, step 2 (0.25 + 0)/2.
    li = 4 * 2.5 + 1 * 0.125
    assert bound.li_value() == pytest.approx(3 / 10 * math.sqrt(li), rel=1e-12)
    assert bound.value(constant=4.0) == pytest.approx(2 * bound.value(), rel=1e-12)
    assert efld_bound(torch.tensor([4.0, 16.0]), 3, 1.5) == pytest.approx(1.5 / 3 * 3.0)
    assert li_bound(9.0, 3, 2.0) == pytest.approx(2.0)


def test_bound_scales_as_alpha_and_one_over_n() -> None:
    torch.manual_seed(1)
    model = nn.Linear(4, 3)
    pairs = (torch.randn(16, 4), torch.randint(0, 3, (16,)), torch.randn(16, 4), torch.randint(0, 3, (16,)))
    values = []
    for std_coef, n in ((0.5, 100), (1.0, 100), (0.5, 400)):
        bound = EFLDBound(model, F.cross_entropy, pairs, n=n)
        for _ in range(3):
            bound.update(1.0 / std_coef)  # same trajectory: the model is not trained here
        values.append((bound.value(), bound.li_value()))
    assert values[1][0] == pytest.approx(values[0][0] / 2, rel=1e-12)  # doubling std_coef halves the bound
    assert values[1][1] == pytest.approx(values[0][1] / 2, rel=1e-12)
    assert values[2][0] == pytest.approx(values[0][0] / 4, rel=1e-12)  # O(1/n) at a fixed trajectory


def test_trajectory_function_equals_streaming_and_rejects_sgd() -> None:
    torch.manual_seed(2)
    model = nn.Linear(4, 3)
    pairs = (torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.randn(8, 4), torch.randint(0, 3, (8,)))
    bound = EFLDBound(model, F.cross_entropy, pairs, n=50)
    trajectory = []
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(4):
        trajectory.append({k: v.clone() for k, v in model.state_dict().items()})
        bound.update(2.0)
        opt.zero_grad()
        F.cross_entropy(model(pairs[0]), pairs[1]).backward()
        opt.step()
    result = efld_bound_trajectory(nn.Linear(4, 3), F.cross_entropy, trajectory, [2.0] * 4, pairs, n=50)
    assert result["efld"] == pytest.approx(bound.value(), rel=1e-12)
    assert result["li"] == pytest.approx(bound.li_value(), rel=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        bound.update(math.inf)
    with pytest.raises(ValueError, match="^n=0 is out of range"):
        EFLDBound(model, F.cross_entropy, pairs, n=0)


def test_step_size_condition_warns() -> None:
    model = nn.Linear(2, 1, bias=False)
    pairs = (torch.tensor([[1.0, 0.0]]), torch.tensor([5.0]), torch.tensor([[0.0, 1.0]]), torch.tensor([-5.0]))
    bound = EFLDBound(model, _half_mse, pairs, n=10, batch_size=1)
    with pytest.warns(UserWarning, match="step-size condition"):
        bound.update(10.0)
    assert bound.condition_violations == 1
