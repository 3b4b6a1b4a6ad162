"""The shared UFM, MNISTSubset and MNISTNet config blocks (papers/blocks.py)."""

import math

import pytest
import torch

from icml22dl.analysis import UFMMSE
from icml22dl.losses import OneHotMSELoss
from icml22dl.nn import CollapseMLP, ETFClassifier
from icml22dl.papers.blocks import UFM, MNISTNet, MNISTSubset, Optim
from icml22dl.runner import Diverged, torch_seeded
from icml22dl.train import fit


def test_ufm_solve_equals_the_model_run_by_hand():
    block = UFM(
        classes=3, per_class=4, dim=5, lambda_W=1e-2, lambda_H=2e-2, lr=0.5, steps=50, init_std=0.1, log_every=25
    )
    ufm, state = block.solve(torch.Generator().manual_seed(0), bias=False)
    by_hand = UFMMSE(3, 4, 5, 1e-2, 2e-2, 0.0, bias=False).gd(
        0.5, 50, generator=torch.Generator().manual_seed(0), init_std=0.1, log_every=25
    )
    assert torch.equal(state.W, by_hand.W) and torch.equal(state.H, by_hand.H) and state.b is None
    assert [s for s, _ in state.losses] == [25, 50] and ufm.lambda_H == 2e-2


def test_mnist_subset_rejects_more_than_the_t10k_images():
    with pytest.raises(ValueError, match="exceeds the 10000 t10k images"):
        MNISTSubset(train_size=5000, test_size=5001)
    MNISTSubset(source="train", train_size=50000, test_size=10000)  # the official files are larger


def test_mnist_net_builds_the_architecture_and_rejects_a_batch_of_one():
    net = MNISTNet(width=8, depth=2)
    with torch_seeded(0):
        model = net.build(10, etf_fc=True, feature_dim=10)
    assert isinstance(model, CollapseMLP) and isinstance(model.fc, ETFClassifier) and net.transform() is None
    assert MNISTNet(arch="resnet18").transform()(torch.zeros(2, 28, 28)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="last batch of one example"):
        MNISTNet(data=MNISTSubset(train_size=257), batch_size=128)


def test_mnist_net_train_is_fit_with_sgd_and_the_step_schedule():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 28, 28, generator=g), torch.arange(10).repeat(3)
    net = MNISTNet(width=8, depth=1, epochs=3, batch_size=8, milestones=(2,), opt=Optim(lr=0.05, momentum=0.9))
    with torch_seeded(1):
        model, twin = net.build(10), net.build(10)
    twin.load_state_dict(model.state_dict())
    mse = OneHotMSELoss(10)

    def loss_fn(m, b):
        return mse(m(b.x), b.y)

    result = net.train(model, x, y, loss_fn=loss_fn, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9)  # Optim(...) has no weight decay
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, [2], 0.1)
    fit(
        twin,
        opt,
        x,
        y,
        epochs=3,
        batch_size=8,
        loss_fn=loss_fn,
        generator=torch.Generator().manual_seed(2),
        scheduler=scheduler,
    )
    assert result.steps == 3 * math.ceil(30 / 8)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_mnist_net_train_reports_divergence_with_the_tagged_epoch():
    x, y = torch.randn(20, 28, 28), torch.arange(10).repeat(2)
    net = MNISTNet(width=4, depth=1, epochs=3, batch_size=10)
    with torch_seeded(0):
        model = net.build(10)

    def loss_fn(model, batch):  # finite for the first two steps (epoch 1), then NaN
        loss_fn.calls += 1
        out = model(batch.x).pow(2).mean()
        return out * float("nan") if loss_fn.calls > 2 else out

    loss_fn.calls = 0
    with pytest.raises(Diverged) as error:
        net.train(model, x, y, loss_fn=loss_fn, generator=torch.Generator().manual_seed(0), tag="etf")
    assert error.value.metrics == {"etf_diverged_epoch": 2.0}
