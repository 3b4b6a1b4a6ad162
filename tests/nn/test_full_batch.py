"""full_batch_grad: accumulated full-batch gradient equals one big batch (Jelassi & Li, ICML 2022, GD)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from icml22dl.nn import full_batch_grad

torch.set_num_threads(1)

N = 103  # not a multiple of the batch size: the last batch is smaller


def _setup() -> tuple[nn.Module, Tensor, Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(N, 6, generator=g), torch.randint(0, 3, (N,), generator=g)


def _grads(model: nn.Module) -> list[Tensor]:
    return [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]


def _big_batch(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, list[Tensor]]:
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), _grads(model)


@pytest.mark.parametrize("batch_size", [1, 16, 64, N])
def test_equals_one_big_batch(batch_size: int) -> None:
    model, x, y = _setup()
    ref_loss, ref = _big_batch(model, x, y)
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)  # stale gradients must not leak in
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
    loss = full_batch_grad(model, loader, nn.functional.cross_entropy)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    for got, want in zip(_grads(model), ref):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert max(g.abs().max().item() for g in ref) > 1e-2  # gradients are not trivially small


def test_list_of_batches_and_num_examples() -> None:
    model, x, y = _setup()
    ref_loss, ref = _big_batch(model, x, y)
    batches = list(zip(x.split(10), y.split(10)))
    assert full_batch_grad(model, batches, nn.functional.cross_entropy) == pytest.approx(ref_loss, rel=1e-6)
    for got, want in zip(_grads(model), ref):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="num_examples"):
        full_batch_grad(model, iter(batches), nn.functional.cross_entropy)  # unsized: N unknown
    full_batch_grad(model, iter(batches), nn.functional.cross_entropy, num_examples=N)
    for got, want in zip(_grads(model), ref):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_rejects_shuffling_and_wrong_counts() -> None:
    model, x, y = _setup()
    dataset = TensorDataset(x, y)
    with pytest.raises(ValueError, match="fixed order"):
        full_batch_grad(model, DataLoader(dataset, batch_size=8, shuffle=True), nn.functional.cross_entropy)
    with pytest.raises(ValueError, match="num_examples .*103"):
        full_batch_grad(model, DataLoader(dataset, batch_size=8, drop_last=True), nn.functional.cross_entropy)
    with pytest.raises(ValueError, match="num_examples=0 "):
        full_batch_grad(model, DataLoader(dataset, batch_size=8), nn.functional.cross_entropy, num_examples=0)
