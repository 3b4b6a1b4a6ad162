"""Paper 8, ``adai``: Adaptive Inertia (Xie et al., ICML 2022).

Claim: an adaptive learning rate costs SGD's implicit bias (and generalisation), momentum
does not; adaptive *inertia* (Adai, AdaiW) keeps SGD's bias and trains fast.

``quick``: an implicit-bias demonstration (Wilson et al., 2017), **not** the paper's
flat-minima experiment: an over-parameterised linear problem where every method reaches
zero training error but adaptive learning rates (Adam, RMSprop) pick a solution that
predicts the majority class on fresh points; plus a small real-data run (MLP on 5,000
MNIST training images, reported, no criterion). ``paper``: CIFAR-10 ResNet-18, 200 epochs,
the official notebook's settings (card 08 §3; CIFAR is the lossy JPEG pack).
``gpu_check``: the card's 30-epoch shortened GPU check.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.mnist import load_mnist
from icml22dl.nn import get_model
from icml22dl.optim.adai import Adai, AdaiW
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device

LINEAR_METHODS = ("sgd", "sgdm", "adai", "adaiw", "adam", "rmsprop")
CIFAR_METHODS = ("adai", "adaiw", "sgdm", "adam")
MNIST_METHODS = ("sgdm", "adai", "adam")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the Adai experiments (defaults: the quick preset, card 08 §3)."""

    task: str = param("linear", choices=("linear", "cifar10"), help="Wilson et al. linear task, or CIFAR-10")
    train_size: int = param(60, low=2, help="n of the linear task (card 08 quick)")
    test_size: int = param(1000, low=1, help="fresh test points per seed (card 08: 1,000)")
    positive_rate: float = param(0.6, low=0.0, high=1.0, help="P(y = +1) (card 08, Wilson et al.)")
    steps: int = param(3000, low=1, help="full-batch steps on the linear task (card 08)")
    sgd_lr: float = param(0.05, low=0.0, low_inclusive=False, help="SGD lr (card 08 prototype)")
    sgdm_lr: float = param(0.005, low=0.0, low_inclusive=False, help="SGD-M lr, momentum 0.9 (card 08 prototype)")
    adai_lr: float = param(0.05, low=0.0, low_inclusive=False, help="Adai lr (card 08 prototype, official rule)")
    adaiw_lr: float = param(0.5, low=0.0, low_inclusive=False, help="AdaiW lr (card 08 prototype)")
    adaiw_wd: float = param(1e-3, low=0.0, help="AdaiW decoupled weight decay (card 08 prototype)")
    adam_lr: float = param(0.01, low=0.0, low_inclusive=False, help="Adam lr (card 08 prototype)")
    adam_eps: float = param(
        1e-8,
        low=0.0,
        low_inclusive=False,
        help="Adam eps (torch default; a huge eps removes Adam's adaptivity: the ablation)",
    )
    rmsprop_lr: float = param(1e-3, low=0.0, low_inclusive=False, help="RMSprop lr (card 08 prototype)")
    mnist_train: int = param(5000, low=0, help="real-data run: MNIST training images (0 = skip)")
    mnist_test: int = param(2000, low=1, help="real-data run: MNIST test images")
    mnist_epochs: int = param(4, low=1, help="real-data run: epochs (batch 128, MLP 784-128-10)")
    # CIFAR-10 (paper / GPU check)
    epochs: int = param(200, low=1, help="CIFAR epochs (paper: 200, lr x0.1 at 80 and 160)")
    batch_size: int = param(128, low=1, help="CIFAR batch size (paper 128)")
    weight_decay: float = param(5e-4, low=0.0, help="CIFAR weight decay, all methods (official notebook)")
    cifar_adai_lr: float = param(1.0, low=0.0, low_inclusive=False, help="CIFAR Adai/AdaiW lr (official notebook)")
    cifar_sgdm_lr: float = param(0.1, low=0.0, low_inclusive=False, help="CIFAR SGD-M lr (official notebook)")
    cifar_adam_lr: float = param(
        1e-4, low=0.0, low_inclusive=False, help="CIFAR Adam lr (official notebook 1e-4; card 08 §7 open question)"
    )
    train_subset: int = param(0, low=0, help="CIFAR: first n training images of a seeded permutation (0 = all)")
    test_subset: int = param(0, low=0, help="CIFAR: first n test images (0 = all)")
    amp: bool = param(False, help="CIFAR: bfloat16 autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")


PRESETS = {
    "quick": Config(),
    "paper": Config(task="cifar10", epochs=200, amp=True, device="auto"),
    "gpu_check": Config(task="cifar10", epochs=30, amp=True, device="auto"),
}


def wilson_data(n: int, positive_rate: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Wilson et al. (2017) over-parameterised linear data: d = 6n + 3 features.

    x0 = y, x1 = x2 = 1, then a block of 6 features unique to each example with 1 feature on if
    y = +1 and 5 if y = -1.
    """
    y = torch.where(torch.rand(n, generator=generator) < positive_rate, 1.0, -1.0).double()
    x = torch.zeros(n, 6 * n + 3, dtype=torch.float64)
    x[:, 0], x[:, 1], x[:, 2] = y, 1.0, 1.0
    for i in range(n):
        on = 1 if y[i] > 0 else 5
        x[i, 3 + 6 * i : 3 + 6 * i + on] = 1.0
    return x, y


def _linear_optimizer(name: str, params: list[Tensor], config: Config) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=config.sgd_lr)
    if name == "sgdm":
        return torch.optim.SGD(params, lr=config.sgdm_lr, momentum=0.9)
    if name == "adai":
        return Adai(params, lr=config.adai_lr)
    if name == "adaiw":
        return AdaiW(params, lr=config.adaiw_lr, weight_decay=config.adaiw_wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=config.adam_lr, eps=config.adam_eps)
    return torch.optim.RMSprop(params, lr=config.rmsprop_lr)


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """The linear implicit-bias task and the MNIST run (quick), or CIFAR-10 (paper)."""
    if config.task == "cifar10":
        return _run_cifar(config, seed, log)
    started = time.perf_counter()
    gen = derive_generator(seed, 0)
    x, y = wilson_data(config.train_size, config.positive_rate, gen)
    y_test = torch.where(torch.rand(config.test_size, generator=gen) < config.positive_rate, 1.0, -1.0).double()
    metrics: dict[str, float] = {}
    for name in LINEAR_METHODS:
        w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
        opt = _linear_optimizer(name, [w], config)
        first = math.nan
        for step in log.progress(range(1, config.steps + 1), total=config.steps, desc=name):
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * ((x @ w - y) ** 2).mean()  # 1/2 mean squared error (fixed here; card 08)
            value = loss.item()
            check_finite(value, step, {f"{name}_diverged_step": float(step)})
            if math.isnan(first) and value < 1e-6:
                first = float(step - 1)
            loss.backward()
            opt.step()
            if step % 500 == 0:
                log.metrics(step, **{f"{name}/train_loss": value})
        with torch.no_grad():
            train_loss = 0.5 * ((x @ w - y) ** 2).mean().item()
            train_err = (torch.sign(x @ w) != y).double().mean().item()
            # Fresh points: features 0-2 only (their unique features meet zero weights).
            test_err = (torch.sign(w[0] * y_test + w[1] + w[2]) != y_test).double().mean().item()
        check_finite(train_loss, config.steps)
        metrics.update(
            {
                f"{name}_train_loss": train_loss,
                f"{name}_train_err": train_err,
                f"{name}_test_err": test_err,
                f"{name}_steps_to_1e-6": first,
            }
        )
    metrics["max_train_err"] = max(metrics[f"{m}_train_err"] for m in LINEAR_METHODS)
    metrics["linear_wall_s"] = time.perf_counter() - started
    if config.mnist_train > 0:
        metrics.update(_run_mnist(config, seed, log))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


def _run_mnist(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """A small real-data run: MLP 784-128-10 on MNIST with SGD-M (0.1), Adai (1.0), Adam (1e-3)."""
    images, labels = load_mnist("train")
    perm = torch.randperm(len(labels), generator=derive_generator(seed, 1))
    take = perm[: config.mnist_train]
    x_train, y_train = images[take].flatten(1).float() / 255.0, labels[take]
    test_images, test_labels = load_mnist("test")
    x_test = test_images[: config.mnist_test].flatten(1).float() / 255.0
    y_test = test_labels[: config.mnist_test]
    out: dict[str, float] = {}
    for name in MNIST_METHODS:
        torch.manual_seed(seed)  # the same initial network for every optimiser
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        opt: torch.optim.Optimizer = {
            "sgdm": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adai": lambda p: Adai(p, lr=1.0),
            "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
        }[name](model.parameters())
        order_gen = derive_generator(seed, 2)
        step = 0
        for epoch in range(config.mnist_epochs):
            order = torch.randperm(len(y_train), generator=order_gen)
            for start in range(0, len(order), 128):
                idx = order[start : start + 128]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
                step += 1
                check_finite(loss.item(), step)
                loss.backward()
                opt.step()
            log.metrics(epoch + 1, **{f"mnist_{name}/train_loss": loss.item()})
        with torch.no_grad():
            out[f"mnist_{name}_test_err"] = (model(x_test).argmax(1) != y_test).float().mean().item()
            out[f"mnist_{name}_train_err"] = (model(x_train).argmax(1) != y_train).float().mean().item()
    return out


def _augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """RandomCrop(32, padding 4) + horizontal flip, batched on the tensor's device."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=generator).to(x.device)
    dy = torch.randint(0, 9, (n,), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(32, device=x.device)[None, :]  # (n, 32)
    cols = dx[:, None] + torch.arange(32, device=x.device)[None, :]
    out = padded[
        torch.arange(n, device=x.device)[:, None, None, None],
        torch.arange(3, device=x.device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def _cifar_optimizer(name: str, model: nn.Module, config: Config) -> torch.optim.Optimizer:
    wd = config.weight_decay
    if name == "adai":
        return Adai(model.parameters(), lr=config.cifar_adai_lr, weight_decay=wd)
    if name == "adaiw":
        return AdaiW(model.parameters(), lr=config.cifar_adai_lr, weight_decay=wd)
    if name == "sgdm":
        return torch.optim.SGD(model.parameters(), lr=config.cifar_sgdm_lr, momentum=0.9, weight_decay=wd)
    return torch.optim.Adam(model.parameters(), lr=config.cifar_adam_lr, weight_decay=wd)


def _run_cifar(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """ResNet-18 on CIFAR-10 (lossy JPEG pack), each optimiser from the same initialisation."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    mean = torch.tensor([0.4914, 0.4822, 0.4465], device=device)[None, :, None, None]
    std = torch.tensor([0.2023, 0.1994, 0.2010], device=device)[None, :, None, None]

    def prepare(split: str, subset: int, gen: torch.Generator | None) -> tuple[Tensor, Tensor]:
        images, labels = load_cifar10(split)
        if subset:
            take = torch.randperm(len(labels), generator=gen)[:subset] if gen is not None else torch.arange(subset)
            images, labels = images[take], labels[take]
        x = images.to(device).permute(0, 3, 1, 2).float().div_(255.0)
        return (x - mean) / std, labels.to(device)

    x_train, y_train = prepare("train", config.train_subset, derive_generator(seed, 3))
    x_test, y_test = prepare("test", config.test_subset, None)
    milestones = (round(config.epochs * 0.4), round(config.epochs * 0.8))  # 80 and 160 of 200
    metrics: dict[str, float] = {}
    for name in CIFAR_METHODS:
        torch.manual_seed(seed)
        model = get_model("resnet18_cifar").to(device)
        opt = _cifar_optimizer(name, model, config)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=0.1)
        gen = derive_generator(seed, 4)
        step = 0
        for epoch in log.progress(range(config.epochs), total=config.epochs, desc=name):
            model.train()
            order = torch.randperm(len(y_train), generator=gen).to(device)
            for start in range(0, len(order), config.batch_size):
                idx = order[start : start + config.batch_size]
                xb = _augment(x_train[idx], gen)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda"):
                    loss = F.cross_entropy(model(xb), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
            check_finite(loss.item(), step)
            sched.step()
            err = _cifar_error(model, x_test, y_test, config)
            log.metrics(epoch + 1, **{f"{name}/test_err": err, f"{name}/train_loss": loss.item()})
        metrics[f"{name}_test_err"] = 100.0 * _cifar_error(model, x_test, y_test, config)
    metrics["adai_minus_sgdm"] = metrics["adai_test_err"] - metrics["sgdm_test_err"]
    metrics["adai_minus_adam"] = metrics["adai_test_err"] - metrics["adam_test_err"]
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


@torch.no_grad()
def _cifar_error(model: nn.Module, x: Tensor, y: Tensor, config: Config) -> float:
    model.eval()
    wrong = 0
    for start in range(0, len(y), 1000):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.amp and x.device.type == "cuda"):
            wrong += (model(x[start : start + 1000]).argmax(1) != y[start : start + 1000]).sum().item()
    return wrong / len(y)


PAPER = Paper(
    slug="adai",
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("adai"),
    components=("optim.Adai", "optim.AdaiW", "optim.AdaiV2"),
    curves=(
        Curve(
            "Linear task: training loss", tuple(f"{m}/train_loss" for m in LINEAR_METHODS), logy=True, ylabel="1/2 MSE"
        ),
    ),
    summary=tuple(f"{m}_test_err" for m in LINEAR_METHODS)
    + tuple(f"{m}_steps_to_1e-6" for m in LINEAR_METHODS)
    + tuple(f"mnist_{m}_test_err" for m in MNIST_METHODS),
)
