"""MLP: shapes, parameter names, BatchNorm switch, bad input."""

import pytest
import torch
from torch import nn

from icml22dl.nn import MLP, get_model


def test_shapes_names_and_plain_reference():
    torch.manual_seed(0)
    model = MLP(6, (5, 4), 3, batchnorm=False)
    x = torch.randn(7, 2, 3)
    h = x.flatten(1)
    for block in model.blocks:
        h = torch.relu(block[0].weight @ h.T + block[0].bias[:, None]).T
    expected = h @ model.classifier.weight.T + model.classifier.bias
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert isinstance(MLP(6, (5,), 3).blocks[0][1], nn.BatchNorm1d)
    assert isinstance(get_model("mlp", in_features=4), MLP)


def test_bad_widths_raise():
    with pytest.raises(ValueError, match="^in_features=0 "):
        MLP(0, (4,), 3)
    with pytest.raises(ValueError, match=r"^hidden\[1\]=-2 "):
        MLP(3, (4, -2), 3)
    with pytest.raises(ValueError, match="^num_classes=2.5 has the wrong type"):
        MLP(3, (4,), 2.5)
