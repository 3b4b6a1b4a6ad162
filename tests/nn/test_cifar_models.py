"""CIFAR ResNet-18 and VGG-19-BN written here (paper-scale models of Jelassi & Li, ICML 2022)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from icml22dl.nn import get_model, list_models, resnet18_cifar, vgg19_bn

torch.set_num_threads(1)

# Pinned parameter counts; reference counts: ResNet-18 CIFAR ~ 11.17 M, VGG-19-BN CIFAR ~ 20.04 M.
PARAMS = {
    ("resnet18_cifar", 10): 11_173_962,
    ("resnet18_cifar", 100): 11_220_132,
    ("vgg19_bn", 10): 20_040_522,
    ("vgg19_bn", 100): 20_086_692,
}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "classes"), list(PARAMS))
def test_parameter_count_and_output_shape(name: str, classes: int) -> None:
    torch.manual_seed(0)
    model = get_model(name, num_classes=classes)
    assert _count(model) == PARAMS[(name, classes)]
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, classes)


def test_resnet18_structure() -> None:
    model = resnet18_cifar()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    stem = convs[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1) and stem.out_channels == 64
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    # 1 stem + 8 blocks x 2 convs + 3 projection shortcuts; widths 64-128-256-512.
    assert len(convs) == 20
    assert sorted({c.out_channels for c in convs}) == [64, 128, 256, 512]
    assert model.fc.in_features == 512


def test_vgg19_bn_structure() -> None:
    model = vgg19_bn()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16 and all(c.kernel_size == (3, 3) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 4 + [512] * 8
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 16
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5
    assert isinstance(model.classifier, nn.Linear) and model.classifier.in_features == 512


@pytest.mark.parametrize("name", ["resnet18_cifar", "vgg19_bn"])
def test_train_mode_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name)
    nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([0, 1])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_registry_and_validation() -> None:
    assert {"cubic_patch_cnn", "resnet18_cifar", "vgg19_bn"} <= set(list_models())
    with pytest.raises(ValueError, match="resnet18_cifar"):
        get_model("resnet50")
    for builder in (resnet18_cifar, vgg19_bn):
        with pytest.raises(ValueError, match="^num_classes=0 "):
            builder(num_classes=0)
