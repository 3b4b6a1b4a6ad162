"""Optimizers (``torch.optim.Optimizer`` subclasses) and the optimizer registry."""

from __future__ import annotations

from collections.abc import Callable

import torch

from icml22dl.optim.adai import Adai, AdaiV2, AdaiW
from icml22dl.optim.efld import EFLD, SGLD, NoisySignSGD, QuantizedSGD
from icml22dl.optim.momentum import EMAMomentum
from icml22dl.optim.schedules import PiecewiseLinearLR
from icml22dl.registry import Registry

__all__ = [
    "EFLD",
    "SGLD",
    "Adai",
    "AdaiV2",
    "AdaiW",
    "NoisySignSGD",
    "QuantizedSGD",
    "EMAMomentum",
    "PiecewiseLinearLR",
    "OPTIMIZERS",
    "get_optimizer",
    "list_optimizers",
    "register_optimizer",
]


#: An optimizer class, typed by how it is called: ``cls(params, lr=..., **hyper_parameters)``.
OptimizerClass = Callable[..., torch.optim.Optimizer]


def _check_optimizer(cls: OptimizerClass) -> None:
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"cls must be a torch.optim.Optimizer subclass, got {cls!r}")


OPTIMIZERS: Registry[OptimizerClass] = Registry("optimizer", _check_optimizer)
register_optimizer = OPTIMIZERS.register
list_optimizers = OPTIMIZERS.list
get_optimizer = OPTIMIZERS.get

register_optimizer("ema_momentum", EMAMomentum)
register_optimizer("adai", Adai)
register_optimizer("adaiw", AdaiW)
register_optimizer("adaiv2", AdaiV2)
register_optimizer("efld", EFLD)
register_optimizer("sgld", SGLD)
register_optimizer("noisy_sign_sgd", NoisySignSGD)
register_optimizer("quantized_sgd", QuantizedSGD)
