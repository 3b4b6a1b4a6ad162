"""Adai / AdaiW / AdaiV2 against a plain per-tensor re-implementation of the paper's rule (written here)."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import Tensor, nn

from icml22dl.optim import Adai, AdaiV2, AdaiW, get_optimizer

torch.set_num_threads(1)


def _params(seed: int = 0) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 5), (8,), (3, 8), (3,)]
    return [torch.randn(s, generator=g, dtype=torch.float64) * 0.5 for s in shapes]


def _data(seed: int = 1) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(40, 5, generator=g, dtype=torch.float64), torch.randn(40, 3, generator=g, dtype=torch.float64)


def _loss(ps: list[Tensor], x: Tensor, y: Tensor, scale: float = 1.0) -> Tensor:
    h = torch.tanh(x @ ps[0].T + ps[1])
    return scale * ((h @ ps[2].T + ps[3] - y) ** 2).mean()


def reference_step(ps, grads, state, cfg, betas=(0.1, 0.99), eps=1e-3):
    """The official rule, one tensor at a time: two passes, one global mean over all tensors."""
    beta0, beta2 = betas
    total, count, gs = 0.0, 0, {}
    for i, (p, g) in enumerate(zip(ps, grads)):
        if g is None:
            continue
        lr, wd, decoupled, d = cfg[i]
        st = state.setdefault(i, {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p), "P": torch.ones_like(p)})
        st["t"] += 1
        if decoupled:
            p.mul_(1 - lr * wd)
        else:
            g = g + wd * p
        gs[i] = g
        st["v"] = beta2 * st["v"] + (1 - beta2) * g * g
        total += st["v"].sum().item() / (1 - beta2 ** st["t"])
        count += p.numel()
    vbar = total / count
    for i, g in gs.items():
        lr, wd, decoupled, d = cfg[i]
        st = state[i]
        vhat = st["v"] / (1 - beta2 ** st["t"])
        beta1 = (1 - beta0 * (vhat / vbar) ** (1 / (3 - 2 * d))).clamp(0.0, 1 - eps)
        st["P"] = st["P"] * beta1
        st["m"] = beta1 * st["m"] + (1 - beta1) ** d * g
        ps[i].sub_(lr * beta0 ** (1 - d) * st["m"] / (1 - st["P"]))


CASES = {
    "plain": dict(groups=[(0.5, 0.0, False, 1.0)] * 4, cls=Adai),
    "coupled": dict(groups=[(0.5, 1e-2, False, 1.0)] * 4, cls=Adai),
    "decoupled": dict(groups=[(0.5, 1e-2, True, 1.0)] * 4, cls=AdaiW),
    "two_groups": dict(groups=[(0.5, 1e-2, False, 1.0)] * 2 + [(0.1, 1e-3, False, 1.0)] * 2, cls=Adai),
    "v2_half": dict(groups=[(0.3, 1e-2, True, 0.5)] * 4, cls=AdaiV2),
}


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_plain_reference(case: str, foreach: bool) -> None:
    spec = CASES[case]
    cfg = spec["groups"]
    ours = [nn.Parameter(p.clone()) for p in _params()]
    ref = [p.clone() for p in _params()]
    # One optimizer group per distinct setting (the two-group case has two learning rates).
    settings: dict[tuple, list[int]] = {}
    for i, c in enumerate(cfg):
        settings.setdefault(c, []).append(i)
    groups = [
        dict(params=[ours[i] for i in idx], lr=c[0], weight_decay=c[1], decoupled=c[2], dampening=c[3])
        for c, idx in settings.items()
    ]
    opt = spec["cls"](groups, lr=1.0, foreach=foreach)
    x, y = _data()
    state: dict = {}
    for step in range(200):
        join = step >= 50  # the last bias joins at step 50: its own t and bias correction
        opt.zero_grad(set_to_none=True)
        _loss(ours, x, y).backward()
        if not join:
            ours[3].grad = None
        rp = [p.clone().requires_grad_(True) for p in ref]
        grads = list(torch.autograd.grad(_loss(rp, x, y), rp))
        if not join:
            grads[3] = None
        opt.step()
        reference_step(ref, grads, state, cfg)
    for a, b in zip(ours, ref):
        diff = (a.detach() - b).abs().max().item()
        assert diff <= 1e-6 * max(1.0, b.abs().max().item()), (case, diff)
    assert opt.state[ours[3]]["step"] == 150 and opt.state[ours[0]]["step"] == 200


def test_first_step_is_sgd_and_inertia_values() -> None:
    # Step 1: m/(1-P) = g exactly, so theta_1 = theta_0 - lr g.
    theta0 = torch.linspace(-1.0, 1.0, 21, dtype=torch.float64)
    p = nn.Parameter(theta0.clone())
    g = torch.tensor([0.1, -0.1] * 10 + [3.0], dtype=torch.float64)
    opt = Adai([p], lr=0.7)
    p.grad = g.clone()
    opt.step()
    torch.testing.assert_close(p.detach(), theta0 - 0.7 * g, rtol=1e-12, atol=1e-12)
    prod = opt.state[p]["beta1_prod"]
    vhat = g**2
    vbar = vhat.mean()
    expected = (1 - 0.1 * vhat / vbar).clamp(0, 0.999)
    torch.testing.assert_close(prod, expected, rtol=1e-12, atol=1e-12)
    assert vhat[-1] >= 10 * vbar and prod[-1] == 0.0  # v_hat >= 10 v_bar: no inertia
    # Equal magnitudes: v_hat = v_bar, the unclipped mean inertia 1 - beta0 = 0.9.
    q = nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = Adai([q], lr=0.1)
    q.grad = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(opt.state[q]["beta1_prod"], torch.full((5,), 0.9, dtype=torch.float64))


def test_flat_coordinates_hit_the_inertia_cap() -> None:
    p = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = Adai([p], lr=0.1, eps=1e-3)
    p.grad = torch.tensor([1.0, 1e-6], dtype=torch.float64)
    opt.step()
    assert opt.state[p]["beta1_prod"][1].item() == pytest.approx(0.999, abs=1e-12)


@pytest.mark.parametrize("decoupled", [False, True])
def test_all_zero_gradients_leave_everything_unchanged(decoupled: bool) -> None:
    p = nn.Parameter(torch.ones(4, dtype=torch.float64))
    opt = Adai([p], lr=0.5, weight_decay=0.1 if decoupled else 0.0, decoupled=decoupled)
    for _ in range(3):
        p.grad = torch.zeros(4, dtype=torch.float64)
        opt.step()
    state = opt.state[p]
    assert torch.isfinite(p).all()
    expected = (1 - 0.5 * 0.1) ** 3 if decoupled else 1.0  # decoupled decay still applies
    torch.testing.assert_close(p.detach(), torch.full((4,), expected, dtype=torch.float64))
    assert state["step"] == 0 and torch.equal(state["beta1_prod"], torch.ones(4, dtype=torch.float64))
    assert torch.equal(state["exp_avg"], torch.zeros(4, dtype=torch.float64))
    # The first nonzero gradient then gives the plain first step.
    p.grad = torch.full((4,), 2.0, dtype=torch.float64)
    before = p.detach().clone()
    opt.step()
    decay = (1 - 0.05) if decoupled else 1.0
    torch.testing.assert_close(p.detach(), before * decay - 0.5 * 2.0)


def test_maximize_and_grad_untouched() -> None:
    x, y = _data()
    a = [nn.Parameter(p.clone()) for p in _params()]
    b = [nn.Parameter(p.clone()) for p in _params()]
    opt_a = Adai(a, lr=0.3, weight_decay=1e-2, maximize=True)
    opt_b = Adai(b, lr=0.3, weight_decay=1e-2)
    for _ in range(20):
        opt_a.zero_grad()
        opt_b.zero_grad()
        (-_loss(a, x, y)).backward()
        grads_before = [p.grad.clone() for p in a]
        _loss(b, x, y).backward()
        opt_a.step()
        opt_b.step()
        assert all(torch.equal(p.grad, g) for p, g in zip(a, grads_before))  # coupled decay out of place
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_state_dict_reload_mid_run() -> None:
    x, y = _data()
    straight = [nn.Parameter(p.clone()) for p in _params()]
    opt = AdaiW(straight, lr=0.3, weight_decay=1e-2)
    resumed = [nn.Parameter(p.clone()) for p in _params()]
    opt_r = AdaiW(resumed, lr=0.3, weight_decay=1e-2)
    for step in range(40):
        for ps, o in ((straight, opt), (resumed, opt_r)):
            o.zero_grad()
            _loss(ps, x, y).backward()
            o.step()
        if step == 19:
            buffer = io.BytesIO()
            torch.save(opt_r.state_dict(), buffer)
            buffer.seek(0)
            opt_r = AdaiW(resumed, lr=99.0)
            opt_r.load_state_dict(torch.load(buffer, weights_only=True))
    for p, q in zip(straight, resumed):
        assert torch.equal(p, q)
    assert set(opt.state[straight[0]]) == {"step", "exp_avg", "exp_avg_sq", "beta1_prod"}


def test_low_precision_params_keep_float32_state() -> None:
    x, y = _data()
    full = [nn.Parameter(p.clone().float()) for p in _params()]
    half = [nn.Parameter(p.clone().bfloat16()) for p in _params()]
    opt_f, opt_h = Adai(full, lr=0.3), Adai(half, lr=0.3)
    for _ in range(10):
        for ps, o in ((full, opt_f), (half, opt_h)):
            o.zero_grad()
            _loss([p.float() for p in ps], x.float(), y.float()).backward()
            o.step()
    assert opt_h.state[half[0]]["exp_avg"].dtype == torch.float32 and half[0].dtype == torch.bfloat16
    for p, q in zip(full, half):
        torch.testing.assert_close(q.float(), p, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(lr=-1.0), "lr"),
        (dict(lr=0.1, betas=(-0.1, 0.99)), "beta0"),
        (dict(lr=0.1, betas=(0.1, 1.0)), "beta2"),
        (dict(lr=0.1, eps=1.0), "eps"),
        (dict(lr=0.1, eps=0.0), "eps"),
        (dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
        (dict(lr=0.1, dampening=1.5), "dampening"),
    ],
)
def test_invalid_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Adai([nn.Parameter(torch.ones(2))], **kwargs)


def test_registry_and_defaults() -> None:
    assert get_optimizer("adai") is Adai and get_optimizer("adaiw") is AdaiW and get_optimizer("adaiv2") is AdaiV2
    p = [nn.Parameter(torch.ones(2))]
    assert AdaiW(p, lr=1.0).defaults["decoupled"] and not Adai(p, lr=1.0).defaults["decoupled"]
    assert Adai(p, lr=1.0).defaults["betas"] == (0.1, 0.99) and Adai(p, lr=1.0).defaults["eps"] == 1e-3
    with pytest.raises(RuntimeError, match="sparse"):
        q = nn.Parameter(torch.ones(3))
        q.grad = torch.ones(3).to_sparse()
        Adai([q], lr=0.1).step()


def _run_pair(scale: float, steps: int = 100) -> float:
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    x, y = _data()
    ours = [nn.Parameter(p.clone()) for p in _params()]
    theirs = [nn.Parameter(p.clone()) for p in _params()]
    opt_o = Adai(ours, lr=0.05)
    opt_t = pytorch_optimizer.Adai(theirs, lr=0.05, foreach=False)
    for _ in range(steps):
        for ps, o in ((ours, opt_o), (theirs, opt_t)):
            o.zero_grad()
            _loss(ps, x, y, scale).backward()
            o.step()
    return max((p - q).abs().max().item() for p, q in zip(ours, theirs))


def test_pytorch_optimizer_adai_floors_the_global_mean() -> None:
    # pytorch-optimizer 4.x uses v_bar = max(S/N, eps): the same rule while v_bar >= 1e-3 (loss x 100;
    # what remains is rounding: our fused update rounds differently, amplified by the large steps) ...
    assert _run_pair(scale=100.0) <= 1e-5
    # ... but a small-gradient problem (v_bar << 1e-3) pins beta1 near the cap there: a large gap.
    assert _run_pair(scale=0.01) >= 1e-3


def test_deepcopy_keeps_behaviour() -> None:
    x, y = _data()
    ps = [nn.Parameter(p.clone()) for p in _params()]
    opt = Adai(ps, lr=0.3)
    opt.zero_grad()
    _loss(ps, x, y).backward()
    opt.step()
    clone = copy.deepcopy(opt)
    assert clone.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
