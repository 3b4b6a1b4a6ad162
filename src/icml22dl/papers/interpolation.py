"""Paper 2, ``interpolation``: what linear interpolation of loss landscapes can tell us.

Claim (Vlaar & Frankle, ICML 2022): the shape of the loss along the straight line from the
initial to the final parameters (monotone, bump, plateau then cliff) changes with weight
decay, initialisation, data and architecture while test accuracy barely moves, so it does
not indicate optimisation success; layers differ strongly in sensitivity.

``quick`` (card 02 section 3, our design calibrated by a prototype): an MLP with BatchNorm
on scikit-learn's 8x8 digits trained with and without strong weight decay from the same
initialisation; the path's alpha_drop moves from about 0.15 to about 0.85 while test
accuracy stays within a few points. ``paper``: ResNet-18 on CIFAR-10 (JPEG pack), weight
decay sweep, 25-point test-loss paths, layer-wise B1-B4 and fc. ``gpu_check``: one 20-epoch
arm (informational).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

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
from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.digits import load_digits
from icml22dl.nn import get_model
from icml22dl.nn.mlp import MLP
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device

LN10 = math.log(10.0)
SPLIT_SEED = 20220717  # the digits split is fixed across seeds (card 02: "split fixed")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the interpolation experiment (defaults: the quick preset, card 02 section 3)."""

    task: str = param("digits", choices=("digits", "cifar10"), help="sklearn digits MLP (quick) or CIFAR-10 ResNet")
    model: str = param("mlp", choices=("mlp", "resnet18_cifar"), help="card 02: MLP 64-128-128-128-10 / ResNet-18")
    hidden: tuple[int, ...] = param((128, 128, 128), low=1, help="MLP hidden widths (card 02 quick)")
    batchnorm: bool = param(True, help="MLP hidden layers Linear -> BatchNorm1d -> ReLU (card 02 quick)")
    train_size: int = param(1347, low=1, help="digits training examples of the fixed split (card 02: 1347 / 450)")
    weight_decays: tuple[float, ...] = param(
        (0.0, 5e-2), low=0.0, help="arms, baseline first (card 02 quick: 0 and 5e-2; paper sweep)"
    )
    epochs: int = param(60, low=1, help="training epochs (card 02 quick: 60; paper 100)")
    lr: float = param(
        0.05, low=0.0, low_inclusive=False, help="SGD lr, cosine schedule (card 02: 0.05 quick, 0.1 paper)"
    )
    momentum: float = param(0.9, low=0.0, high=1.0, high_inclusive=False, help="SGD momentum (card 02: 0.9)")
    batch_size: int = param(64, low=2, help="training batch (card 02: 64 quick, 128 paper)")
    augment: bool = param(False, help="CIFAR: random crop (pad 4) and horizontal flip (card 02 paper: assumed)")
    path_points: int = param(21, low=2, help="alpha grid linspace(0, 1, K) (card 02: 21 quick, 25 paper)")
    path_split: str = param(
        "train", choices=("train", "test"), help="loss on the path (card 02: train quick, test paper)"
    )
    bn_policy: str = param(
        "recompute",
        choices=("recompute", "interpolate", "batch", "start", "end"),
        help="BatchNorm along the path (card 02 default: recompute)",
    )
    bn_batch_size: int = param(0, low=0, help="recompute batch size (0 = the full training set in one batch)")
    bn_batches: int = param(0, low=0, help="CIFAR: recompute on this many equal training batches (0 = all)")
    drop_threshold: float = param(1.0, low=0.0, low_inclusive=False, help="alpha_drop loss level (card 02 quick: 1.0)")
    layerwise: bool = param(True, help="also the layer-wise paths (criterion 3, reported)")
    paper_accuracies: tuple[float, ...] = param(
        (), low=0.0, high=1.0, help="paper's test accuracy per weight decay (card 02 section 4)"
    )
    train_subset: int = param(0, low=0, help="CIFAR: random subset of training images (0 = all 50 000)")
    test_subset: int = param(0, low=0, help="CIFAR: random subset of test images (0 = all 10 000)")
    amp: bool = param(False, help="CIFAR: bfloat16 autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        if self.task == "digits" and self.model != "mlp":
            raise ValueError(f"Config.model={self.model!r} is not available for task='digits': use 'mlp'")
        if self.task == "cifar10" and self.model == "mlp":
            raise ValueError("Config.model='mlp' is not available for task='cifar10': use 'resnet18_cifar'")
        if self.task == "digits" and not 1 <= self.train_size < 1797:
            raise ValueError(f"Config.train_size={self.train_size} must be in [1, 1797) for digits")
        if self.paper_accuracies and len(self.paper_accuracies) != len(self.weight_decays):
            raise ValueError(
                f"Config.paper_accuracies has {len(self.paper_accuracies)} values for "
                f"{len(self.weight_decays)} weight_decays"
            )
        if not self.weight_decays:
            raise ValueError("Config.weight_decays must hold at least one value")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        task="cifar10",
        model="resnet18_cifar",
        weight_decays=(0.0, 5e-5, 1e-4, 5e-4, 1e-3),
        epochs=100,
        lr=0.1,
        batch_size=128,
        augment=True,
        path_points=25,
        path_split="test",
        bn_batch_size=500,
        bn_batches=20,
        paper_accuracies=(0.900, 0.908, 0.913, 0.922, 0.920),
        amp=True,
        device="auto",
    ),
    "gpu_check": Config(
        task="cifar10",
        model="resnet18_cifar",
        weight_decays=(5e-4,),
        epochs=20,
        lr=0.1,
        batch_size=128,
        augment=True,
        path_points=25,
        path_split="test",
        bn_batch_size=500,
        bn_batches=20,
        layerwise=False,
        amp=True,
        device="auto",
    ),
}


def _wd_key(wd: float) -> str:
    return f"wd{wd:g}"


def _seed_int(seed: int, stream: int) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=derive_generator(seed, stream)))


class _Data:
    """Training and test tensors plus the batch makers of one task."""

    def __init__(self, config: Config, seed: int, device: torch.device) -> None:
        self.config = config
        self.device = device
        if config.task == "digits":
            images, labels = load_digits()
            perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED))
            train, test = perm[: config.train_size], perm[config.train_size :]
            x = images.reshape(len(images), -1)
            mean, std = x[train].mean(0), x[train].std(0)
            std = torch.where(std > 0, std, torch.ones_like(std))
            x = (x - mean) / std
            self.x_train, self.y_train = x[train].to(device), labels[train].to(device)
            self.x_test, self.y_test = x[test].to(device), labels[test].to(device)
            self.mean = self.std = None
        else:
            (x_train, y_train), (x_test, y_test) = load_cifar10("train"), load_cifar10("test")
            gen = derive_generator(seed, 0)  # the JPEG pack is class-sorted: subsets are random draws
            if config.train_subset:
                keep = torch.randperm(len(x_train), generator=gen)[: config.train_subset]
                x_train, y_train = x_train[keep], y_train[keep]
            if config.test_subset:
                keep = torch.randperm(len(x_test), generator=gen)[: config.test_subset]
                x_test, y_test = x_test[keep], y_test[keep]
            self.x_train = x_train.permute(0, 3, 1, 2).contiguous().to(device)  # uint8 NCHW
            self.x_test = x_test.permute(0, 3, 1, 2).contiguous().to(device)
            self.y_train, self.y_test = y_train.to(device), y_test.to(device)
            self.mean = (self.x_train.float().mean(dim=(0, 2, 3)) / 255).view(1, 3, 1, 1)
            self.std = (self.x_train.float().std(dim=(0, 2, 3)) / 255).view(1, 3, 1, 1)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return x
        return (x.float() / 255 - self.mean) / self.std

    def augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Random crop with 4-pixel zero padding and horizontal flip, per image."""
        n = len(x)
        padded = F.pad(x, (4, 4, 4, 4))
        dx = torch.randint(0, 9, (n,), generator=gen).to(x.device)
        dy = torch.randint(0, 9, (n,), generator=gen).to(x.device)
        flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
        rows = dy[:, None] + torch.arange(32, device=x.device)[None, :]  # (n, 32)
        cols = dx[:, None] + torch.arange(32, device=x.device)[None, :]
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        idx_n = torch.arange(n, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, 32, 32, C)
        return out.permute(0, 3, 1, 2)

    def bn_batches(self):
        size = self.config.bn_batch_size or len(self.x_train)
        count = len(self.x_train) // size
        if self.config.bn_batches:
            count = min(count, self.config.bn_batches)
        for k in range(max(count, 1)):
            yield self.prepare(self.x_train[k * size : (k + 1) * size])


def _build_model(config: Config, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_int(seed, 1))  # the same initialisation for every arm of a seed
        if config.model == "mlp":
            return MLP(64, config.hidden, 10, batchnorm=config.batchnorm)
        return get_model(config.model, num_classes=10)


def _train(model: nn.Module, data: _Data, config: Config, wd: float, seed: int, log: RunLog, key: str) -> None:
    device = data.device
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=wd)
    n = len(data.x_train)
    steps_per_epoch = n // config.batch_size + (1 if n % config.batch_size >= 2 else 0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * steps_per_epoch)
    gen = derive_generator(seed, 2)  # batch order (and augmentation): the same for every arm
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda")
    step = 0
    for epoch in log.progress(range(1, config.epochs + 1), total=config.epochs, desc=key):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        total, count = 0.0, 0
        for i in range(0, n, config.batch_size):
            index = perm[i : i + config.batch_size]
            if len(index) < 2:  # BatchNorm needs two examples
                continue
            x = data.x_train[index]
            if config.augment and config.task == "cifar10":
                x = data.augment(x, gen)
            with autocast:
                loss = F.cross_entropy(model(data.prepare(x)).float(), data.y_train[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            step += 1
            total += float(loss.detach()) * len(index)
            count += len(index)
        check_finite(total, step, {f"{key}_diverged_epoch": float(epoch)})
        log.metrics(epoch, **{f"{key}/train_loss": total / max(count, 1)})


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train every weight-decay arm from one initialisation; measure paths and accuracies."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    data = _Data(config, seed, device)
    initial = _build_model(config, seed).to(device)
    start_state = copy.deepcopy(initial.state_dict())
    batch = 1024 if config.task == "cifar10" else 4096

    def evaluator(split: str):
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        if config.task == "digits":
            return classification_evaluator(x, y, batch, prefix=f"{split}_")

        @torch.no_grad()
        def evaluate(model: nn.Module) -> dict[str, float]:
            total, correct = 0.0, 0
            for i in range(0, len(x), batch):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda"):
                    out = model(data.prepare(x[i : i + batch])).float()
                total += float(F.cross_entropy(out, y[i : i + batch], reduction="sum"))
                correct += int((out.argmax(1) == y[i : i + batch]).sum())
            return {f"{split}_loss": total / len(x), f"{split}_accuracy": correct / len(x)}

        return evaluate

    path_eval = evaluator(config.path_split)
    test_eval = evaluator("test")
    alphas = torch.linspace(0, 1, config.path_points, dtype=torch.float64).tolist()
    groups = mlp_layer_groups(initial) if config.model == "mlp" else resnet_stage_groups(initial)
    metrics: dict[str, float] = {}
    path_loss_key = f"{config.path_split}_loss"
    for arm, wd in enumerate(config.weight_decays):
        key = _wd_key(wd)
        model = copy.deepcopy(initial)
        _train(model, data, config, wd, seed, log, key)
        model.eval()
        final = test_eval(model)
        path = linear_path(
            model,
            start_state,
            model.state_dict(),
            alphas,
            path_eval,
            bn_policy=config.bn_policy,
            bn_batches=data.bn_batches,
        )
        losses = path[path_loss_key]
        check_finite(sum(losses), config.epochs)
        for k, (a, loss) in enumerate(zip(alphas, losses)):
            log.metrics(config.epochs + 1 + arm * len(alphas) + k, alpha=a, **{f"{key}/path_loss": loss})
        found = bumps(alphas, losses)
        metrics.update(
            {
                f"{key}_test_acc": final["test_accuracy"],
                f"{key}_test_loss": final["test_loss"],
                f"{key}_alpha_drop": alpha_drop(alphas, losses, config.drop_threshold),
                f"{key}_monotone": 1.0 if is_monotone(losses) else 0.0,
                f"{key}_barrier": barrier_over_chord(alphas, losses),
                f"{key}_max_bump_height": max((b["height"] for b in found), default=0.0),
                f"{key}_path_loss_start": losses[0],
                f"{key}_path_loss_mid": losses[len(losses) // 2],
                f"{key}_path_loss_end": losses[-1],
                f"{key}_distance": float(param_distance(start_state, model.state_dict(), parameters_only=initial)),
                f"{key}_plateau_rel_dev": max(
                    (abs(v - LN10) / LN10 for a, v in zip(alphas, losses) if a <= 0.9 + 1e-9), default=math.nan
                ),
            }
        )
        if config.layerwise:
            paths = layerwise_paths(
                model,
                start_state,
                model.state_dict(),
                groups,
                alphas,
                path_eval,
                include_all=False,
                bn_policy=config.bn_policy,
                bn_batches=data.bn_batches,
            )
            maxima = {name: max(p[path_loss_key]) for name, p in paths.items()}
            for name, value in maxima.items():
                metrics[f"{key}_layer_{name}_max_loss"] = value
            metrics[f"{key}_layerwise_max_ratio"] = max(maxima.values()) / min(maxima.values())
    base, last = _wd_key(config.weight_decays[0]), _wd_key(config.weight_decays[-1])
    metrics.update(
        alpha_drop_gap=metrics[f"{last}_alpha_drop"] - metrics[f"{base}_alpha_drop"],
        acc_gap=metrics[f"{last}_test_acc"] - metrics[f"{base}_test_acc"],
        run_wall_s=time.perf_counter() - started,
    )
    if config.layerwise:
        metrics["layerwise_max_ratio"] = max(metrics[f"{_wd_key(w)}_layerwise_max_ratio"] for w in config.weight_decays)
    if config.paper_accuracies:
        metrics["max_acc_deviation"] = max(
            abs(metrics[f"{_wd_key(w)}_test_acc"] - p) for w, p in zip(config.weight_decays, config.paper_accuracies)
        )
    strong = [w for w in config.weight_decays if w >= 5e-4]
    if strong:
        metrics["plateau_rel_dev"] = max(metrics[f"{_wd_key(w)}_plateau_rel_dev"] for w in strong)
    if 0.0 in config.weight_decays:
        metrics["no_wd_monotone"] = metrics[f"{_wd_key(0.0)}_monotone"]
    return metrics


PAPER = Paper(
    slug="interpolation",
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
