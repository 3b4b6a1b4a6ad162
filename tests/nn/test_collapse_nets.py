"""ETF classifier, collapse MLP / ResNet, trained with train.fit on the one-hot MSE."""

import math

import pytest
import torch

from icml22dl.losses import OneHotMSELoss
from icml22dl.nn import get_model
from icml22dl.nn.collapse_nets import CollapseMLP, ETFClassifier, etf_weight, resnet18_collapse
from icml22dl.runner import torch_seeded
from icml22dl.train import evaluate, fit


def test_etf_weight_is_a_unit_simplex_etf_padded_with_zeros():
    K, d = 5, 8
    W = etf_weight(K, d, torch.float64)
    expected = K / (K - 1) * (torch.eye(K, dtype=torch.float64) - 1.0 / K)  # closed form of the Gram
    assert torch.allclose(W @ W.T, expected, atol=1e-12)
    assert torch.allclose(W.norm(dim=1), torch.ones(K, dtype=torch.float64), atol=1e-12)
    assert torch.all(W[:, K:] == 0)
    with pytest.raises(ValueError, match="feature_dim"):
        etf_weight(5, 4)


def test_etf_classifier_is_frozen_and_linear():
    fc = ETFClassifier(6, 4)
    assert [n for n, _ in fc.named_parameters()] == ["bias"]
    x = torch.randn(3, 6)
    assert torch.allclose(fc(x), x @ fc.weight.T + fc.bias)


def test_mlp_shapes_fixdim_and_bias_free():
    model = CollapseMLP(784, 10, width=32, depth=3, feature_dim=10, fc_bias=False, etf_fc=True)
    assert model(torch.randn(4, 28, 28)).shape == (4, 10)
    assert model.fc.bias is None and model.fc.in_features == 10
    assert isinstance(get_model("collapse_mlp", in_features=4, num_classes=3), CollapseMLP)


def test_resnet_collapse_fixdim_and_etf():
    model = resnet18_collapse(10, etf_fc=True, fixdim=10)
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert isinstance(model.fc, ETFClassifier)


def test_fit_with_the_one_hot_mse_fits_a_separable_toy_problem():
    # The training recipe of the collapse papers: train.fit + OneHotMSELoss + SGD with a step schedule.
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(20)
    x = torch.randn(60, 5, generator=gen) * 0.1 + 2 * torch.eye(3, 5)[y]
    with torch_seeded(0):
        model = CollapseMLP(5, 3, width=16, depth=1)
    mse = OneHotMSELoss(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    result = fit(
        model,
        opt,
        x,
        y,
        epochs=30,
        batch_size=20,
        generator=gen,
        loss_fn=lambda m, b: mse(m(b.x), b.y),
        scheduler=torch.optim.lr_scheduler.MultiStepLR(opt, [20], 0.1),
    )
    assert len(result.epoch_losses) == 30 and result.epoch_losses[-1] < result.epoch_losses[0] / 3
    assert evaluate(model, x, y).accuracy == 1.0
    assert math.isfinite(result.last_loss)
