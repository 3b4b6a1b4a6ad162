"""OneHotMSELoss against torch's MSELoss on explicit one-hot targets."""

import pytest
import torch
from torch import nn

from icml22dl.losses import OneHotMSELoss


def test_equals_mse_loss_against_one_hot_targets():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, generator=g, requires_grad=True)
    y = torch.randint(0, 4, (7,), generator=g)
    targets = torch.zeros(7, 4)
    targets[torch.arange(7), y] = 1.0  # built by hand, not with one_hot
    ours = OneHotMSELoss(4)(logits, y)
    reference = nn.MSELoss()(logits, targets)
    torch.testing.assert_close(ours, reference)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_ref,) = torch.autograd.grad(reference, logits)
    torch.testing.assert_close(g_ours, g_ref)


def test_mean_is_over_every_entry():
    # One wrong row of K = 5: 2 entries off by 1 out of 1 x 5 -> 2/5.
    loss = OneHotMSELoss(5)(torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(0.4)


def test_rejects_fewer_than_two_classes():
    with pytest.raises(ValueError, match="num_classes=1 is out of range"):
        OneHotMSELoss(1)
