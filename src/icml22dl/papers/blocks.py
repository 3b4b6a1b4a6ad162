"""Config blocks shared by several papers' ``Config``: declared once, nested as fields.

A paper nests a block as ``opt: Optim = param(Optim(name="sgd", lr=0.1, momentum=0.9))``;
the command line sets one of its fields as ``--set opt.lr=0.05``, ``icml22dl show`` lists it
as ``opt.lr``, and the run hash covers it. Each block validates itself on construction.
Paper-specific blocks live in their paper's module; a block used by two or more papers
lives here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from icml22dl.optim import get_optimizer
from icml22dl.runner import ConfigBlock, param

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adai", "adaiw")
SCHEDULES = ("constant", "multistep", "cosine")


@dataclass(frozen=True)
class Optim(ConfigBlock):
    """An optimiser and its hyper-parameters; :meth:`build` makes it for a parameter list."""

    name: str = param("sgd", choices=OPTIMIZERS, help="torch SGD/Adam/AdamW/RMSprop, or Adai/AdaiW (this library)")
    lr: float = param(0.1, low=0.0, low_inclusive=False, help="learning rate")
    momentum: float = param(0.0, low=0.0, high=1.0, high_inclusive=False, help="SGD momentum (sgd only)")
    weight_decay: float = param(0.0, low=0.0, help="L2 (sgd, adam, rmsprop, adai) or decoupled (adamw, adaiw) decay")
    eps: float = param(1e-8, low=0.0, low_inclusive=False, help="adam/adamw/rmsprop eps (torch default 1e-8)")

    def build(self, params: Iterable[torch.Tensor] | Iterable[dict]) -> torch.optim.Optimizer:
        """The optimiser over ``params``, with this block's hyper-parameters."""
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        if self.name == "adam":
            return torch.optim.Adam(params, lr=self.lr, eps=self.eps, weight_decay=self.weight_decay)
        if self.name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, eps=self.eps, weight_decay=self.weight_decay)
        if self.name == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr, eps=self.eps, weight_decay=self.weight_decay)
        return get_optimizer(self.name)(params, lr=self.lr, weight_decay=self.weight_decay)


@dataclass(frozen=True)
class Schedule(ConfigBlock):
    """A learning-rate schedule over a run of ``length`` scheduler steps (epochs or steps)."""

    kind: str = param("constant", choices=SCHEDULES, help="constant, step decay at milestones, or cosine to 0")
    milestones: tuple[float, ...] = param(
        (0.4, 0.8), low=0.0, high=1.0, help="multistep: decay points as fractions of the run (80/160 of 200 epochs)"
    )
    gamma: float = param(0.1, low=0.0, high=1.0, low_inclusive=False, help="multistep: decay factor")

    def build(self, optimizer: torch.optim.Optimizer, length: int) -> torch.optim.lr_scheduler.LRScheduler:
        """The scheduler for a run of ``length`` scheduler steps."""
        if self.kind == "multistep":
            points = [round(length * m) for m in self.milestones]
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=points, gamma=self.gamma)
        if self.kind == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=length)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
