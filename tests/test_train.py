"""The training engine: ``fit`` equals a hand-written loop step for step; ``evaluate`` equals brute force."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.train import Batch, EvalResult, FitResult, NonFiniteLossError, autocast, evaluate, fit

N, D, C = 37, 5, 3  # 37 examples: batches of 8 leave a last batch of 5


def make_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=g)
    y = torch.randint(0, C, (N,), generator=g)
    return x, y


def make_model(seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(D, 7), nn.Tanh(), nn.Linear(7, C))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name


def hand_loop(model, opt, x, y, epochs, batch_size, generator, shuffle=True, augment=None, scheduler=None, per="epoch"):
    """The loop ``fit`` promises, written out: one randperm per epoch, zero_grad, backward, step."""
    steps, losses, last = 0, [], math.nan
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        size = len(x) if batch_size is None else batch_size
        total, count = 0.0, 0
        for start in range(0, len(x), size):
            idx = order[start : start + size]
            xb = x[idx] if augment is None else augment(x[idx])
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if scheduler is not None and per == "step":
                scheduler.step()
            steps, last = steps + 1, loss.item()
            total, count = total + last, count + 1
        losses.append(total / count)
        if scheduler is not None and per == "epoch":
            scheduler.step()
    return steps, last, losses


@pytest.mark.parametrize("batch_size", [8, 1, N, None])
@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_equals_the_hand_written_loop_step_for_step(batch_size, shuffle):
    x, y = make_data()
    model_a, model_b = make_model(), make_model()
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.1, momentum=0.9)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1, momentum=0.9)
    result = fit(
        model_a,
        opt_a,
        x,
        y,
        epochs=3,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(4),
        shuffle=shuffle,
    )
    steps, last, losses = hand_loop(model_b, opt_b, x, y, 3, batch_size, torch.Generator().manual_seed(4), shuffle)
    assert_same_parameters(model_a, model_b)
    assert isinstance(result, FitResult)
    assert result.steps == steps == 3 * math.ceil(N / (batch_size or N))
    assert result.last_loss == last
    assert result.epoch_losses == losses


def test_fit_draws_exactly_one_permutation_per_epoch_from_the_generator():
    x, y = make_data()
    g = torch.Generator().manual_seed(11)
    fit(make_model(), torch.optim.SGD(make_model().parameters(), lr=0.0), x, y, epochs=4, batch_size=8, generator=g)
    reference = torch.Generator().manual_seed(11)
    for _ in range(4):
        torch.randperm(N, generator=reference)
    assert torch.equal(g.get_state(), reference.get_state())
    g = torch.Generator().manual_seed(11)
    fit(make_model(), torch.optim.SGD(make_model().parameters(), lr=0.1), x, y, epochs=2, generator=g, shuffle=False)
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(11).get_state())


def test_full_batch_fit_is_gradient_descent_on_the_whole_set():
    x, y = make_data()
    model_a, model_b = make_model(), make_model()
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.3)
    fit(model_a, opt_a, x, y, epochs=5, shuffle=False)
    for _ in range(5):  # plain GD on the mean loss
        loss = F.cross_entropy(model_b(x), y)
        grads = torch.autograd.grad(loss, list(model_b.parameters()))
        with torch.no_grad():
            for p, grad in zip(model_b.parameters(), grads):
                p -= 0.3 * grad
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-6)


def test_augment_closure_draws_from_its_own_generator():
    x, y = make_data()
    model_a, model_b = make_model(), make_model()
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1)

    def noise(generator):
        return lambda xb: xb + 0.3 * torch.randn(xb.shape, generator=generator)

    shuffle_a, shuffle_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    fit(
        model_a,
        opt_a,
        x,
        y,
        epochs=2,
        batch_size=8,
        generator=shuffle_a,
        augment=noise(torch.Generator().manual_seed(2)),
    )
    hand_loop(model_b, opt_b, x, y, 2, 8, shuffle_b, augment=noise(torch.Generator().manual_seed(2)))
    assert_same_parameters(model_a, model_b)
    # the augmentation drew nothing from the shuffling generator
    assert torch.equal(shuffle_a.get_state(), shuffle_b.get_state())
    plain = make_model()
    fit(
        plain,
        torch.optim.SGD(plain.parameters(), lr=0.1),
        x,
        y,
        epochs=2,
        batch_size=8,
        generator=torch.Generator().manual_seed(1),
    )
    assert not torch.equal(plain[0].weight, model_a[0].weight)


def test_batch_carries_the_examples_and_their_indices():
    x, y = make_data()
    model = make_model()
    seen: list[torch.Tensor] = []

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        assert torch.equal(batch.x, x[batch.index]) and torch.equal(batch.y, y[batch.index])
        assert model.training
        seen.append(batch.index)
        return F.cross_entropy(model(batch.x), batch.y)

    model.eval()
    fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        x,
        y,
        epochs=2,
        batch_size=10,
        loss_fn=loss_fn,
        generator=torch.Generator().manual_seed(0),
    )
    assert [len(i) for i in seen] == [10, 10, 10, 7] * 2
    for epoch in range(2):  # every epoch visits every example once
        assert sorted(torch.cat(seen[4 * epoch : 4 * epoch + 4]).tolist()) == list(range(N))


class Recording(torch.optim.SGD):
    def __init__(self, params, name, log, **kwargs):
        super().__init__(params, **kwargs)
        self.name, self.log = name, log

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.log.append(f"zero_grad {self.name}")
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        self.log.append(f"step {self.name}")
        return super().step(closure)


def test_several_optimisers_are_zeroed_then_stepped_in_the_given_order():
    x, y = make_data()
    model = make_model()
    log: list[str] = []
    first = Recording(model[0].parameters(), "first", log, lr=0.1)
    second = Recording(model[2].parameters(), "second", log, lr=0.1)

    def loss_fn(model, batch):
        log.append("loss")
        return F.cross_entropy(model(batch.x), batch.y)

    fit(model, [second, first], x, y, epochs=1, batch_size=20, loss_fn=loss_fn, generator=torch.Generator())
    one_step = ["loss", "zero_grad second", "zero_grad first", "step second", "step first"]
    assert log == one_step * 2


def test_per_example_parameters_through_batch_index_match_the_hand_loop():
    # SOP-style: a per-example parameter u[i] enters the loss of example i; its optimiser steps first.
    x, y = make_data()
    results = []
    for use_fit in (True, False):
        model = make_model()
        u = nn.Parameter(torch.zeros(N))
        opt_u = torch.optim.SGD([u], lr=0.5)
        opt_model = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(3)

        def loss_fn(model, batch, u=u):
            return F.cross_entropy(model(batch.x), batch.y) + (u[batch.index] - 1.0).pow(2).mean()

        if use_fit:
            fit(model, [opt_u, opt_model], x, y, epochs=3, batch_size=8, loss_fn=loss_fn, generator=g)
        else:
            for _ in range(3):
                order = torch.randperm(N, generator=g)
                for start in range(0, N, 8):
                    idx = order[start : start + 8]
                    loss = loss_fn(model, Batch(x[idx], y[idx], idx))
                    opt_u.zero_grad()
                    opt_model.zero_grad()
                    loss.backward()
                    opt_u.step()
                    opt_model.step()
        results.append((u.detach().clone(), [p.detach().clone() for p in model.parameters()]))
    (u_fit, p_fit), (u_hand, p_hand) = results
    assert torch.equal(u_fit, u_hand) and (u_fit != 0).all()
    assert all(torch.equal(a, b) for a, b in zip(p_fit, p_hand))


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_scheduler_steps_per_epoch_or_per_step_like_the_hand_loop(interval):
    x, y = make_data()
    model_a, model_b = make_model(), make_model()
    opt_a = torch.optim.SGD(model_a.parameters(), lr=0.2)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.2)
    sched_a = torch.optim.lr_scheduler.StepLR(opt_a, step_size=1, gamma=0.5)
    sched_b = torch.optim.lr_scheduler.StepLR(opt_b, step_size=1, gamma=0.5)
    lrs: list[float] = []

    def loss_fn(model, batch):
        lrs.append(opt_a.param_groups[0]["lr"])
        return F.cross_entropy(model(batch.x), batch.y)

    result = fit(
        model_a,
        opt_a,
        x,
        y,
        epochs=3,
        batch_size=16,
        loss_fn=loss_fn,
        generator=torch.Generator().manual_seed(0),
        scheduler=sched_a,
        scheduler_interval=interval,
    )
    hand_loop(model_b, opt_b, x, y, 3, 16, torch.Generator().manual_seed(0), scheduler=sched_b, per=interval)
    assert_same_parameters(model_a, model_b)
    assert result.steps == 9
    if interval == "epoch":
        assert lrs == [0.2] * 3 + [0.1] * 3 + [0.05] * 3
        assert opt_a.param_groups[0]["lr"] == pytest.approx(0.2 * 0.5**3)
    else:
        assert lrs == pytest.approx([0.2 * 0.5**k for k in range(9)])
        assert opt_a.param_groups[0]["lr"] == pytest.approx(0.2 * 0.5**9)


def test_on_epoch_and_progress_see_every_epoch():
    x, y = make_data()
    model = make_model()
    calls: list[tuple[int, int, int]] = []
    wrapped: list[range] = []

    def progress(epochs):
        wrapped.append(epochs)
        return epochs

    result = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        x,
        y,
        epochs=3,
        batch_size=10,
        generator=torch.Generator(),
        on_epoch=lambda e, r: calls.append((e, r.steps, len(r.epoch_losses))),
        progress=progress,
    )
    assert calls == [(1, 4, 1), (2, 8, 2), (3, 12, 3)]
    assert wrapped == [range(1, 4)]
    assert len(result.epoch_losses) == 3 and all(math.isfinite(v) for v in result.epoch_losses)


def test_zero_epochs_changes_nothing():
    x, y = make_data()
    model, reference = make_model(), make_model()
    result = fit(model, torch.optim.SGD(model.parameters(), lr=1.0), x, y, epochs=0)
    assert result.steps == 0 and result.epoch_losses == [] and math.isnan(result.last_loss)
    assert_same_parameters(model, reference)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_loss_raises_before_its_backward(bad):
    x, y = make_data()
    model = make_model()
    calls = {"n": 0}
    snapshot: list[nn.Module] = []

    def loss_fn(model, batch):
        calls["n"] += 1
        loss = F.cross_entropy(model(batch.x), batch.y)
        if calls["n"] == 3:
            snapshot.append(copy.deepcopy(model))
            return loss * bad
        return loss

    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLossError, match="at step 3") as info:
        fit(model, opt, x, y, epochs=2, batch_size=8, loss_fn=loss_fn, generator=torch.Generator())
    assert info.value.step == 3
    assert math.isnan(info.value.value) if math.isnan(bad) else info.value.value == bad
    assert isinstance(info.value, FloatingPointError)
    assert_same_parameters(model, snapshot[0])  # the bad step changed nothing


def test_a_nan_from_the_model_raises_too():
    x, y = make_data()
    model = make_model()
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="step 1"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1, generator=torch.Generator())


def test_amp_is_a_no_op_on_the_cpu():
    assert not isinstance(autocast("cpu", True), torch.autocast)
    with autocast("cpu", True):
        assert not torch.is_autocast_enabled()
    x, y = make_data()
    model_a, model_b = make_model(), make_model()
    fit(
        model_a,
        torch.optim.SGD(model_a.parameters(), lr=0.1),
        x,
        y,
        epochs=2,
        batch_size=8,
        amp=True,
        generator=torch.Generator().manual_seed(0),
    )
    fit(
        model_b,
        torch.optim.SGD(model_b.parameters(), lr=0.1),
        x,
        y,
        epochs=2,
        batch_size=8,
        amp=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert_same_parameters(model_a, model_b)
    assert evaluate(model_a, x, y, amp=True) == evaluate(model_a, x, y)


@pytest.mark.parametrize("batch_size", [1, 7, N, 1000])
def test_evaluate_equals_brute_force_accuracy_and_loss(batch_size):
    x, y = make_data(1)
    model = make_model(2)
    result = evaluate(model, x, y, batch_size=batch_size)
    with torch.no_grad():
        logits = model(x)
    accuracy = int((logits.argmax(1) == y).sum()) / N
    assert isinstance(result, EvalResult)
    assert result.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert result.error == pytest.approx(1 - accuracy, abs=1e-12)
    assert result.loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)


def test_evaluate_applies_the_transform_and_the_loss_and_leaves_eval_mode():
    x, y = make_data(1)
    model = nn.Sequential(make_model(2), nn.Dropout(0.5))
    model.train()
    transform = lambda xb: 2 * xb + 1  # noqa: E731
    result = evaluate(model, x, y, batch_size=5, transform=transform, loss=F.multi_margin_loss)
    assert not model.training
    with torch.no_grad():
        logits = model(transform(x))
    assert result.accuracy == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert result.loss == pytest.approx(F.multi_margin_loss(logits, y).item(), rel=1e-6)
    batched, whole = (
        evaluate(model, x, y, batch_size=5, transform=transform),
        evaluate(model, x, y, transform=transform),
    )
    assert batched.accuracy == whole.accuracy and batched.loss == pytest.approx(whole.loss, rel=1e-6)


def test_evaluate_computes_no_gradients():
    x, y = make_data()
    model = make_model()
    evaluate(model, x, y)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": -1}, "epochs=-1 is out of range: must be >= 0"),
        ({"epochs": 1.5}, "epochs=1.5 has the wrong type: expected int"),
        ({"epochs": True}, "epochs=True has the wrong type: expected int"),
        ({"epochs": 1, "batch_size": 0}, "batch_size=0 is out of range: must be >= 1"),
        ({"epochs": 1, "batch_size": 2.0}, "batch_size=2.0 has the wrong type"),
        ({"epochs": 1, "scheduler_interval": "batch"}, "scheduler_interval='batch' is not allowed: choose one of"),
    ],
)
def test_fit_rejects_bad_arguments_naming_the_value(kwargs, message):
    x, y = make_data()
    model = make_model()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, **kwargs)


def test_fit_and_evaluate_reject_mismatched_or_empty_data():
    x, y = make_data()
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="x and y differ in length: 37 != 36"):
        fit(model, opt, x, y[:-1], epochs=1)
    with pytest.raises(ValueError, match="37 and 36"):
        evaluate(model, x, y[:-1])
    with pytest.raises(ValueError, match="non-empty"):
        evaluate(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="batch_size=0 is out of range"):
        evaluate(model, x, y, batch_size=0)


def test_chunked_full_batch_step_equals_the_unchunked_one():
    # gradient accumulation: chunks weighted by their share give the full-batch gradient and loss
    x, y = make_data()
    model_a, model_b = make_model(), make_model()
    result_a = fit(model_a, torch.optim.SGD(model_a.parameters(), lr=0.3), x, y, epochs=3, shuffle=False, chunk_size=10)
    result_b = fit(model_b, torch.optim.SGD(model_b.parameters(), lr=0.3), x, y, epochs=3, shuffle=False)
    assert result_a.steps == result_b.steps == 3
    assert result_a.epoch_losses == pytest.approx(result_b.epoch_losses, rel=1e-6)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="chunk_size=0 is out of range: must be >= 1"):
        fit(model_a, torch.optim.SGD(model_a.parameters(), lr=0.3), x, y, epochs=1, chunk_size=0)


def test_custom_batches_replace_the_shuffle():
    x, y = make_data()
    order = [torch.arange(0, 20), torch.arange(20, N)]
    seen: list[tuple[int, list[int]]] = []

    def batches(epoch):
        seen.append((epoch, [len(b) for b in order]))
        return order

    model_a, model_b = make_model(), make_model()
    g = torch.Generator().manual_seed(5)
    result = fit(model_a, torch.optim.SGD(model_a.parameters(), lr=0.1), x, y, epochs=2, batches=batches, generator=g)
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(5).get_state())  # no permutation drawn
    assert seen == [(1, [20, 17]), (2, [20, 17])] and result.steps == 4
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1)
    for _ in range(2):
        for idx in order:
            loss = F.cross_entropy(model_b(x[idx]), y[idx])
            opt_b.zero_grad()
            loss.backward()
            opt_b.step()
    assert_same_parameters(model_a, model_b)


def test_evaluate_with_a_custom_prediction_and_without_eval_mode():
    x = torch.tensor([[1.0], [-2.0], [3.0], [-0.5]])
    y = torch.tensor([1.0, -1.0, -1.0, -1.0])
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Dropout(0.0))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    model.train()
    result = evaluate(
        model,
        x,
        y,
        predict=lambda out: torch.sign(out[:, 0]),
        loss=lambda out, t: (out[:, 0] - t).pow(2).mean(),
        set_eval=False,
    )
    assert model.training  # left as it was
    assert result.accuracy == 0.75
    assert result.loss == pytest.approx(((x[:, 0] - y) ** 2).mean().item())
