"""Paper 2, ``interpolation``: what linear interpolation of loss landscapes can tell us.

Claim (Vlaar & Frankle, ICML 2022): the shape of the loss along the straight line from the
initial to the final parameters (monotone, bump, plateau then cliff) changes with weight
decay, initialisation, data and architecture while test accuracy barely moves, so it does
not indicate optimisation success; layers differ strongly in sensitivity.

``quick`` (our design calibrated by a prototype; docs/papers/interpolation.md#defaults): an
MLP with BatchNorm on scikit-learn's 8x8 digits trained with and without strong weight decay
from the same initialisation; the path's alpha_drop moves from about 0.15 to about 0.85
while test accuracy stays within a few points. ``paper``: ResNet-18 on CIFAR-10 (JPEG pack),
weight decay sweep, 25-point test-loss paths, layer-wise B1-B4 and fc. ``gpu_check``: one
20-epoch arm (informational).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.analysis.interpolation import (
    alpha_drop,
    barrier_over_chord,
    bumps,
    classification_evaluator,
    is_monotone,
    layerwise_paths,
    linear_path,
    mlp_layer_groups,
    param_distance,
    resnet_stage_groups,
)
from icml22dl.data.augment import pad_crop_flip
from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.standardize import standardized_digits
from icml22dl.data.subsets import random_subset
from icml22dl.data.transforms import ChannelStandardize
from icml22dl.nn import get_model
from icml22dl.nn.mlp import MLP
from icml22dl.papers.blocks import Optim, Schedule
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    check_finite,
    derive_generator,
    diverged_as,
    load_claim,
    param,
    torch_seeded,
)
from icml22dl.runner.device import resolve_device
from icml22dl.train import Batch, FitResult, fit

LN10 = math.log(10.0)
DIGITS = 1797
CIFAR_TRAIN = 50000


@dataclass(frozen=True)
class MLPNet(ConfigBlock):
    """The quick model: :class:`icml22dl.nn.MLP` 64 -> hidden -> 10 on the flattened digits."""

    hidden: tuple[int, ...] = param((128, 128, 128), low=1, help="hidden widths (quick: 128, 128, 128)")
    batchnorm: bool = param(True, help="hidden layers Linear -> BatchNorm1d -> ReLU (quick)")


@dataclass(frozen=True)
class DataSplit(ConfigBlock):
    """The training and test sets: the fixed digits split, or random CIFAR-10 subsets."""

    train_size: int = param(1347, low=1, help="digits training examples of the fixed split (1347 / 450)")
    train_subset: int = param(0, low=0, help="CIFAR: random subset of training images (0 = all 50 000)")
    test_subset: int = param(0, low=0, help="CIFAR: random subset of test images (0 = all 10 000)")


@dataclass(frozen=True)
class Training(ConfigBlock):
    """Mini-batch training of each weight-decay arm."""

    epochs: int = param(60, low=1, help="training epochs (quick: 60; paper 100)")
    batch_size: int = param(64, low=2, help="training batch (quick: 64, paper 128)")
    augment: bool = param(False, help="CIFAR: random crop (pad 4) and horizontal flip (paper: assumed)")


@dataclass(frozen=True)
class PathEval(ConfigBlock):
    """The interpolation paths: grid, split, BatchNorm policy and the alpha_drop level."""

    points: int = param(21, low=2, help="alpha grid linspace(0, 1, K) (21 quick, 25 paper)")
    split: str = param("train", choices=("train", "test"), help="loss on the path (train quick, test paper)")
    bn_policy: str = param(
        "recompute",
        choices=("recompute", "interpolate", "batch", "start", "end"),
        help="BatchNorm along the path (default: recompute)",
    )
    bn_batch_size: int = param(0, low=0, help="recompute batch size (0 = the full training set in one batch)")
    bn_batches: int = param(0, low=0, help="CIFAR: recompute on this many equal training batches (0 = all)")
    drop_threshold: float = param(1.0, low=0.0, low_inclusive=False, help="alpha_drop loss level (quick: 1.0)")
    layerwise: bool = param(True, help="also the layer-wise paths (criterion 3, reported)")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the interpolation experiment (defaults: the quick preset, docs/papers/interpolation.md)."""

    task: str = param("digits", choices=("digits", "cifar10"), help="sklearn digits MLP (quick) or CIFAR-10 ResNet")
    model: str = param("mlp", choices=("mlp", "resnet18_cifar"), help="MLP 64-128-128-128-10 / ResNet-18")
    net: MLPNet = param(MLPNet(), help="the MLP (model='mlp')")
    data: DataSplit = param(DataSplit(), help="training and test sets")
    weight_decays: tuple[float, ...] = param(
        (0.0, 5e-2), low=0.0, help="arms, baseline first (quick: 0 and 5e-2; paper sweep)"
    )
    train: Training = param(Training(), help="epochs, batch and augmentation of each arm")
    opt: Optim = param(
        Optim(name="sgd", lr=0.05, momentum=0.9), help="optimiser (SGD lr 0.05 quick, 0.1 paper; momentum 0.9)"
    )
    schedule: Schedule = param(Schedule(kind="cosine"), help="learning-rate schedule, stepped every step")
    path: PathEval = param(PathEval(), help="the interpolation paths")
    paper_accuracies: tuple[float, ...] = param(
        (), low=0.0, high=1.0, help="paper's test accuracy per weight decay (docs/papers/interpolation.md)"
    )
    amp: bool = param(False, help="CIFAR: bfloat16 autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if self.task == "digits" and self.model != "mlp":
            raise ValueError(f"Config.model={self.model!r} is not available for task='digits': use 'mlp'")
        if self.task == "cifar10" and self.model == "mlp":
            raise ValueError("Config.model='mlp' is not available for task='cifar10': use 'resnet18_cifar'")
        if self.task == "digits" and not 1 <= self.data.train_size < DIGITS:
            raise ValueError(f"Config.data.train_size={self.data.train_size} must be in [1, {DIGITS}) for digits")
        if self.paper_accuracies and len(self.paper_accuracies) != len(self.weight_decays):
            raise ValueError(
                f"Config.paper_accuracies has {len(self.paper_accuracies)} values for "
                f"{len(self.weight_decays)} weight_decays"
            )
        if not self.weight_decays:
            raise ValueError("Config.weight_decays must hold at least one value")
        if self.opt.weight_decay != 0.0:
            raise ValueError(f"Config.opt.weight_decay={self.opt.weight_decay} must be 0: the arms set weight_decays")
        if self.train_examples % self.train.batch_size == 1:
            raise ValueError(
                f"Config.train.batch_size={self.train.batch_size} leaves a last batch of one example out of "
                f"{self.train_examples}: BatchNorm needs two"
            )

    @property
    def train_examples(self) -> int:
        """The number of training examples of the task."""
        if self.task == "digits":
            return self.data.train_size
        return self.data.train_subset or CIFAR_TRAIN


PRESETS = {
    "quick": Config(),
    "paper": Config(
        task="cifar10",
        model="resnet18_cifar",
        weight_decays=(0.0, 5e-5, 1e-4, 5e-4, 1e-3),
        train=Training(epochs=100, batch_size=128, augment=True),
        opt=Optim(name="sgd", lr=0.1, momentum=0.9),
        path=PathEval(points=25, split="test", bn_batch_size=500, bn_batches=20),
        paper_accuracies=(0.900, 0.908, 0.913, 0.922, 0.920),
        amp=True,
        device="auto",
    ),
    "gpu_check": Config(
        task="cifar10",
        model="resnet18_cifar",
        weight_decays=(5e-4,),
        train=Training(epochs=20, batch_size=128, augment=True),
        opt=Optim(name="sgd", lr=0.1, momentum=0.9),
        path=PathEval(points=25, split="test", bn_batch_size=500, bn_batches=20, layerwise=False),
        amp=True,
        device="auto",
    ),
}


def _wd_key(wd: float) -> str:
    return f"wd{wd:g}"


def _seed_int(seed: int, stream: int) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=derive_generator(seed, stream)))


class TaskData(NamedTuple):
    """Training and test tensors of one task, on the device, and the input transform (None for digits)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    transform: Callable[[Tensor], Tensor] | None

    @classmethod
    def load(cls, config: Config, seed: int, device: torch.device) -> TaskData:
        """The fixed standardised digits split, or CIFAR-10 (uint8 NCHW, random subsets, training-set statistics)."""
        if config.task == "digits":
            x_train, y_train, x_test, y_test = standardized_digits(config.data.train_size)
            return cls(x_train.to(device), y_train.to(device), x_test.to(device), y_test.to(device), None)
        gen = derive_generator(seed, 0)  # the JPEG pack is class-sorted: subsets are random draws
        tensors: list[Tensor] = []
        for split, size in (("train", config.data.train_subset), ("test", config.data.test_subset)):
            x, y = load_cifar10(split)
            if size:
                keep = random_subset(len(x), size, gen)
                x, y = x[keep], y[keep]
            tensors += [x.permute(0, 3, 1, 2).contiguous().to(device), y.to(device)]
        x_train, y_train, x_test, y_test = tensors
        return cls(x_train, y_train, x_test, y_test, ChannelStandardize.fit(x_train))

    def prepare(self, x: Tensor) -> Tensor:
        return x if self.transform is None else self.transform(x)

    def evaluator(self, split: str, config: Config) -> Callable[[nn.Module], dict[str, float]]:
        """``model -> {split_loss, split_accuracy}`` (the model's modes left as they are)."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        batch = 1024 if config.task == "cifar10" else 4096
        return classification_evaluator(x, y, batch, prefix=f"{split}_", transform=self.transform, amp=config.amp)

    def bn_batches(self, config: Config) -> Callable[[], Iterator[Tensor]]:
        """The training batches that re-estimate BatchNorm statistics along a path (equal sizes)."""
        size = config.path.bn_batch_size or len(self.x_train)
        count = len(self.x_train) // size
        if config.path.bn_batches:
            count = min(count, config.path.bn_batches)

        def batches() -> Iterator[Tensor]:
            for k in range(max(count, 1)):
                yield self.prepare(self.x_train[k * size : (k + 1) * size])

        return batches


def _build_model(config: Config, seed: int) -> nn.Module:
    with torch_seeded(_seed_int(seed, 1)):  # the same initialisation for every arm of a seed
        if config.model == "mlp":
            return MLP(64, config.net.hidden, 10, batchnorm=config.net.batchnorm)
        return get_model(config.model, num_classes=10)


def _train(model: nn.Module, data: TaskData, config: Config, wd: float, seed: int, log: RunLog, key: str) -> None:
    """SGD with weight decay ``wd`` and a per-step schedule; the batch order is the same for every arm."""
    optimiser = config.opt.replace(weight_decay=wd).build(model.parameters())
    steps_per_epoch = math.ceil(len(data.y_train) / config.train.batch_size)
    scheduler = config.schedule.build(optimiser, config.train.epochs * steps_per_epoch)
    gen = derive_generator(seed, 2)  # batch order (and augmentation): the same for every arm
    augment = config.train.augment and config.task == "cifar10"

    seen = [0.0, 0.0]  # the epoch's loss summed over examples, and the examples

    def loss_fn(net: nn.Module, batch: Batch) -> Tensor:
        loss = F.cross_entropy(net(data.prepare(batch.x)).float(), batch.y)
        seen[0] += float(loss.detach()) * len(batch.y)
        seen[1] += len(batch.y)
        return loss

    def on_epoch(epoch: int, _result: FitResult) -> None:  # the example-weighted mean training loss
        log.metrics(epoch, **{f"{key}/train_loss": seen[0] / max(seen[1], 1.0)})
        seen[:] = [0.0, 0.0]

    with diverged_as(f"{key}_diverged_epoch", steps_per_unit=steps_per_epoch):
        fit(
            model,
            optimiser,
            data.x_train,
            data.y_train,
            epochs=config.train.epochs,
            batch_size=config.train.batch_size,
            loss_fn=loss_fn,
            generator=gen,
            augment=(lambda x: pad_crop_flip(x, 4, gen)) if augment else None,
            scheduler=scheduler,
            scheduler_interval="step",
            amp=config.amp,
            on_epoch=on_epoch,
            progress=lambda r: log.progress(r, total=config.train.epochs, desc=key),
        )


def _shape(alphas: list[float], losses: list[float], threshold: float) -> dict[str, float]:
    """The path's shape: alpha_drop, monotonicity, barrier, largest bump, three points, the plateau."""
    return {
        "alpha_drop": alpha_drop(alphas, losses, threshold),
        "monotone": 1.0 if is_monotone(losses) else 0.0,
        "barrier": barrier_over_chord(alphas, losses),
        "max_bump_height": max((b["height"] for b in bumps(alphas, losses)), default=0.0),
        "path_loss_start": losses[0],
        "path_loss_mid": losses[len(losses) // 2],
        "path_loss_end": losses[-1],
        "plateau_rel_dev": max(
            (abs(v - LN10) / LN10 for a, v in zip(alphas, losses) if a <= 0.9 + 1e-9), default=math.nan
        ),
    }


def _arm(
    arm: int, wd: float, initial: nn.Module, data: TaskData, config: Config, seed: int, log: RunLog
) -> dict[str, float]:
    """Train one weight-decay arm from the shared initialisation; measure its paths and test accuracy."""
    key = _wd_key(wd)
    start, model = copy.deepcopy(initial.state_dict()), copy.deepcopy(initial)
    _train(model, data, config, wd, seed, log, key)
    model.eval()
    final = data.evaluator("test", config)(model)
    alphas = torch.linspace(0, 1, config.path.points, dtype=torch.float64).tolist()
    path_eval, loss_key = data.evaluator(config.path.split, config), f"{config.path.split}_loss"
    policy, bn_batches = config.path.bn_policy, data.bn_batches(config)
    losses = linear_path(model, start, model.state_dict(), alphas, path_eval, bn_policy=policy, bn_batches=bn_batches)[
        loss_key
    ]
    check_finite(sum(losses), config.train.epochs)
    for k, (a, loss) in enumerate(zip(alphas, losses)):
        log.metrics(config.train.epochs + 1 + arm * len(alphas) + k, alpha=a, **{f"{key}/path_loss": loss})
    metrics = {"test_acc": final["test_accuracy"], "test_loss": final["test_loss"]}
    metrics.update(_shape(alphas, losses, config.path.drop_threshold))
    distance = param_distance(start, model.state_dict(), parameters_only=initial)
    assert isinstance(distance, float)
    metrics["distance"] = distance
    if config.path.layerwise:
        groups = mlp_layer_groups(initial) if config.model == "mlp" else resnet_stage_groups(initial)
        paths = layerwise_paths(
            model,
            start,
            model.state_dict(),
            groups,
            alphas,
            path_eval,
            include_all=False,
            bn_policy=policy,
            bn_batches=bn_batches,
        )
        maxima = {name: max(p[loss_key]) for name, p in paths.items()}
        metrics.update({f"layer_{name}_max_loss": value for name, value in maxima.items()})
        metrics["layerwise_max_ratio"] = max(maxima.values()) / min(maxima.values())
    return {f"{key}_{name}": value for name, value in metrics.items()}


def _summary(config: Config, metrics: Mapping[str, float]) -> dict[str, float]:
    """The quantities the criteria read: gaps between the last and the first arm, and the paper's checks."""
    wds = config.weight_decays
    base, last = _wd_key(wds[0]), _wd_key(wds[-1])
    out = {
        "alpha_drop_gap": metrics[f"{last}_alpha_drop"] - metrics[f"{base}_alpha_drop"],
        "acc_gap": metrics[f"{last}_test_acc"] - metrics[f"{base}_test_acc"],
    }
    if config.path.layerwise:
        out["layerwise_max_ratio"] = max(metrics[f"{_wd_key(w)}_layerwise_max_ratio"] for w in wds)
    if config.paper_accuracies:
        out["max_acc_deviation"] = max(
            abs(metrics[f"{_wd_key(w)}_test_acc"] - p) for w, p in zip(wds, config.paper_accuracies)
        )
    strong = [w for w in wds if w >= 5e-4]
    if strong:
        out["plateau_rel_dev"] = max(metrics[f"{_wd_key(w)}_plateau_rel_dev"] for w in strong)
    if 0.0 in wds:
        out["no_wd_monotone"] = metrics[f"{_wd_key(0.0)}_monotone"]
    return out


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train every weight-decay arm from one initialisation; measure paths and accuracies."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    data = TaskData.load(config, seed, device)
    initial = _build_model(config, seed).to(device)
    metrics: dict[str, float] = {}
    for arm, wd in enumerate(config.weight_decays):
        metrics.update(_arm(arm, wd, initial, data, config, seed, log))
    metrics["run_wall_s"] = time.perf_counter() - started
    metrics.update(_summary(config, metrics))
    return metrics


PAPER = Paper(
    slug="interpolation",
    data={"quick": (), "paper": ("cifar10",), "gpu_check": ("cifar10",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("interpolation"),
    components=(
        "analysis.linear_path",
        "analysis.layerwise_paths",
        "analysis.interpolate_state",
        "analysis.recompute_bn_stats",
        "analysis.is_monotone",
        "analysis.bumps",
        "analysis.barrier_over_chord",
        "analysis.alpha_drop",
        "analysis.param_distance",
        "analysis.random_direction",
        "analysis.classification_evaluator",
        "analysis.mlp_layer_groups",
        "analysis.resnet_stage_groups",
        "nn.MLP",
        "nn.resnet18_cifar",
        "data.standardized_digits",
    ),
    curves=(
        Curve(
            "Loss along the path from initial to final parameters",
            ("wd0/path_loss", "wd0.05/path_loss"),
            x="alpha",
            ylabel="loss",
        ),
        Curve("Training loss", ("wd0/train_loss", "wd0.05/train_loss"), logy=True),
    ),
    summary=(
        "wd0_test_acc",
        "wd0.05_test_acc",
        "wd0_alpha_drop",
        "wd0.05_alpha_drop",
        "wd0_monotone",
        "wd0.05_monotone",
        "wd0_barrier",
        "wd0.05_barrier",
        "layerwise_max_ratio",
    ),
)
