"""Paper 8, ``adai``: Adaptive Inertia (Xie et al., ICML 2022).

Claim: an adaptive learning rate costs SGD's implicit bias (and generalisation), momentum
does not; adaptive *inertia* (Adai, AdaiW) keeps SGD's bias and trains fast.

``quick``: an implicit-bias demonstration (Wilson et al., 2017), **not** the paper's
flat-minima experiment: an over-parameterised linear problem where every method reaches
zero training error but adaptive learning rates (Adam, RMSprop) pick a solution that
predicts the majority class on fresh points; plus a small real-data run (MLP on 5,000
MNIST training images, reported, no criterion). ``paper``: CIFAR-10 ResNet-18, 200 epochs,
the official notebook's settings (docs/papers/adai.md#defaults; CIFAR is the lossy JPEG
pack). ``gpu_check``: the same, shortened to 30 epochs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

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
from icml22dl.train import Batch, FitResult, evaluate, fit

LINEAR_METHODS = ("sgd", "sgdm", "adai", "adaiw", "adam", "rmsprop")
CIFAR_METHODS = ("adai", "adaiw", "sgdm", "adam")
MNIST_METHODS = ("sgdm", "adai", "adam")


@dataclass(frozen=True)
class LinearTask(ConfigBlock):
    """Wilson et al. (2017)'s linear task and one optimiser per method (pilot values, docs/papers/adai.md#defaults)."""

    train_size: int = param(60, low=2, help="n of the linear task (d = 6 n + 3 features)")
    test_size: int = param(1000, low=1, help="fresh test points per seed")
    positive_rate: float = param(0.6, low=0.0, high=1.0, help="P(y = +1) (Wilson et al.)")
    steps: int = param(3000, low=1, help="full-batch steps on the 1/2 mean squared loss")
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
class MNISTRun(ConfigBlock):
    """The small real-data run: an MLP on an MNIST subset, each optimiser from one initialisation (reported only)."""

    train: int = param(5000, low=0, help="MNIST training images, a seeded random subset (0 = skip the run)")
    test: int = param(2000, low=1, help="MNIST test images (the first ones)")
    epochs: int = param(4, low=1, help="epochs")
    batch_size: int = param(128, low=1, help="batch size")
    hidden: int = param(128, low=1, help="hidden width of the MLP 784-hidden-10")
    sgdm: Optim = param(Optim(name="sgd", lr=0.1, momentum=0.9), help="SGD-M")
    adai: Optim = param(Optim(name="adai", lr=1.0), help="Adai")
    adam: Optim = param(Optim(name="adam", lr=1e-3), help="Adam")


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
    linear: LinearTask = param(LinearTask(), help="the linear implicit-bias task (quick)")
    mnist: MNISTRun = param(MNISTRun(), help="the MNIST side run of the quick task (reported only)")
    cifar: CifarRun = param(CifarRun(), help="CIFAR-10 ResNet-18 (paper, gpu_check)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute (every task)")


PRESETS = {
    "quick": Config(),
    "paper": Config(task="cifar10", cifar=CifarRun(epochs=200, amp=True), device="auto"),
    "gpu_check": Config(task="cifar10", cifar=CifarRun(epochs=30, amp=True), device="auto"),
}


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """The linear implicit-bias task and the MNIST run (quick), or CIFAR-10 (paper)."""
    device = resolve_device(config.device)
    if config.task == "cifar10":
        return cifar_comparison(config.cifar, device, seed, log)
    started = time.perf_counter()
    metrics = linear_implicit_bias(config.linear, device, seed, log)
    metrics["linear_wall_s"] = time.perf_counter() - started
    if config.mnist.train > 0:
        metrics.update(mnist_comparison(config.mnist, device, seed, log))
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


def mnist_comparison(block: MNISTRun, device: torch.device, seed: int, log: RunLog) -> dict[str, float]:
    """MLP 784-128-10 on an MNIST subset with SGD-M (0.1), Adai (1.0) and Adam (1e-3), one initialisation."""
    images, labels = load_mnist("train")
    take = random_subset(len(labels), block.train, derive_generator(seed, 1))
    x_train, y_train = (images[take].flatten(1).float() / 255.0).to(device), labels[take].to(device)
    test_images, test_labels = load_mnist("test")
    x_test = (test_images[: block.test].flatten(1).float() / 255.0).to(device)
    y_test = test_labels[: block.test].to(device)
    out: dict[str, float] = {}
    for name in MNIST_METHODS:
        model = _train_mnist(name, block, x_train, y_train, seed, log)
        out[f"mnist_{name}_test_err"] = evaluate(model, x_test, y_test, batch_size=len(y_test)).error
        out[f"mnist_{name}_train_err"] = evaluate(model, x_train, y_train, batch_size=len(y_train)).error
    return out


def _train_mnist(name: str, block: MNISTRun, x: Tensor, y: Tensor, seed: int, log: RunLog) -> nn.Module:
    """One optimiser's MLP, from the initialisation every optimiser shares; the last step's loss logged per epoch."""
    with torch_seeded(seed):
        model = MLPClassifier([784, block.hidden, 10]).to(x.device)

    def on_epoch(epoch: int, result: FitResult) -> None:
        log.metrics(epoch, **{f"mnist_{name}/train_loss": result.last_loss})

    optimizer = getattr(block, name).build(model.parameters())
    fit(
        model,
        optimizer,
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
