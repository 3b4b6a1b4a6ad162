"""Layers and models (``nn.Module``), full-batch gradient accumulation, and the model registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from icml22dl.nn.cifar_models import resnet18_cifar, vgg19_bn
from icml22dl.nn.cubic_cnn import CubicPatchCNN
from icml22dl.nn.full_batch import full_batch_grad
from icml22dl.registry import Registry

__all__ = [
    "MODELS",
    "CubicPatchCNN",
    "full_batch_grad",
    "get_model",
    "list_models",
    "register_model",
    "resnet18_cifar",
    "vgg19_bn",
]

ModelBuilder = Callable[..., nn.Module]


def _check_builder(builder: ModelBuilder) -> None:
    if not callable(builder):
        raise ValueError(f"builder must be callable, got {builder!r}")


MODELS: Registry[ModelBuilder] = Registry("model", _check_builder)
register_model = MODELS.register
list_models = MODELS.list


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with ``kwargs``; ValueError listing the known names."""
    return MODELS.get(name)(**kwargs)


register_model("cubic_patch_cnn", CubicPatchCNN)
register_model("resnet18_cifar", resnet18_cifar)
register_model("vgg19_bn", vgg19_bn)
