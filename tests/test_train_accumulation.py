"""train.fit's gradient accumulation (``chunk_size``) and evaluate's ``predict`` and ``set_eval``."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.nn import full_batch_grad
from icml22dl.train import NonFiniteLossError, evaluate, fit


def _data(n=20, d=3, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


@pytest.mark.parametrize("chunk_size", [1, 6, 7, 19, 20, 100])
def test_chunked_full_batch_steps_equal_unchunked_full_batch_gd(chunk_size):
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Linear(3, 3)
    ref = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.3, momentum=0.9)
    result = fit(model, opt, x, y, epochs=4, shuffle=False, chunk_size=chunk_size)
    ref_losses = []
    for _ in range(4):  # the hand-written full-batch loop
        ref_opt.zero_grad()
        loss = F.cross_entropy(ref(x), y)
        loss.backward()
        ref_opt.step()
        ref_losses.append(loss.item())
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
    assert result.steps == 4
    assert result.epoch_losses == pytest.approx(ref_losses, rel=1e-6)


def test_one_chunked_step_stores_the_gradient_of_full_batch_grad():
    # Independent reference: nn.full_batch_grad accumulates the same |B|/N-weighted chunk losses.
    x, y = _data(n=25)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3))
    ref = copy.deepcopy(model)
    ref_loss = full_batch_grad(ref, [(x[i : i + 10], y[i : i + 10]) for i in range(0, 25, 10)], F.cross_entropy)
    grads = {}

    class Probe(torch.optim.SGD):
        def step(self, closure=None):
            grads.update({id(p): p.grad.clone() for group in self.param_groups for p in group["params"]})
            return super().step(closure)

    result = fit(model, Probe(model.parameters(), lr=0.0), x, y, epochs=1, shuffle=False, chunk_size=10)
    assert result.last_loss == pytest.approx(ref_loss, rel=1e-6)
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(grads[id(p)], q.grad, rtol=1e-6, atol=1e-7)


def test_chunks_of_mini_batches_see_the_batch_indices_and_the_augmentation():
    x, y = _data(n=12)
    seen = []

    def loss_fn(model, batch):
        seen.append(batch.index.tolist())
        return F.cross_entropy(model(batch.x), batch.y)

    model = nn.Linear(3, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, opt, x, y, epochs=1, batch_size=6, shuffle=False, chunk_size=4, loss_fn=loss_fn, augment=lambda t: t)
    assert seen == [[0, 1, 2, 3], [4, 5], [6, 7, 8, 9], [10, 11]]


def test_a_non_finite_chunk_raises_with_the_step_number():
    x, y = _data(n=10)
    x[7] = float("nan")
    model = nn.Linear(3, 3)
    with pytest.raises(NonFiniteLossError) as info:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, shuffle=False, chunk_size=4)
    assert info.value.step == 1


def test_chunk_size_is_validated():
    x, y = _data()
    model = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="chunk_size=0 is out of range"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1, chunk_size=0)


def test_evaluate_with_sign_predictions_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g)
    y = torch.where(torch.rand(50, generator=g) < 0.5, -1.0, 1.0)
    w = torch.randn(4, generator=g)

    class Scalar(nn.Module):
        def forward(self, inputs):
            return inputs @ w

    def logistic(out, target):
        return F.softplus(-target * out).mean()

    result = evaluate(Scalar(), x, y, batch_size=50, loss=logistic, predict=torch.sign)
    out = x @ w
    assert result.accuracy == float((torch.sign(out) == y).sum()) / 50
    assert result.loss == pytest.approx(float(F.softplus(-y * out).mean()), rel=1e-6)


def test_evaluate_can_leave_batchnorm_on_batch_statistics():
    x, y = _data(n=16)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    model.train()
    before = evaluate(model, x, y, set_eval=False)
    assert model.training
    logits = model(x)  # batch statistics; one batch of 16
    assert before.accuracy == float((logits.argmax(1) == y).sum()) / 16
    evaluate(model, x, y)
    assert not model.training
