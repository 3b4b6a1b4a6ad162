"""EMAMomentum (Jelassi & Li, ICML 2022, the EMA form of GD+M) against torch.optim.SGD and closed forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from icml22dl.optim import EMAMomentum
from icml22dl.optim import momentum as momentum_module

torch.set_num_threads(1)

ETA, GAMMA, STEPS = 0.5, 0.9, 300
MakeOpt = Callable[[list[Tensor]], torch.optim.Optimizer]


def _init(dtype: torch.dtype) -> tuple[list[Tensor], Callable[[list[Tensor]], Tensor]]:
    """A small tanh network with logistic loss: two parameter tensors, a smooth non-convex loss."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g, dtype=dtype)
    y = torch.randn(64, generator=g, dtype=dtype).sign()
    w1 = torch.randn(5, 8, generator=g, dtype=dtype) / 5**0.5
    w2 = torch.randn(8, generator=g, dtype=dtype) / 8**0.5

    def loss(params: list[Tensor]) -> Tensor:
        return F.softplus(-y * (torch.tanh(x @ params[0]) @ params[1])).mean()

    return [w1, w2], loss


def _trajectory(make_opt: MakeOpt, dtype: torch.dtype, steps: int = STEPS, seed_zero: bool = False) -> Tensor:
    """Run ``steps`` full-batch steps; return the flattened parameters after each step, (steps, n)."""
    init, loss = _init(dtype)
    params = [p.clone().requires_grad_() for p in init]
    opt = make_opt(params)
    if seed_zero:
        for p in params:
            opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    rows = []
    for _ in range(steps):
        opt.zero_grad()
        loss(params).backward()
        opt.step()
        rows.append(torch.cat([p.detach().flatten() for p in params]))
    return torch.stack(rows)


def _rel(a: Tensor, b: Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


TOL = {torch.float64: 1e-12, torch.float32: 1e-6}


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ema_equals_sgd_with_scaled_lr(dtype: torch.dtype, foreach: bool) -> None:
    ours = _trajectory(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA, foreach=foreach), dtype)
    ref = _trajectory(lambda p: torch.optim.SGD(p, lr=ETA * (1 - GAMMA), momentum=GAMMA), dtype)
    assert _rel(ours, ref) <= TOL[dtype]
    assert _rel(ours[-1], ours[0]) > 0.1  # the run moves: the comparison is not vacuous


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ema_equals_sgd_dampening_with_zero_seeded_buffer(dtype: torch.dtype) -> None:
    ours = _trajectory(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA), dtype)
    ref = _trajectory(lambda p: torch.optim.SGD(p, lr=ETA, momentum=GAMMA, dampening=GAMMA), dtype, seed_zero=True)
    assert _rel(ours, ref) <= TOL[dtype]


def test_sgd_dampening_without_seeding_differs() -> None:
    """torch seeds the buffer with grad, not (1-gamma) grad: the surplus shifts the whole trajectory."""
    ours = _trajectory(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA), torch.float64)
    ref = _trajectory(lambda p: torch.optim.SGD(p, lr=ETA, momentum=GAMMA, dampening=GAMMA), torch.float64)
    assert _rel(ours, ref) > 1e-2
    assert _rel(ours[-1], ref[-1]) > 1e-3  # not a transient: the end point differs too


def test_sgd_undamped_same_lr_differs() -> None:
    """SGD(lr=eta, momentum=gamma) steps eta / (1 - gamma): a 10x larger effective step."""
    ours = _trajectory(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA), torch.float64)
    ref = _trajectory(lambda p: torch.optim.SGD(p, lr=ETA, momentum=GAMMA), torch.float64)
    assert _rel(ours, ref) > 1e-2


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_heavy_ball_equals_sgd_momentum(dtype: torch.dtype, foreach: bool) -> None:
    ours = _trajectory(lambda p: EMAMomentum(p, lr=0.05, momentum=GAMMA, form="heavy_ball", foreach=foreach), dtype)
    ref = _trajectory(lambda p: torch.optim.SGD(p, lr=0.05, momentum=GAMMA), dtype)
    assert _rel(ours, ref) <= TOL[dtype]


def _two_by_two_closed_form(lam: Tensor, q: Tensor, w0: Tensor, steps: int, form: str) -> tuple[Tensor, Tensor]:
    """Iterate and buffer after ``steps`` steps on 0.5 w^T A w, A = Q diag(lam) Q^T, by 2x2 matrix powers.

    In the eigenbasis (u = Q^T w, h = Q^T buffer) each coordinate i is an independent linear recurrence
    [u, h]_{t+1} = M_i [u, h]_t with h_0 = 0 and
      EMA:        M_i = [[1 - eta (1-gamma) lam_i, -eta gamma], [(1-gamma) lam_i, gamma]]
      heavy ball: M_i = [[1 - eta lam_i,           -eta gamma], [lam_i,             gamma]].
    """
    scale = (1 - GAMMA) if form == "ema" else 1.0
    m = torch.zeros(len(lam), 2, 2, dtype=torch.float64)
    m[:, 0, 0] = 1 - ETA * scale * lam
    m[:, 0, 1] = -ETA * GAMMA
    m[:, 1, 0] = scale * lam
    m[:, 1, 1] = GAMMA
    state0 = torch.stack([q.T @ w0, torch.zeros_like(w0)], dim=1).unsqueeze(-1)  # (d, 2, 1)
    state = torch.linalg.matrix_power(m, steps) @ state0
    return q @ state[:, 0, 0], q @ state[:, 1, 0]


@pytest.mark.parametrize("form", ["ema", "heavy_ball"])
def test_quadratic_closed_form(form: str) -> None:
    g = torch.Generator().manual_seed(1)
    d = 6
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    lam = torch.linspace(0.1, 2.0, d, dtype=torch.float64)
    a = q @ torch.diag(lam) @ q.T
    w0 = torch.randn(d, generator=g, dtype=torch.float64)
    w = w0.clone().requires_grad_()
    opt = EMAMomentum([w], lr=ETA, momentum=GAMMA, form=form)
    checkpoints = {1, 2, 10, 100, 300}
    for t in range(1, 301):
        opt.zero_grad()
        (0.5 * w @ a @ w).backward()
        opt.step()
        if t in checkpoints:
            w_ref, buf_ref = _two_by_two_closed_form(lam, q, w0, t, form)
            assert (w.detach() - w_ref).abs().max() <= 1e-10
            assert (opt.state[w]["momentum_buffer"] - buf_ref).abs().max() <= 1e-10
    assert w.detach().norm() < 0.5 * w0.norm()  # it converges: the check covers a moving iterate


@pytest.mark.parametrize("form", ["ema", "heavy_ball"])
def test_buffer_starts_at_zero(form: str) -> None:
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = EMAMomentum([w], lr=ETA, momentum=GAMMA, form=form)
    grad = torch.tensor([0.3, 0.7], dtype=torch.float64)
    w.grad = grad.clone()
    opt.step()
    expected_buf = (1 - GAMMA) * grad if form == "ema" else grad
    torch.testing.assert_close(opt.state[w]["momentum_buffer"], expected_buf, rtol=0, atol=1e-15)
    expected_w = torch.tensor([1.0, -2.0], dtype=torch.float64) - ETA * expected_buf
    torch.testing.assert_close(w.detach(), expected_w)
    assert set(opt.state[w]) == {"momentum_buffer"}


@pytest.mark.parametrize("foreach", [False, True])
def test_weight_decay_enters_gradient_before_buffer(foreach: bool) -> None:
    wd = 0.1
    _, loss = _init(torch.float64)

    def with_penalty(params: list[Tensor]) -> Tensor:
        return loss(params) + 0.5 * wd * sum((p**2).sum() for p in params)

    def run(make_opt: MakeOpt, objective: Callable[[list[Tensor]], Tensor]) -> Tensor:
        params = [p.clone().requires_grad_() for p in _init(torch.float64)[0]]
        opt = make_opt(params)
        for _ in range(50):
            opt.zero_grad()
            objective(params).backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in params])

    ours = run(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA, weight_decay=wd, foreach=foreach), loss)
    ref = run(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA), with_penalty)
    sgd = run(lambda p: torch.optim.SGD(p, lr=ETA * (1 - GAMMA), momentum=GAMMA, weight_decay=wd), loss)
    assert _rel(ours, ref) <= 1e-12
    assert _rel(ours, sgd) <= 1e-12


@pytest.mark.parametrize("foreach", [False, True])
def test_maximize_negates_the_gradient(foreach: bool) -> None:
    _, loss = _init(torch.float64)
    minimised = _trajectory(lambda p: EMAMomentum(p, lr=ETA, foreach=foreach), torch.float64, steps=20)
    init = [p.clone().requires_grad_() for p in _init(torch.float64)[0]]
    opt = EMAMomentum(init, lr=ETA, foreach=foreach, maximize=True)
    for _ in range(20):
        opt.zero_grad()
        (-loss(init)).backward()
        opt.step()
    maximised = torch.cat([p.detach().flatten() for p in init])
    torch.testing.assert_close(maximised, minimised[-1], rtol=0, atol=1e-15)


def test_zero_momentum_is_plain_gd_without_state() -> None:
    ours = _trajectory(lambda p: EMAMomentum(p, lr=ETA, momentum=0.0), torch.float64, steps=30)
    ref = _trajectory(lambda p: torch.optim.SGD(p, lr=ETA), torch.float64, steps=30)
    assert torch.equal(ours, ref)
    w = torch.ones(2, requires_grad=True)
    opt = EMAMomentum([w], lr=ETA, momentum=0.0)
    w.grad = torch.ones(2)
    opt.step()
    assert len(opt.state) == 0


@pytest.mark.parametrize(("foreach", "expected"), [(None, "single"), (False, "single"), (True, "multi")])
def test_foreach_flag_selects_the_path_on_cpu(
    monkeypatch: pytest.MonkeyPatch, foreach: bool | None, expected: str
) -> None:
    """foreach=None follows torch.optim.SGD: the per-tensor loop for CPU tensors."""
    calls: list[str] = []
    for path, attr in (("single", "_single_tensor_update"), ("multi", "_multi_tensor_update")):
        original = getattr(momentum_module, attr)

        def spy(*args: Any, _path: str = path, _original: Callable[..., None] = original, **kwargs: Any) -> None:
            calls.append(_path)
            _original(*args, **kwargs)

        monkeypatch.setattr(momentum_module, attr, spy)
    w = torch.ones(3, requires_grad=True)
    w.grad = torch.ones(3)
    EMAMomentum([w], lr=ETA, foreach=foreach).step()
    assert calls == [expected]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_default_foreach_matches_sgd() -> None:
    def run(make_opt: MakeOpt) -> Tensor:
        init, loss = _init(torch.float64)
        params = [p.cuda().requires_grad_() for p in init]
        opt = make_opt(params)
        for _ in range(50):
            opt.zero_grad()
            loss([p.cpu() for p in params]).backward()
            opt.step()
        return torch.cat([p.detach().cpu().flatten() for p in params])

    ours = run(lambda p: EMAMomentum(p, lr=ETA, momentum=GAMMA))
    ref = run(lambda p: torch.optim.SGD(p, lr=ETA * (1 - GAMMA), momentum=GAMMA))
    assert _rel(ours, ref) <= 1e-12


def test_sparse_gradient_rejected() -> None:
    w = torch.ones(3, requires_grad=True)
    w.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        EMAMomentum([w], lr=ETA).step()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": 0.1, "momentum": -0.1}, "momentum"),
        ({"lr": 0.1, "momentum": 1.0}, "momentum"),
        ({"lr": 0.1, "form": "nesterov"}, "form"),
        ({"lr": 0.1, "weight_decay": -1e-4}, "weight_decay"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict[str, object], field: str) -> None:
    bad = next(v for k, v in kwargs.items() if k == field)
    with pytest.raises(ValueError, match=rf"^{field}={re.escape(repr(bad))} "):
        EMAMomentum([torch.ones(1, requires_grad=True)], **kwargs)  # type: ignore[arg-type]
