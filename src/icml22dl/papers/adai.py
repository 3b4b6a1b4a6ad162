"""Paper 8, ``adai``: Adaptive Inertia (Xie et al., ICML 2022).

Claim: an adaptive learning rate costs SGD's preference for flat minima (and generalisation),
momentum does not; adaptive *inertia* (Adai, AdaiW) keeps SGD's preference and trains fast.

``quick`` tests three items (docs/papers/adai.md#claim-and-thresholds): (i) the paper's
escape-time analysis directly: mean escape times of SGD, SGD-M, Adai and Adam from quadratic
basins of several sharpnesses under Hessian-shaped gradient noise (many particles at once),
and the slope of log escape time against 1/sharpness per optimiser; (ii) generalisation on
real data with an equal tuning budget: an MLP on an MNIST subset, each optimiser with the
same number of learning rates around its official default, the best by a validation split,
then its test error; (iii) an implicit-bias demonstration (Wilson et al., 2017) on an
over-parameterised linear task where adaptive learning rates pick a majority-class solution.
``paper``: CIFAR-10 ResNet-18, 200 epochs, the official notebook's settings
(docs/papers/adai.md#defaults; CIFAR is the lossy JPEG pack). ``gpu_check``: the same,
shortened to 30 epochs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from icml22dl.analysis.escape import basin_escape, log_escape_slope
from icml22dl.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    ChannelStandardize,
    load_cifar10,
    load_mnist,
    pad_crop_flip,
    random_subset,
    wilson_data,
    wilson_labels,
)
from icml22dl.nn import LinearPredictor, MLPClassifier, get_model
from icml22dl.optim import Adai
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
from icml22dl.train import Batch, FitResult, NonFiniteLossError, evaluate, fit

LINEAR_METHODS = ("sgd", "sgdm", "adai", "adaiw", "adam", "rmsprop")
CIFAR_METHODS = ("adai", "adaiw", "sgdm", "adam")
MNIST_METHODS = ("sgdm", "adai", "adam")
ESCAPE_METHODS = ("sgd", "sgdm", "adai", "adam")


@dataclass(frozen=True)
class LinearTask(ConfigBlock):
    """Wilson et al. (2017)'s linear task and one optimiser per method (pilot values, docs/papers/adai.md#defaults)."""

    train_size: int = param(60, low=2, help="n of the linear task (d = 6 n + 3 features)")
    test_size: int = param(1000, low=1, help="fresh test points per seed")
    positive_rate: float = param(0.6, low=0.0, high=1.0, help="P(y = +1) (Wilson et al.)")
    steps: int = param(1500, low=1, help="full-batch steps on the 1/2 mean squared loss (every method < 1e-6 by 400)")
    sgd: Optim = param(Optim(name="sgd", lr=0.05), help="SGD (pilot lr)")
    sgdm: Optim = param(Optim(name="sgd", lr=0.005, momentum=0.9), help="SGD-M (pilot lr, momentum 0.9)")
    adai: Optim = param(Optim(name="adai", lr=0.05), help="Adai (pilot lr, official rule)")
    adaiw: Optim = param(Optim(name="adaiw", lr=0.5, weight_decay=1e-3), help="AdaiW (pilot lr and decoupled decay)")
    adam: Optim = param(
        Optim(name="adam", lr=0.01, eps=1e-8),
        help="Adam (pilot lr; torch eps: a huge eps removes Adam's adaptivity, the ablation)",
    )
    rmsprop: Optim = param(Optim(name="rmsprop", lr=1e-3), help="RMSprop (pilot lr)")


@dataclass(frozen=True)
class EscapeTask(ConfigBlock):
    """Item (i): escape from quadratic basins of several sharpnesses (:func:`icml22dl.analysis.basin_escape`).

    Every optimiser is set to the same stationary spread at the reference sharpness (the grid's
    geometric mean): SGD at ``lr``, SGD-M at ``lr (1 - momentum)`` (effective lr ``lr``), Adai at
    ``lr`` (its momentum is an average, so its lr is SGD's) and Adam at ``lr sqrt(h_ref / B)``
    (its step ``lr / sqrt(v)`` with ``v = h_ref / B``); docs/papers/adai.md#method.
    """

    sharpness: tuple[float, ...] = param(
        (1.0, 1.41, 2.0, 2.83, 4.0), low=0.0, low_inclusive=False, help="Hessian eigenvalues of the basins (ours)"
    )
    barrier: float = param(0.15, low=0.0, low_inclusive=False, help="loss barrier of every basin (pilot, ours)")
    noise_batch: float = param(1.0, low=0.0, low_inclusive=False, help="B of the noise covariance H / B")
    lr: float = param(0.05, low=0.0, low_inclusive=False, help="SGD's lr (lr x sharpness <= 0.2: near the SDE)")
    momentum: float = param(0.9, low=0.0, high=1.0, high_inclusive=False, help="SGD-M's momentum (Adam's beta1 too)")
    particles: int = param(2000, low=1, help="independent particles per basin")
    steps: int = param(2000, low=0, help="optimiser steps (0 = skip the item)")

    def check(self) -> None:
        if len(self.sharpness) < 2 or len(set(self.sharpness)) < 2:
            raise ValueError(f"EscapeTask.sharpness={self.sharpness!r}: need at least two distinct sharpnesses")

    def reference_sharpness(self) -> float:
        """The geometric mean of the sharpness grid, where every optimiser has the same spread."""
        return math.exp(sum(math.log(h) for h in self.sharpness) / len(self.sharpness))

    def optimizer(self, name: str, params: list[Tensor]) -> torch.optim.Optimizer:
        """One optimiser of :data:`ESCAPE_METHODS`, at the matched learning rate (class docstring)."""
        if name == "sgd":
            return torch.optim.SGD(params, lr=self.lr)
        if name == "sgdm":
            return torch.optim.SGD(params, lr=self.lr * (1.0 - self.momentum), momentum=self.momentum)
        if name == "adai":
            return Adai(params, lr=self.lr)
        adam_lr = self.lr * math.sqrt(self.reference_sharpness() / self.noise_batch)
        return torch.optim.Adam(params, lr=adam_lr, betas=(self.momentum, 0.999))


@dataclass(frozen=True)
class MNISTRun(ConfigBlock):
    """Item (ii): an MLP on an MNIST subset; every optimiser gets the same learning-rate budget.

    Each optimiser trains once per factor in ``lr_factors`` times its default lr (the official
    defaults: SGD-M 0.1, Adai 1.0 = SGD's scale, Adam 1e-3), from the initialisation all share;
    the lr with the lowest validation error is kept and its test error reported.
    """

    train: int = param(5000, low=0, help="MNIST training images, a seeded random subset (0 = skip the run)")
    val: int = param(1000, low=1, help="validation images from the training file, disjoint from the subset")
    test: int = param(5000, low=1, help="MNIST test images (the first ones)")
    epochs: int = param(8, low=1, help="epochs (8: Adai's inertia needs a few hundred steps to settle)")
    batch_size: int = param(128, low=1, help="batch size")
    hidden: int = param(128, low=1, help="hidden width of the MLP 784-hidden-10")
    lr_factors: tuple[float, ...] = param(
        (0.1, 0.3, 1.0, 3.0), low=0.0, low_inclusive=False, help="the tuning budget: lr = factor x default lr"
    )
    sgdm: Optim = param(Optim(name="sgd", lr=0.1, momentum=0.9), help="SGD-M (official default lr 0.1)")
    adai: Optim = param(Optim(name="adai", lr=1.0), help="Adai (official default lr 1.0)")
    adam: Optim = param(Optim(name="adam", lr=1e-3), help="Adam (default lr 1e-3)")

    def check(self) -> None:
        if not self.lr_factors:
            raise ValueError("MNISTRun.lr_factors=() is empty: give at least one learning-rate factor")


@dataclass(frozen=True)
class CifarRun(ConfigBlock):
    """CIFAR-10 ResNet-18 with the official notebook's optimisers (paper scale, docs/papers/adai.md#defaults)."""

    epochs: int = param(200, low=1, help="epochs (paper: 200)")
    batch_size: int = param(128, low=1, help="batch size (paper 128)")
    train_subset: int = param(0, low=0, help="first n training images of a seeded permutation (0 = all)")
    test_subset: int = param(0, low=0, help="first n test images (0 = all)")
    amp: bool = param(False, help="bfloat16 autocast on CUDA")
    schedule: Schedule = param(
        Schedule(kind="multistep", milestones=(0.4, 0.8), gamma=0.1), help="lr x0.1 at epochs 80 and 160 of 200"
    )
    adai: Optim = param(Optim(name="adai", lr=1.0, weight_decay=5e-4), help="Adai (official notebook)")
    adaiw: Optim = param(Optim(name="adaiw", lr=1.0, weight_decay=5e-4), help="AdaiW (official notebook)")
    sgdm: Optim = param(Optim(name="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4), help="SGD-M (official notebook)")
    adam: Optim = param(
        Optim(name="adam", lr=1e-4, weight_decay=5e-4),
        help="Adam (official notebook lr 1e-4; the paper's is unconfirmed)",
    )


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the Adai experiments (defaults: the quick preset, docs/papers/adai.md#defaults)."""

    task: str = param("linear", choices=("linear", "cifar10"), help="Wilson et al. linear task (+ MNIST), or CIFAR-10")
    escape: EscapeTask = param(EscapeTask(), help="item (i): escape times against sharpness (quick)")
    mnist: MNISTRun = param(MNISTRun(), help="item (ii): MNIST with an equal lr budget (quick)")
    linear: LinearTask = param(LinearTask(), help="item (iii): the linear implicit-bias task (quick)")
    cifar: CifarRun = param(CifarRun(), help="CIFAR-10 ResNet-18 (paper, gpu_check)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute (every task)")


PRESETS = {
    "quick": Config(),
    "paper": Config(task="cifar10", cifar=CifarRun(epochs=200, amp=True), device="auto"),
    "gpu_check": Config(task="cifar10", cifar=CifarRun(epochs=30, amp=True), device="auto"),
}


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Escape times, MNIST with an equal budget and the linear task (quick), or CIFAR-10 (paper)."""
    device = resolve_device(config.device)
    if config.task == "cifar10":
        return cifar_comparison(config.cifar, device, seed, log)
    started = time.perf_counter()
    metrics = linear_implicit_bias(config.linear, device, seed, log)
    metrics["linear_wall_s"] = time.perf_counter() - started
    if config.escape.steps > 0:
        lap = time.perf_counter()
        metrics.update(escape_comparison(config.escape, seed, log))
        metrics["escape_wall_s"] = time.perf_counter() - lap
    if config.mnist.train > 0:
        lap = time.perf_counter()
        metrics.update(mnist_comparison(config.mnist, device, seed, log))
        metrics["mnist_wall_s"] = time.perf_counter() - lap
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


def _half_mse(model: nn.Module, batch: Batch) -> Tensor:
    """1/2 mean squared error of the linear scores (fixed here; docs/papers/adai.md#defaults)."""
    return 0.5 * ((model(batch.x) - batch.y) ** 2).mean()


def linear_implicit_bias(task: LinearTask, device: torch.device, seed: int, log: RunLog) -> dict[str, float]:
    """Every method from w = 0 on the same data: training fit, fresh-point error, steps to a 1e-6 loss."""
    gen = derive_generator(seed, 0)
    x, y = (t.to(device) for t in wilson_data(task.train_size, task.positive_rate, gen))
    y_test = wilson_labels(task.test_size, task.positive_rate, gen).to(device)
    metrics: dict[str, float] = {}
    for name in LINEAR_METHODS:
        model = LinearPredictor(x.shape[1]).to(device)
        first = _train_linear(name, model, getattr(task, name), x, y, task.steps, log)
        w = model.weight.detach()
        with torch.no_grad():
            train_loss = 0.5 * ((x @ w - y) ** 2).mean().item()
            train_err = (torch.sign(x @ w) != y).double().mean().item()
            # Fresh points: features 0-2 only (their unique features meet zero weights).
            test_err = (torch.sign(w[0] * y_test + w[1] + w[2]) != y_test).double().mean().item()
        check_finite(train_loss, task.steps)
        metrics.update(
            {
                f"{name}_train_loss": train_loss,
                f"{name}_train_err": train_err,
                f"{name}_test_err": test_err,
                f"{name}_steps_to_1e-6": first,
            }
        )
    metrics["max_train_err"] = max(metrics[f"{m}_train_err"] for m in LINEAR_METHODS)
    return metrics


def _train_linear(name: str, model: nn.Module, optim: Optim, x: Tensor, y: Tensor, steps: int, log: RunLog) -> float:
    """Full-batch steps; returns the steps taken before the loss first fell below 1e-6 (NaN if never)."""
    first = math.nan

    def on_epoch(step: int, result: FitResult) -> None:
        nonlocal first
        if math.isnan(first) and result.last_loss < 1e-6:
            first = float(step - 1)
        if step % 500 == 0:
            log.metrics(step, **{f"{name}/train_loss": result.last_loss})

    with diverged_as(f"{name}_diverged_step"):
        fit(
            model,
            optim.build(model.parameters()),
            x,
            y,
            epochs=steps,
            loss_fn=_half_mse,
            shuffle=False,
            on_epoch=on_epoch,
            progress=lambda epochs: log.progress(epochs, total=steps, desc=name),
        )
    return first


def escape_comparison(task: EscapeTask, seed: int, log: RunLog) -> dict[str, float]:
    """Item (i): log mean escape time per sharpness and its slope against 1/sharpness, per optimiser."""
    out: dict[str, float] = {}
    for k, name in enumerate(ESCAPE_METHODS):
        result = basin_escape(
            partial(task.optimizer, name),
            task.sharpness,
            barrier=task.barrier,
            noise_batch=task.noise_batch,
            particles=task.particles,
            steps=task.steps,
            generator=derive_generator(seed, 10 + k),
        )
        if min(result.escapes) == 0:  # no escape at some sharpness: the slope is undefined
            out[f"escape_{name}_slope"] = math.nan
        else:
            out[f"escape_{name}_slope"] = log_escape_slope(result.sharpness, result.mean_time)
        for i, tau in enumerate(result.mean_time):
            out[f"escape_{name}_log_tau_{i}"] = math.log(tau)
        log.metrics(k, **{f"escape/{name}_slope": out[f"escape_{name}_slope"]})
    out["escape_sgd_theory_slope"] = 2.0 * task.noise_batch * task.barrier / task.lr
    out["escape_adam_over_adai"] = out["escape_adam_slope"] / out["escape_adai_slope"]
    out["escape_adai_over_sgd"] = out["escape_adai_slope"] / out["escape_sgd_slope"]
    out["escape_sgdm_over_sgd"] = out["escape_sgdm_slope"] / out["escape_sgd_slope"]
    out["escape_adai_sgd_abs_log_ratio"] = abs(math.log(out["escape_adai_over_sgd"]))
    out["escape_sgdm_sgd_abs_log_ratio"] = abs(math.log(out["escape_sgdm_over_sgd"]))
    return out


def _mnist_data(block: MNISTRun, device: torch.device, seed: int) -> tuple[Tensor, ...]:
    """Seeded, disjoint training and validation subsets of the MNIST training file, the first test images."""
    images, labels = load_mnist("train")
    take = random_subset(len(labels), block.train + block.val, derive_generator(seed, 1))
    x, y = (images[take].flatten(1).float() / 255.0).to(device), labels[take].to(device)
    test_images, test_labels = load_mnist("test")
    x_test = (test_images[: block.test].flatten(1).float() / 255.0).to(device)
    return (
        x[: block.train],
        y[: block.train],
        x[block.train :],
        y[block.train :],
        x_test,
        test_labels[: block.test].to(device),
    )


def mnist_comparison(block: MNISTRun, device: torch.device, seed: int, log: RunLog) -> dict[str, float]:
    """Item (ii): per optimiser, the lr of lowest validation error among ``lr_factors`` x default, its test error."""
    x_train, y_train, x_val, y_val, x_test, y_test = _mnist_data(block, device, seed)
    out: dict[str, float] = {}
    for name in MNIST_METHODS:
        default = getattr(block, name)
        best: tuple[float, float, nn.Module] | None = None
        for i, factor in enumerate(block.lr_factors):
            optim = default.replace(lr=default.lr * factor)
            try:
                model = _train_mnist(f"{name}_{i}", optim, block, x_train, y_train, seed, log)
            except NonFiniteLossError:  # a diverged lr of the grid is a failed candidate, not a failed run
                out[f"mnist_{name}_val_err_{i}"] = 1.0
                continue
            val_err = evaluate(model, x_val, y_val, batch_size=len(y_val)).error
            out[f"mnist_{name}_val_err_{i}"] = val_err
            if best is None or val_err < best[0]:
                best = (val_err, optim.lr, model)
        if best is None:  # every lr diverged
            out[f"mnist_{name}_best_lr"] = out[f"mnist_{name}_test_err"] = math.nan
            continue
        out[f"mnist_{name}_best_lr"] = best[1]
        out[f"mnist_{name}_test_err"] = evaluate(best[2], x_test, y_test, batch_size=len(y_test)).error
    out["mnist_adai_minus_sgdm"] = out["mnist_adai_test_err"] - out["mnist_sgdm_test_err"]
    out["mnist_adai_minus_adam"] = out["mnist_adai_test_err"] - out["mnist_adam_test_err"]
    return out


def _train_mnist(name: str, optim: Optim, block: MNISTRun, x: Tensor, y: Tensor, seed: int, log: RunLog) -> nn.Module:
    """One optimiser's MLP, from the initialisation (and batch order) every optimiser and lr share."""
    with torch_seeded(seed):
        model = MLPClassifier([784, block.hidden, 10]).to(x.device)

    def on_epoch(epoch: int, result: FitResult) -> None:
        log.metrics(epoch, **{f"mnist_{name}/train_loss": result.last_loss})

    fit(
        model,
        optim.build(model.parameters()),
        x,
        y,
        epochs=block.epochs,
        batch_size=block.batch_size,
        generator=derive_generator(seed, 2),
        on_epoch=on_epoch,
    )
    return model


def _cifar_data(block: CifarRun, device: torch.device, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Standardised CIFAR-10 (JPEG pack) on ``device``: a seeded training subset and the first test images."""
    (x_train, y_train), (x_test, y_test) = load_cifar10("train"), load_cifar10("test")
    if block.train_subset:
        take = random_subset(len(y_train), block.train_subset, derive_generator(seed, 3))
        x_train, y_train = x_train[take], y_train[take]
    if block.test_subset:
        x_test, y_test = x_test[: block.test_subset], y_test[: block.test_subset]
    standardize = ChannelStandardize(CIFAR10_MEAN, CIFAR10_STD)
    return (
        standardize(x_train.to(device).permute(0, 3, 1, 2)),
        y_train.to(device),
        standardize(x_test.to(device).permute(0, 3, 1, 2)),
        y_test.to(device),
    )


def cifar_comparison(block: CifarRun, device: torch.device, seed: int, log: RunLog) -> dict[str, float]:
    """ResNet-18 on CIFAR-10 (lossy JPEG pack), each optimiser from the same initialisation; errors in %."""
    started = time.perf_counter()
    data = _cifar_data(block, device, seed)
    metrics = {f"{name}_test_err": 100.0 * _train_cifar(name, block, data, device, seed, log) for name in CIFAR_METHODS}
    metrics["adai_minus_sgdm"] = metrics["adai_test_err"] - metrics["sgdm_test_err"]
    metrics["adai_minus_adam"] = metrics["adai_test_err"] - metrics["adam_test_err"]
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


def _train_cifar(
    name: str, block: CifarRun, data: tuple[Tensor, ...], device: torch.device, seed: int, log: RunLog
) -> float:
    """Train one optimiser's ResNet-18; returns the final test error (a fraction), logged after every epoch."""
    x_train, y_train, x_test, y_test = data
    with torch_seeded(seed):
        model = get_model("resnet18_cifar").to(device)
    opt = getattr(block, name).build(model.parameters())
    gen = derive_generator(seed, 4)  # the shuffle and the augmentation share one generator
    errors: list[float] = []

    def on_epoch(epoch: int, result: FitResult) -> None:
        errors.append(evaluate(model, x_test, y_test, amp=block.amp).error)
        log.metrics(epoch, **{f"{name}/test_err": errors[-1], f"{name}/train_loss": result.last_loss})

    fit(
        model,
        opt,
        x_train,
        y_train,
        epochs=block.epochs,
        batch_size=block.batch_size,
        generator=gen,
        augment=lambda xb: pad_crop_flip(xb, 4, gen),
        scheduler=block.schedule.build(opt, block.epochs),
        amp=block.amp,
        on_epoch=on_epoch,
        progress=lambda epochs: log.progress(epochs, total=block.epochs, desc=name),
    )
    return errors[-1]


PAPER = Paper(
    slug="adai",
    data={"quick": ("mnist",), "paper": ("cifar10",), "gpu_check": ("cifar10",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("adai"),
    components=(
        "optim.Adai",
        "optim.AdaiW",
        "optim.AdaiV2",
        "data.wilson_data",
        "data.pad_crop_flip",
        "nn.LinearPredictor",
        "nn.MLPClassifier",
    ),
    curves=(
        Curve(
            "Linear task: training loss", tuple(f"{m}/train_loss" for m in LINEAR_METHODS), logy=True, ylabel="1/2 MSE"
        ),
    ),
    summary=tuple(f"{m}_test_err" for m in LINEAR_METHODS)
    + tuple(f"{m}_steps_to_1e-6" for m in LINEAR_METHODS)
    + tuple(f"mnist_{m}_test_err" for m in MNIST_METHODS),
)
