"""Conformance tests every optimizer in the registry must pass (param groups, state_dict, closure, paths)."""

from __future__ import annotations

import copy
import inspect
import io
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from icml22dl.optim import OPTIMIZERS, EMAMomentum, get_optimizer, list_optimizers, register_optimizer

torch.set_num_threads(1)

# Constructor keywords per registered name; an optimizer that needs more than ``lr`` adds its entry here.
KWARGS: dict[str, dict[str, Any]] = {
    "ema_momentum": {"lr": 0.1, "momentum": 0.9},
    "adai": {"lr": 0.1},
    "adaiw": {"lr": 0.1},
    "adaiv2": {"lr": 0.1, "dampening": 0.5},
    "efld": {"lr": 0.01, "alpha": 2.0},
    "sgld": {"lr": 0.01, "std_coef": 0.5},
    "noisy_sign_sgd": {"lr": 0.01, "alpha": 2.0},
    "quantized_sgd": {"lr": 0.01, "alpha": 2.0},
}
# Groups not independent by design: Adai pools its second moment over all groups; the EFLD samplers
# share one noise stream. Samplers also move a parameter whose gradient is zero (it diffuses).
SHARED_ACROSS_GROUPS = {"adai", "adaiw", "adaiv2", "efld", "sgld", "noisy_sign_sgd", "quantized_sgd"}
SAMPLERS = {"efld", "sgld", "noisy_sign_sgd", "quantized_sgd"}
NAMES = list_optimizers()


def _kwargs(name: str, **overrides: Any) -> dict[str, Any]:
    return {**KWARGS.get(name, {"lr": 0.01}), **overrides}


def _model(dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).to(dtype)


def _batch(dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(32, 4, generator=g, dtype=dtype), torch.randn(32, 1, generator=g, dtype=dtype)


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    x, y = _batch(next(model.parameters()).dtype)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def _flat(model: nn.Module) -> Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_registry_lists_and_rejects_unknown() -> None:
    assert "ema_momentum" in NAMES and get_optimizer("ema_momentum") is EMAMomentum
    assert NAMES == sorted(OPTIMIZERS)
    with pytest.raises(ValueError, match="ema_momentum"):
        get_optimizer("no_such_optimizer")
    with pytest.raises(ValueError, match="already registered"):
        register_optimizer("ema_momentum", torch.optim.SGD)
    with pytest.raises(ValueError, match="cls"):
        register_optimizer("not_an_optimizer", int)  # type: ignore[arg-type]
    # Re-registering the same class under its name is a no-op, and the decorator form returns the class.
    assert register_optimizer("ema_momentum")(EMAMomentum) is EMAMomentum


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_use_their_own_lr(name: str) -> None:
    cls = get_optimizer(name)
    grouped, first, second = _model(), _model(), _model()
    lr = _kwargs(name)["lr"]
    opt = cls(
        [{"params": grouped[0].parameters(), "lr": lr}, {"params": grouped[2].parameters(), "lr": lr / 4}],
        **_kwargs(name),
    )
    _train(grouped, opt, 5)
    # The same run with one optimizer per layer: each group must behave as if alone.
    opt_a = cls(first[0].parameters(), **_kwargs(name))
    opt_b = cls(first[2].parameters(), **_kwargs(name, lr=lr / 4))
    x, y = _batch()
    for _ in range(5):
        opt_a.zero_grad()
        opt_b.zero_grad()
        nn.functional.mse_loss(first(x), y).backward()
        opt_a.step()
        opt_b.step()
    if name not in SHARED_ACROSS_GROUPS:
        assert torch.equal(_flat(grouped), _flat(first))
    _train(second, cls(second.parameters(), **_kwargs(name)), 5)
    assert not torch.equal(_flat(grouped), _flat(second))  # the second group's lr did matter


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_resume_is_bitwise(name: str) -> None:
    cls = get_optimizer(name)
    straight = _model()
    _train(straight, cls(straight.parameters(), **_kwargs(name)), 20)

    first = _model()
    opt = cls(first.parameters(), **_kwargs(name))
    _train(first, opt, 10)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = _model()
    resumed.load_state_dict(saved["model"])
    opt2 = cls(resumed.parameters(), **_kwargs(name))
    opt2.load_state_dict(saved["opt"])
    _train(resumed, opt2, 10)
    assert torch.equal(_flat(resumed), _flat(straight))


@pytest.mark.parametrize("name", NAMES)
def test_closure_returns_loss_with_grad_enabled(name: str) -> None:
    model = _model()
    opt = get_optimizer(name)(model.parameters(), **_kwargs(name))
    x, y = _batch()
    seen: list[Tensor] = []

    def closure() -> Tensor:
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        seen.append(loss)
        return loss

    before = _flat(model)
    assert opt.step(closure) is seen[0]
    assert opt.step() is None
    assert not torch.equal(_flat(model), before)


FOREACH_NAMES = [n for n in NAMES if "foreach" in inspect.signature(get_optimizer(n)).parameters]


@pytest.mark.parametrize("name", FOREACH_NAMES)
def test_foreach_and_single_tensor_paths_agree(name: str) -> None:
    cls = get_optimizer(name)
    runs = []
    for foreach in (False, True):
        torch.manual_seed(0)
        # Mixed dtypes in one group: the foreach path must group tensors by dtype.
        model = nn.ModuleDict({"a": nn.Linear(4, 6).double(), "b": nn.Linear(6, 1).float()})
        opt = cls(model.parameters(), **_kwargs(name, foreach=foreach))
        x, y = _batch()
        for _ in range(10):
            opt.zero_grad()
            out = model["b"](torch.tanh(model["a"](x)).float()).double()
            nn.functional.mse_loss(out, y).backward()
            opt.step()
        runs.append(model)
    for p, q in zip(runs[0].parameters(), runs[1].parameters()):
        assert p.dtype == q.dtype
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_none_and_zero_gradients(name: str) -> None:
    used, unused, zero = (nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(3))
    opt = get_optimizer(name)([used, unused, zero], **_kwargs(name))
    for _ in range(3):
        opt.zero_grad()
        (used**2).sum().backward()
        zero.grad = torch.zeros_like(zero)
        opt.step()
    assert unused.grad is None and len(opt.state[unused]) == 0
    assert torch.equal(unused.detach(), torch.ones(3, dtype=torch.float64))
    assert name in SAMPLERS or torch.equal(zero.detach(), torch.ones(3, dtype=torch.float64))
    assert (
        torch.isfinite(zero).all()
        and torch.isfinite(used).all()
        and not torch.equal(used.detach(), torch.ones(3, dtype=torch.float64))
    )
    unused.grad = torch.ones(3, dtype=torch.float64)  # a parameter that gets a gradient later joins in
    opt.step()
    assert not torch.equal(unused.detach(), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("name", NAMES)
def test_invalid_lr_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="lr"):
        get_optimizer(name)([nn.Parameter(torch.ones(1))], **_kwargs(name, lr=-1.0))


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_and_state_dict_layout(name: str) -> None:
    model = _model()
    opt = get_optimizer(name)(model.parameters(), **_kwargs(name))
    _train(model, opt, 2)
    state = opt.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert len(state["param_groups"]) == 1 and state["param_groups"][0]["params"] == list(range(4))
    clone = copy.deepcopy(opt)
    assert clone.state_dict()["param_groups"] == state["param_groups"]
