"""Layers and models (``nn.Module``), full-batch gradient accumulation, and the model registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from icml22dl.nn.cifar_models import resnet18_cifar, vgg19_bn
from icml22dl.nn.cubic_cnn import CubicPatchCNN
from icml22dl.nn.full_batch import full_batch_grad

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

MODELS: dict[str, ModelBuilder] = {}


def register_model(
    name: str, builder: ModelBuilder | None = None
) -> ModelBuilder | Callable[[ModelBuilder], ModelBuilder]:
    """Register a model class or factory under ``name``; a decorator when ``builder`` is omitted.

    Args:
        name: registry key, unique.
        builder: an ``nn.Module`` subclass or a function returning one; omit to decorate.

    Returns:
        ``builder`` itself, or a decorator that registers and returns its argument.

    Example:
        >>> @register_model("tiny_mlp")  # doctest: +SKIP
        ... def tiny_mlp(width: int = 8) -> nn.Module: ...
    """

    def add(model_builder: ModelBuilder) -> ModelBuilder:
        if not callable(model_builder):
            raise ValueError(f"builder must be callable, got {model_builder!r}")
        if MODELS.get(name, model_builder) is not model_builder:
            raise ValueError(f"name {name!r} is already registered to {MODELS[name]!r}")
        MODELS[name] = model_builder
        return model_builder

    return add if builder is None else add(builder)


def list_models() -> list[str]:
    """Return the registered model names, sorted."""
    return sorted(MODELS)


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with ``kwargs``; ValueError listing the known names."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {list_models()}, got {name!r}")
    return MODELS[name](**kwargs)


register_model("cubic_patch_cnn", CubicPatchCNN)
register_model("resnet18_cifar", resnet18_cifar)
register_model("vgg19_bn", vgg19_bn)
