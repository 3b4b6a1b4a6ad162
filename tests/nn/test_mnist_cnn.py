"""CNN2 (the EFLD experiments' MNIST CNN) and default_init_ (torch's default init from a generator)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.nn import CNN2, default_init_, get_model, list_models


def _reference_forward(net: CNN2, x: torch.Tensor) -> torch.Tensor:
    # The architecture written out with functional ops from the module's own weights.
    conv1, conv2, fc1, fc2 = (m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    h = F.max_pool2d(F.relu(F.conv2d(x.view(-1, 1, 28, 28), conv1.weight, conv1.bias)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, conv2.weight, conv2.bias)), 2)
    h = F.relu(F.linear(h.flatten(1), fc1.weight, fc1.bias))
    return F.linear(h, fc2.weight, fc2.bias)


def test_cnn2_matches_the_functional_architecture_on_flat_and_image_inputs():
    net = default_init_(CNN2(), torch.Generator().manual_seed(0))
    x = torch.rand(3, 784, generator=torch.Generator().manual_seed(1))
    expected = _reference_forward(net, x)
    torch.testing.assert_close(net(x), expected)
    torch.testing.assert_close(net(x.view(3, 1, 28, 28)), expected)


def test_cnn2_shapes_and_parameter_count():
    net = CNN2(num_classes=7)
    assert net(torch.zeros(5, 1, 28, 28)).shape == (5, 7)
    # conv1 32*(25+1), conv2 64*(32*25+1), fc1 1024*(1024+1), fc2 7*(1024+1)
    assert sum(p.numel() for p in net.parameters()) == 32 * 26 + 64 * 801 + 1024 * 1025 + 7 * 1025


def test_cnn2_is_registered_and_rejects_bad_classes():
    assert "cnn2" in list_models()
    assert isinstance(get_model("cnn2"), CNN2)
    with pytest.raises(ValueError, match="num_classes=0"):
        CNN2(num_classes=0)


def test_default_init_draws_only_from_the_generator_in_module_order():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 4), nn.Linear(4, 2, bias=False))
    state = torch.get_rng_state()
    default_init_(net, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched
    g = torch.Generator().manual_seed(3)  # the same draws written out
    for module in (net[0], net[2], net[3]):
        fan_in = module.weight[0].numel()
        bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a = sqrt 5) has this bound too
        weight = torch.empty_like(module.weight).uniform_(-bound, bound, generator=g)
        torch.testing.assert_close(module.weight, weight)
        if module.bias is not None:
            torch.testing.assert_close(module.bias, torch.empty_like(module.bias).uniform_(-bound, bound, generator=g))
