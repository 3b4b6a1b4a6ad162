"""APGD and ACG: a plain one-sample re-statement of the loop, invariants, CG coefficient, NaN policy, checks."""

import math
import warnings

import pytest
import torch
from torch import nn

from icml22dl.attacks import (
    ACG,
    APGD,
    ATTACKS,
    AttackSanityWarning,
    checkpoint_iterations,
    conjugate_beta,
    correct_mask,
    cw_loss,
    dlr_loss,
    evaluate_attacks,
    get_attack,
    random_start,
)


def _mlp(seed=0, d=64, hidden=32, classes=10):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def _batch(model, n=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    return x, y


# ---------------------------------------------------------------- reference loop (one sample, plain Python)
def _reference(model, x, y, eps, n_iter, conjugate, x0, rho=0.75):
    """APGD's / ACG's Alg. 1 for one sample, legacy NaN handling, written without the batched code."""
    lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)

    def project(z):
        return torch.min(torch.max(z, lo), hi)

    def loss_grad(z):
        z = z.clone().requires_grad_(True)
        loss = cw_loss(model(z), y).sum()
        return loss.item(), torch.autograd.grad(loss, z)[0]

    x_k = project(x0)
    loss, g = loss_grad(x_k)
    best = {"x": x_k, "loss": loss, "g": g, "gp": g, "sp": g}
    g_prev, s_prev, x_prev = g, g, x_k
    eta = 2 * eps
    losses = []
    k, sdec, nmin = max(int(0.22 * n_iter), 1), max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    next_check, reduced_before, best_at_check = k, True, loss
    for i in range(n_iter):
        if conjugate and i > 0:
            diff = (g - g_prev).flatten()
            beta = (
                float(g.flatten() @ diff) / float(s_prev.flatten() @ diff)
                if float(s_prev.flatten() @ diff) != 0
                else (
                    math.nan if float(g.flatten() @ diff) == 0 else math.copysign(math.inf, float(g.flatten() @ diff))
                )
            )
            if not math.isnan(beta) and beta < 0:
                beta = 0.0
            s = g + beta * s_prev
        else:
            s = g
        a = 1.0 if (conjugate or i == 0) else 0.75
        z = project(x_k + eta * torch.sign(s))
        x_new = project(x_k + (z - x_k) * a + (x_k - x_prev) * (1 - a))
        x_prev, x_k, g_prev, s_prev = x_k, x_new, g, s
        loss, g = loss_grad(x_k)
        losses.append(loss)
        if loss > best["loss"]:
            best = {"x": x_k, "loss": loss, "g": g, "gp": g_prev, "sp": s_prev}
        if i + 1 == next_check:
            rises = sum(1 for j in range(i - k + 1, i + 1) if losses[j] > (losses[j - 1] if j >= 1 else 0.0))
            reduce = rises <= rho * k or (not reduced_before and best_at_check >= best["loss"])
            reduced_before, best_at_check = reduce, best["loss"]
            if reduce:
                eta /= 2
                x_k, g = best["x"], best["g"]
                if conjugate:
                    g_prev, s_prev = best["gp"], best["sp"]
            k = max(k - sdec, nmin)
            next_check = i + 1 + k
    return best["x"], best["loss"]


@pytest.mark.parametrize("cls", [ACG, APGD])
@pytest.mark.parametrize("start", ["center", "tensor"])
def test_batched_loop_equals_a_plain_one_sample_loop(cls, start):
    model = _mlp()
    x, y = _batch(model, n=6)
    eps, n_iter = 0.15, 40
    init = (
        "center"
        if start == "center"
        else (x + eps * (2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) - 1)).clamp(0, 1)
    )
    kwargs = {"nan_policy": "legacy"} if cls is ACG else {}
    for i in range(len(x)):
        x0 = (
            ((x[i : i + 1] - eps).clamp(0, 1) + (x[i : i + 1] + eps).clamp(0, 1)) / 2
            if start == "center"
            else init[i : i + 1]
        )
        ref_x, ref_loss = _reference(model, x[i : i + 1], y[i : i + 1], eps, n_iter, cls is ACG, x0)
        # On a batch of one the attack runs the same float32 operations on the same shapes as
        # the reference: the search must agree to float32 rounding.
        one_init = "center" if start == "center" else init[i : i + 1]
        single = cls(model, eps, n_iter=n_iter, init=one_init, checks=False, **kwargs).run(x[i : i + 1], y[i : i + 1])
        assert (single.x_best - ref_x).abs().max() <= 1e-6
        assert single.loss_best.item() == pytest.approx(ref_loss, abs=1e-6)


@pytest.mark.parametrize("cls", [ACG, APGD])
def test_a_sample_s_search_does_not_depend_on_the_rest_of_its_batch(cls):
    # A batch of 6 is not compared with six batches of one: the matrix products of the two
    # shapes round differently (~1e-7 on the loss), and APGD's iterates often tie their best
    # loss to that precision, so one rounding can pick another iterate as the best point
    # (one last step, 0.3 / 2^9 = 5.9e-4, away) and, at a checkpoint, restart from it. Here
    # the shape is fixed and only the other rows change: each row's search must be identical.
    model = _mlp()
    x, y = _batch(model, n=6)
    other, other_y = _batch(model, n=6, seed=7)
    kwargs = {"nan_policy": "legacy"} if cls is ACG else {}
    batched = cls(model, 0.15, n_iter=40, init="center", checks=False, **kwargs).run(x, y)
    for i in range(len(x)):
        mixed, mixed_y = other.clone(), other_y.clone()
        mixed[i], mixed_y[i] = x[i], y[i]
        alone = cls(model, 0.15, n_iter=40, init="center", checks=False, **kwargs).run(mixed, mixed_y)
        assert torch.equal(alone.x_best[i], batched.x_best[i])
        assert torch.equal(alone.loss_history[:, i], batched.loss_history[:, i])


def test_checkpoints_and_forward_backward_count():
    assert checkpoint_iterations(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    calls = {"n": 0}
    base = _mlp()

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = base

        def forward(self, z):
            calls["n"] += 1
            return self.base(z)

    model = Counting()
    x, y = _batch(base, n=8)
    result = ACG(model, 0.2, n_iter=100, n_restarts=1, checks=False).run(x, y)
    assert result.n_forward_backward == 101
    assert calls["n"] == 1 + 101  # one clean forward, then N + 1 forward+backward
    # The step size only changes right after a checkpoint.
    steps = result.step_history[:, result.clean_correct]
    # 0-based iteration i is the first to use a step halved at the checkpoint after 1-based iteration i.
    changes = {i for i in range(1, 100) if not torch.equal(steps[i], steps[i - 1])}
    assert changes
    assert changes <= set(checkpoint_iterations(100))


@pytest.mark.parametrize("cls", [ACG, APGD])
@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("loss", ["cw", "ce", "dlr"])
@pytest.mark.parametrize("targeted", [False, True])
def test_outputs_stay_in_the_ball_and_in_the_box(cls, norm, loss, targeted):
    model = _mlp()
    x, y = _batch(model, n=16)
    eps = 0.1 if norm == "Linf" else 0.6
    target = (y + 1) % 10 if targeted else None
    result = cls(model, eps, norm=norm, loss=loss, n_iter=15, n_restarts=2, checks=False).run(x, y, target)
    for out in (result.x_adv, result.x_best):
        delta = (out - x).flatten(1)
        size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
        assert size.max() <= eps + 1e-5  # float32 rounding of x +- eps
        assert out.min() >= 0 and out.max() <= 1
    with torch.no_grad():
        broken = model(result.x_adv).argmax(1) != y
    assert torch.equal(broken, result.success)  # the reported success is re-checked on x_adv


def test_deterministic_per_seed_and_modes_restored():
    model = nn.Sequential(_mlp(), nn.Dropout(0.5))
    model.train()
    model[0].eval()  # mixed modes must come back as they were
    x, y = _batch(model.eval(), n=10)
    model.train()
    model[0].eval()
    a = APGD(model, 0.1, n_iter=20, seed=5, checks=False)(x, y)
    b = APGD(model, 0.1, n_iter=20, seed=5, checks=False)(x, y)
    c = APGD(model, 0.1, n_iter=20, seed=6, checks=False)(x, y)
    assert torch.equal(a, b) and not torch.equal(a, c)  # dropout off during the attack: deterministic
    assert model.training and model[1].training and not model[0].training


def test_conjugate_beta_sign_clamp_and_nan_policy():
    g, g_prev, s_prev = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    # y = g - g_prev = (1, 1): <g, y> = 3, <s_prev, y> = 1
    assert conjugate_beta(g, g_prev, s_prev)[0].item() == 3.0
    assert conjugate_beta(g, g_prev, s_prev, beta_sign="textbook", clamp_beta=False)[0].item() == -3.0
    assert conjugate_beta(g, g_prev, s_prev, beta_sign="textbook")[0].item() == 0.0
    same = torch.tensor([[1.0, -2.0]])
    beta, nan = conjugate_beta(same, same, s_prev, nan_policy="legacy")
    assert math.isnan(beta.item()) and nan.item()
    beta, nan = conjugate_beta(same, same, s_prev, nan_policy="zero")
    assert beta.item() == 0.0 and nan.item()


def test_official_sign_is_steepest_ascent_on_a_concave_quadratic_textbook_is_cg():
    # The sign of beta (docs/papers/acg.md#method): maximise f(x) = -x'Ax/2 + b'x, exact line search, n = 50.
    n = 50
    g = torch.Generator().manual_seed(0)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = m @ m.T / n + 0.1 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    f_star = 0.5 * b @ torch.linalg.solve(a, b)

    def run(sign, clamp, use_cg=True):
        x = torch.zeros(n, dtype=torch.float64)
        grad = b - a @ x
        grad_prev, s = grad, grad.clone()
        for k in range(n):
            if k > 0 and use_cg:
                beta, _ = conjugate_beta(grad[None], grad_prev[None], s[None], beta_sign=sign, clamp_beta=clamp)
                s = grad + beta.item() * s
            elif k > 0:
                s = grad
            step = (grad @ s) / (s @ a @ s)
            x = x + step * s
            grad_prev, grad = grad, b - a @ x
        return float(f_star - (-0.5 * x @ a @ x + b @ x))

    gap_textbook = run("textbook", clamp=False)
    gap_official = run("official", clamp=True)
    gap_steepest = run("official", clamp=True, use_cg=False)
    assert gap_textbook < 1e-8
    assert gap_official == pytest.approx(gap_steepest, rel=1e-9, abs=1e-12) and gap_official > 1e-4


class _Peak(nn.Module):
    """1-D toy: logits [0.8, h(x)], h rising with slope 1 up to x = 0.7, then falling with slope 10."""

    def forward(self, x):
        t = x.flatten(1)[:, :1]
        h = torch.where(t <= 0.7, t, 0.7 - 10 * (t - 0.7))
        return torch.cat([torch.full_like(h, 0.8), h], dim=1)


def test_legacy_nan_freezes_a_restored_sample_and_zero_policy_moves_it():
    # From the centre 0.5 (box [0.1, 0.9]) the sign steps overshoot to 0.9 and 0.1; the best point stays x0,
    # whose stored g, g_prev and s_prev are all g0: after the restore beta = 0/0.
    x, y = torch.full((1, 1), 0.5), torch.tensor([0])
    legacy = ACG(_Peak(), 0.4, n_iter=30, nan_policy="legacy", checks=False).run(x, y)
    zero = ACG(_Peak(), 0.4, n_iter=30, nan_policy="zero", checks=False).run(x, y)
    assert legacy.beta_nan_count > 0
    assert legacy.loss_best.item() == pytest.approx(0.5 - 0.8)  # frozen at the start point
    assert zero.loss_best.item() > legacy.loss_best.item() + 0.1  # halved steps climb towards the peak
    assert zero.last_move.item() > legacy.last_move.item()


def test_dlr_matches_its_formula_and_registry():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    # y = 0 is top: -(3 - 2) / (3 - 1)
    assert dlr_loss(z, torch.tensor([0])).item() == pytest.approx(-0.5)
    assert dlr_loss(z, torch.tensor([1])).item() == pytest.approx(-(1 - 3) / (3 - 1))
    assert set(ATTACKS) >= {"apgd", "acg"}
    assert isinstance(get_attack("acg", _mlp(), eps=0.1), ACG)
    with pytest.raises(ValueError, match="unknown attack"):
        get_attack("nope", _mlp(), eps=0.1)


@pytest.mark.parametrize(
    "bad",
    [
        dict(eps=0.0),
        dict(eps=0.1, norm="L1"),
        dict(eps=0.1, loss="x"),
        dict(eps=0.1, n_iter=0),
        dict(eps=0.1, init="zeros"),
    ],
)
def test_bad_arguments_name_themselves(bad):
    with pytest.raises(ValueError, match=next(iter(k for k in bad if k != "eps" or len(bad) == 1))):
        APGD(_mlp(), **bad)


def test_sanity_checks_warn():
    model = _mlp()
    x, y = _batch(model, n=8)

    class Noisy(nn.Module):
        def forward(self, z):
            return model(z) + 0.1 * torch.randn(z.shape[0], 10)

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(torch.zeros(10))

        def forward(self, z):
            return self.b.expand(z.shape[0], 10) + 0 * z.flatten(1)[:, :1]

    class Probs(nn.Module):
        def forward(self, z):
            return model(z).softmax(1)

    for bad_model, xx, pattern in (
        (Noisy(), x, "randomised"),
        (Flat(), x, "zero input gradient"),
        (Probs(), x, "probabilities"),
        (model, x * 3 - 1, "outside"),
    ):
        with pytest.warns(AttackSanityWarning, match=pattern):
            APGD(bad_model, 0.1, n_iter=3)(xx, torch.zeros(8, dtype=torch.long) if bad_model is not model else y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttackSanityWarning)
        APGD(model, 0.1, n_iter=3)(x, y)


def test_evaluate_attacks_recounts_and_takes_the_worst_case():
    model = _mlp()
    x, y = _batch(model, n=20)
    y = y.clone()
    y[:3] = (y[:3] + 1) % 10  # three clean errors
    report = evaluate_attacks(
        model,
        x,
        y,
        {
            "apgd": APGD(model, 0.1, n_iter=20, checks=False),
            "acg": ACG(model, 0.1, n_iter=20, checks=False),
            "none": lambda a, b: a.clone(),
        },
        eps=0.1,
    )
    assert report["clean_accuracy"] == pytest.approx(17 / 20)
    assert report["per_attack"]["none"]["asr"] == pytest.approx(3 / 20)
    worst = report["worst_case"]["robust_accuracy"]
    assert worst <= min(v["robust_accuracy"] for v in report["per_attack"].values())
    with pytest.raises(ValueError, match="left the Linf ball"):
        evaluate_attacks(model, x, y, {"far": lambda a, b: (a + 0.5).clamp(0, 1)}, eps=0.1)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_random_start_is_autoattack_s_draw_on_the_sphere(norm):
    x = torch.full((4, 1, 3, 3), 0.5)
    start = random_start(x, 0.1, norm, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    if norm == "Linf":
        t = 2 * torch.rand(x.shape, generator=g) - 1
        t = t / t.abs().flatten(1).amax(1).view(-1, 1, 1, 1)
        assert torch.allclose((start - x).abs().flatten(1).amax(1), torch.full((4,), 0.1))
    else:
        t = torch.randn(x.shape, generator=g)
        t = t / t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        assert torch.allclose((start - x).flatten(1).norm(dim=1), torch.full((4,), 0.1))
    assert torch.allclose(start, (x + 0.1 * t).clamp(0, 1), atol=1e-6)
    assert torch.equal(start, APGD(_mlp(d=9), 0.1, norm=norm)._random_start(x, torch.Generator().manual_seed(0)))


def test_correct_mask_is_the_argmax_in_any_batch_size():
    model = _mlp()
    x, y = _batch(model, n=30)
    y = y.clone()
    y[::4] = (y[::4] + 1) % 10
    with torch.no_grad():
        expected = model(x).argmax(1) == y
    for batch_size in (1, 7, 30, 100):
        assert torch.equal(correct_mask(model, x, y, batch_size=batch_size), expected)
    with pytest.raises(ValueError, match="batch_size"):
        correct_mask(model, x, y, batch_size=0)
