"""Config blocks shared by several papers' ``Config``: declared once, nested as fields.

A paper nests a block as ``opt: Optim = param(Optim(name="sgd", lr=0.1, momentum=0.9))``;
the command line sets one of its fields as ``--set opt.lr=0.05``, ``icml22dl show`` lists it
as ``opt.lr``, and the run hash covers it. Each block validates itself on construction.
Paper-specific blocks live in their paper's module; a block used by two or more papers
lives here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from icml22dl.analysis.ufm import UFMMSE, UFMState
from icml22dl.data.mnist import mnist_as_rgb32, mnist_split
from icml22dl.nn.collapse_nets import CollapseMLP, resnet18_collapse
from icml22dl.optim import get_optimizer
from icml22dl.runner import ConfigBlock, diverged_as, param
from icml22dl.train import FitResult, LossFn, fit

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


@dataclass(frozen=True)
class UFM(ConfigBlock):
    """The unconstrained features model with MSE loss and its full-batch GD run (collapse_mse, extended_ufm).

    ``f(W, H, b) = 1/(2N) ||W H + b 1^T - Y||_F^2 + lambda_W/2 ||W||_F^2 + lambda_H/2 ||H||_F^2``
    with K classes of n samples, d features (Zhou et al., ICML 2022, Eq. (4); Tirer & Bruna,
    ICML 2022, without b). :meth:`solve` runs GD from an i.i.d. normal initialisation.
    """

    classes: int = param(10, low=2, help="K, classes")
    per_class: int = param(50, low=1, help="n, samples per class")
    dim: int = param(32, low=1, help="d, feature dimension")
    lambda_W: float = param(1e-3, low=0.0, low_inclusive=False, help="weight decay of W")
    lambda_H: float = param(1e-3, low=0.0, low_inclusive=False, help="weight decay of H")
    lr: float = param(1.0, low=0.0, low_inclusive=False, help="GD step (below 2/L of the loss)")
    steps: int = param(10000, low=1, help="GD steps")
    init_std: float = param(0.01, low=0.0, help="std of the i.i.d. normal initialisation of every factor")
    log_every: int = param(500, low=1, help="GD steps between logged losses")

    def build(self, *, bias: bool = True, device: torch.device | str | None = None) -> UFMMSE:
        """The model (float64, lambda_b = 0) with this block's sizes and weight decays."""
        return UFMMSE(
            self.classes, self.per_class, self.dim, self.lambda_W, self.lambda_H, 0.0, bias=bias, device=device
        )

    def solve(
        self, generator: torch.Generator, *, bias: bool = True, device: torch.device | str | None = None
    ) -> tuple[UFMMSE, UFMState]:
        """Build the model and run :meth:`UFMMSE.gd` from an init drawn from ``generator``."""
        ufm = self.build(bias=bias, device=device)
        state = ufm.gd(self.lr, self.steps, generator=generator, init_std=self.init_std, log_every=self.log_every)
        return ufm, state


MNIST_TEST_IMAGES = 10000
MNIST_ARCHS = ("none", "mlp", "resnet18")


@dataclass(frozen=True)
class MNISTSubset(ConfigBlock):
    """Random, disjoint MNIST training and test subsets (:func:`icml22dl.data.mnist_split`)."""

    source: str = param(
        "test",
        choices=("test", "train"),
        help="'test': both subsets drawn, disjoint, from the 10,000 t10k images (fast); 'train': the official files",
    )
    train_size: int = param(2000, low=10, help="training images")
    test_size: int = param(3000, low=10, help="test images")

    def check(self) -> None:
        if self.source == "test" and self.train_size + self.test_size > MNIST_TEST_IMAGES:
            raise ValueError(
                f"MNISTSubset.train_size + test_size = {self.train_size + self.test_size} exceeds the "
                f"{MNIST_TEST_IMAGES} t10k images"
            )

    def load(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_train, y_train, x_test, y_test)`` drawn from ``generator``, normalised (N, 28, 28)."""
        return mnist_split(self.train_size, self.test_size, generator, self.source)


@dataclass(frozen=True)
class MNISTNet(ConfigBlock):
    """A classifier trained on an MNIST subset with an optimiser and a step schedule (epochs).

    ``arch="mlp"``: :class:`icml22dl.nn.CollapseMLP` (``depth`` x Linear + BatchNorm + ReLU of
    ``width`` units); ``"resnet18"``: :func:`icml22dl.nn.resnet18_collapse` on MNIST padded
    to 32 x 32 RGB; ``"none"``: no network. The learning rate is multiplied by ``gamma``
    after each epoch in ``milestones``.
    """

    arch: str = param("mlp", choices=MNIST_ARCHS, help="'mlp' (BatchNorm MLP), 'resnet18' (GPU) or 'none' (skip)")
    data: MNISTSubset = param(MNISTSubset(), help="the training and test subsets")
    width: int = param(128, low=1, help="MLP hidden width")
    depth: int = param(3, low=1, help="MLP hidden layers")
    epochs: int = param(300, low=1, help="training epochs")
    batch_size: int = param(128, low=2, help="examples per step")
    opt: Optim = param(Optim(name="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4), help="the optimiser")
    milestones: tuple[int, ...] = param((100, 200), low=1, help="epochs after which the lr is multiplied by gamma")
    gamma: float = param(0.1, low=0.0, high=1.0, low_inclusive=False, help="step-decay factor")

    def check(self) -> None:
        if self.arch != "none" and self.data.train_size % self.batch_size == 1:
            raise ValueError(
                f"MNISTNet.batch_size={self.batch_size} leaves a last batch of one example out of "
                f"data.train_size={self.data.train_size}: BatchNorm needs two"
            )

    def build(
        self, num_classes: int = 10, *, fc_bias: bool = True, etf_fc: bool = False, feature_dim: int | None = None
    ) -> nn.Module:
        """The network (default init from torch's global generator: seed it around this call).

        Args:
            num_classes: K; fc_bias: a bias in the last layer; etf_fc: freeze the last layer
            at a simplex ETF; feature_dim: penultimate width (K for the fixed-ETF "fixdim" run).
        """
        if self.arch == "resnet18":
            return resnet18_collapse(num_classes, fc_bias=fc_bias, etf_fc=etf_fc, fixdim=feature_dim)
        return CollapseMLP(28 * 28, num_classes, self.width, self.depth, feature_dim, fc_bias=fc_bias, etf_fc=etf_fc)

    def transform(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The input transform of the architecture (MNIST -> 3 x 32 x 32 for the ResNet), or None."""
        return mnist_as_rgb32 if self.arch == "resnet18" else None

    def scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """The step schedule, stepped once per epoch."""
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(self.milestones), self.gamma)

    def train(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        loss_fn: LossFn,
        generator: torch.Generator,
        on_epoch: Callable[[int, FitResult], None] | None = None,
        tag: str = "net",
    ) -> FitResult:
        """Train ``model`` on ``(x, y)`` with :func:`icml22dl.train.fit`: this block's epochs, batch
        size, optimiser (over every parameter), step schedule and input transform.

        A non-finite loss ends the run as diverged (:class:`icml22dl.runner.Diverged`) with the
        metric ``<tag>_diverged_epoch``.
        """
        optimizer = self.opt.build(model.parameters())
        with diverged_as(f"{tag}_diverged_epoch", steps_per_unit=math.ceil(len(x) / self.batch_size)):
            return fit(
                model,
                optimizer,
                x,
                y,
                epochs=self.epochs,
                batch_size=self.batch_size,
                loss_fn=loss_fn,
                generator=generator,
                augment=self.transform(),
                scheduler=self.scheduler(optimizer),
                on_epoch=on_epoch,
            )
