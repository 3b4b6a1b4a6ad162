"""Optimizers (``torch.optim.Optimizer`` subclasses) and the optimizer registry."""

from __future__ import annotations

from collections.abc import Callable

import torch

from icml22dl.optim.momentum import EMAMomentum

__all__ = [
    "EMAMomentum",
    "OPTIMIZERS",
    "get_optimizer",
    "list_optimizers",
    "register_optimizer",
]

OptimizerClass = type[torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerClass] = {}


def register_optimizer(
    name: str, cls: OptimizerClass | None = None
) -> OptimizerClass | Callable[[OptimizerClass], OptimizerClass]:
    """Register an optimizer class under ``name``; a decorator when ``cls`` is omitted.

    Args:
        name: registry key, unique.
        cls: a ``torch.optim.Optimizer`` subclass; omit to use the function as a decorator.

    Returns:
        ``cls`` itself, or a decorator that registers and returns its argument.

    Example:
        >>> @register_optimizer("my_sgd")  # doctest: +SKIP
        ... class MySGD(torch.optim.Optimizer): ...
    """

    def add(optimizer_cls: OptimizerClass) -> OptimizerClass:
        if not (isinstance(optimizer_cls, type) and issubclass(optimizer_cls, torch.optim.Optimizer)):
            raise ValueError(f"cls must be a torch.optim.Optimizer subclass, got {optimizer_cls!r}")
        if OPTIMIZERS.get(name, optimizer_cls) is not optimizer_cls:
            raise ValueError(f"name {name!r} is already registered to {OPTIMIZERS[name].__name__}")
        OPTIMIZERS[name] = optimizer_cls
        return optimizer_cls

    return add if cls is None else add(cls)


def list_optimizers() -> list[str]:
    """Return the registered optimizer names, sorted."""
    return sorted(OPTIMIZERS)


def get_optimizer(name: str) -> OptimizerClass:
    """Return the optimizer class registered as ``name``; ValueError listing the known names."""
    if name not in OPTIMIZERS:
        raise ValueError(f"name must be one of {list_optimizers()}, got {name!r}")
    return OPTIMIZERS[name]


register_optimizer("ema_momentum", EMAMomentum)
