"""fit_graph_batches against an independently written loop; divergence and clipping."""

import math

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torch_geometric")

from icml22dl.graphs import GraphTrainer, fit_graph_batches, fit_interleaved  # noqa: E402
from icml22dl.train import NonFiniteLossError  # noqa: E402


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(6, 3, generator=g), torch.randn(6, 1, generator=g)) for _ in range(4)]
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1), batches


def _mse(model, batch):
    return F.mse_loss(model(batch[0]), batch[1])


def test_equals_an_independent_loop_with_clipping_and_evaluation():
    model, batches = _problem()
    reference, _ = _problem()
    seen = []
    result = fit_graph_batches(
        model,
        torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-3),
        batches,
        _mse,
        epochs=3,
        generator=torch.Generator().manual_seed(7),
        clip=0.1,
        evaluate=lambda m: {"first": _mse(m, batches[0]).item()},
        on_epoch=lambda epoch, values: seen.append((epoch, dict(values))),
    )
    opt = torch.optim.Adam(reference.parameters(), lr=0.05, weight_decay=1e-3)
    order_gen = torch.Generator().manual_seed(7)
    history = []
    for _ in range(3):
        losses = []
        for i in torch.randperm(4, generator=order_gen).tolist():
            opt.zero_grad()
            loss = _mse(reference, batches[i])
            loss.backward()
            for p in reference.parameters():
                p.grad.clamp_(-0.1, 0.1)
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            history.append({"first": _mse(reference, batches[0]).item(), "train_loss": sum(losses) / 4})
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.equal(a, b)
    assert result.history == history and result.steps == 12
    assert seen == list(enumerate(history, start=1))
    assert result.ms_per_epoch > 0 and not model.training


def test_a_non_finite_loss_raises_before_its_step():
    model, batches = _problem()
    before = [p.clone() for p in model.parameters()]
    bad = [(torch.full((6, 3), math.inf), torch.zeros(6, 1))]
    with pytest.raises(NonFiniteLossError) as caught:
        fit_graph_batches(model, torch.optim.SGD(model.parameters(), lr=0.1), bad, _mse, epochs=2)
    assert caught.value.step == 1
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before))


def test_bad_arguments():
    model, batches = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs"):
        fit_graph_batches(model, opt, batches, _mse, epochs=0)
    with pytest.raises(ValueError, match="clip"):
        fit_graph_batches(model, opt, batches, _mse, epochs=1, clip=0.0)
    with pytest.raises(ValueError, match="batches"):
        fit_graph_batches(model, opt, [], _mse, epochs=1)


def test_interleaved_training_equals_training_each_model_alone():
    # Round-robin epochs change only when each epoch runs, never what it computes.
    alone = []
    for seed in (0, 1):
        model, batches = _problem(seed)
        alone.append(
            (
                fit_graph_batches(
                    model,
                    torch.optim.Adam(model.parameters(), lr=0.01),
                    batches,
                    _mse,
                    epochs=3,
                    generator=torch.Generator().manual_seed(seed),
                    clip=0.5,
                ),
                model,
            )
        )
    trainers = []
    for seed in (0, 1):
        model, batches = _problem(seed)
        trainers.append(
            GraphTrainer(
                model,
                torch.optim.Adam(model.parameters(), lr=0.01),
                batches,
                _mse,
                generator=torch.Generator().manual_seed(seed),
                clip=0.5,
            )
        )
    results = fit_interleaved(trainers, 3)
    for (reference, ref_model), result, trainer in zip(alone, results, trainers):
        assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in reference.history]
        torch.testing.assert_close(trainer.model.weight, ref_model.weight, rtol=0, atol=0)
        assert len(result.epoch_ms) == 3 and result.steps == 12
        assert result.ms_per_epoch == pytest.approx(sum(result.epoch_ms) / 3)
        assert result.median_ms_per_epoch == sorted(result.epoch_ms)[1]
    with pytest.raises(ValueError, match="epochs"):
        fit_interleaved(trainers, 0)
