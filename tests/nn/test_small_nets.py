"""SmallConvNet and MLPClassifier: parameter counts by hand, output shapes."""

import pytest
import torch

from icml22dl.nn import MLPClassifier, SmallConvNet, get_model


def test_small_conv_net_parameter_count_and_shape():
    model = SmallConvNet()
    # conv1 16*1*4*4 + 16, conv2 32*16*4*4 + 32, fc 1568*100 + 100, fc 100*10 + 10
    expected = (16 * 16 + 16) + (32 * 16 * 16 + 32) + (1568 * 100 + 100) + (100 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert isinstance(get_model("small_conv_net"), SmallConvNet)
    with pytest.raises(ValueError, match="image_size"):
        SmallConvNet(image_size=30)


def test_mlp_classifier_parameter_count():
    model = MLPClassifier([64, 512, 512, 10])
    assert sum(p.numel() for p in model.parameters()) == 64 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="sizes"):
        MLPClassifier([10])
