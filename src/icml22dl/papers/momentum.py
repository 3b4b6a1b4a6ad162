"""Paper 1, ``momentum``: GD with momentum vs GD (Jelassi & Li, ICML 2022).

Claim: full-batch GD+M generalises better than full-batch GD. On data where examples
share a feature w* but differ in margin (a fraction mu carries it at scale alpha << 1), a
one-hidden-layer cubic CNN trained by GD memorises the small-margin examples through their
noise patches, while GD+M's historical gradients keep learning w* (paper, Sec. 3-4).

``quick``: the paper's synthetic setting (d = 30, N = 500, N_test = 5000, 300 full-batch
steps) with constants calibrated by a prototype (card 01 §1: the paper does not state
them). ``paper``: full-batch GD vs GD+M on CIFAR-10 with VGG-19-BN (paper Sec. 2).
``gpu_check``: the card's shortened GPU check, the synthetic task at d = 1000
(informational: no criterion is set at that scale).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.synthetic import margin_patches, random_unit_vector
from icml22dl.nn import get_model
from icml22dl.nn.cubic_cnn import CubicPatchCNN
from icml22dl.nn.full_batch import full_batch_grad
from icml22dl.optim.momentum import EMAMomentum
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device

OPTIMISERS = ("gd", "gdm")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the momentum experiment (defaults: the quick preset, card 01 §1)."""

    task: str = param("synthetic", choices=("synthetic", "cifar10"), help="synthetic margin-split data, or CIFAR-10")
    dim: int = param(30, low=1, help="d, patch dimension (paper's synthetic figure, verified)")
    patches: int = param(5, low=2, help="P, patches per example (our calibration)")
    train_size: int = param(500, low=1, help="N (paper, verified)")
    test_size: int = param(5000, low=1, help="N_test (paper, verified)")
    mu: float = param(
        0.2,
        low=0.0,
        high=1.0,
        low_inclusive=False,
        high_inclusive=False,
        help="fraction of small-margin examples Z2 (our calibration)",
    )
    alpha: float = param(0.2, low=0.0, high=1.0, low_inclusive=False, help="small margin (our calibration)")
    sigma: float = param(0.3, low=0.0, help="noise std in the orthogonal complement of w* (our calibration)")
    filters: int = param(10, low=1, help="m, filters (card: 10, since m = 5 traps GD in 1 seed of 20)")
    init_scale: float = param(0.5, low=0.0, low_inclusive=False, help="sigma0 * sqrt(d), init std of the filters")
    lr: float = param(1.0, low=0.0, low_inclusive=False, help="eta, the same for GD and GD+M (our calibration)")
    momentum: float = param(
        0.9, low=0.0, high=1.0, high_inclusive=False, help="gamma of the EMA form (paper 0.9, recalled)"
    )
    iterations: int = param(300, low=1, help="full-batch steps = epochs (paper, verified)")
    log_every: int = param(10, low=1, help="steps between logged metrics")
    model: str = param("vgg19_bn", choices=("vgg19_bn", "resnet18_cifar"), help="CIFAR model (paper Sec. 2)")
    batch_size: int = param(500, low=1, help="CIFAR: chunk size of the full-batch gradient accumulation")
    train_subset: int = param(0, low=0, help="CIFAR: a random subset of n training images (0 = all 50 000)")
    test_subset: int = param(0, low=0, help="CIFAR: a random subset of n test images (0 = all 10 000)")
    amp: bool = param(False, help="CIFAR: bfloat16 autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    @property
    def init_std(self) -> float:
        return self.init_scale / math.sqrt(self.dim)


PRESETS = {
    "quick": Config(),
    "paper": Config(task="cifar10", lr=0.1, iterations=300, log_every=10, batch_size=1000, device="auto", amp=True),
    "gpu_check": Config(
        dim=1000,
        patches=8,
        train_size=5000,
        test_size=5000,
        filters=20,
        iterations=1000,
        sigma=0.05,
        log_every=50,
        device="auto",
    ),
}


def logistic_loss(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of log(1 + exp(-y f)), computed as softplus(-y f) (the cubic outputs grow large)."""
    return F.softplus(-y * outputs).mean()


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train GD and GD+M from one shared initialisation; return the metrics of both."""
    if config.task == "cifar10":
        return _run_cifar(config, seed, log)
    return _run_synthetic(config, seed, log)


def _run_synthetic(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    started = time.perf_counter()
    device = resolve_device(config.device)
    data_gen = derive_generator(seed, 0)
    w_star = random_unit_vector(config.dim, data_gen)
    draw = dict(
        d=config.dim,
        patches=config.patches,
        mu=config.mu,
        alpha=config.alpha,
        sigma=config.sigma,
        w_star=w_star,
        generator=data_gen,
    )
    train = margin_patches(config.train_size, **draw)
    test = margin_patches(config.test_size, **draw)
    x_train, y_train, x_test, y_test = (t.to(device) for t in (train.x, train.y, test.x, test.y))
    z2_test = test.small_margin.to(device)
    w_star = w_star.to(device)
    # Noise patches of the small-margin training examples: where memorisation shows.
    noise_mask = torch.ones(train.x.shape[:2], dtype=torch.bool)
    noise_mask[torch.arange(config.train_size), train.signal_position] = False
    noise_mask &= train.small_margin[:, None]
    z2_noise = train.x[noise_mask].to(device)

    initial = CubicPatchCNN(config.dim, config.filters, config.init_std, generator=derive_generator(seed, 1)).to(device)
    metrics: dict[str, float] = {}
    for name in OPTIMISERS:
        model = copy.deepcopy(initial)  # GD and GD+M start from the same W(0)
        gamma = config.momentum if name == "gdm" else 0.0
        optimiser = EMAMomentum(model.parameters(), lr=config.lr, momentum=gamma, form="ema")
        for step in log.progress(range(1, config.iterations + 1), total=config.iterations, desc=name):
            optimiser.zero_grad(set_to_none=True)
            loss = logistic_loss(model(x_train), y_train)
            check_finite(loss.item(), step, {f"{name}_diverged_step": float(step)})
            loss.backward()
            optimiser.step()
            if step % config.log_every == 0 or step == config.iterations:
                log.metrics(
                    step,
                    **{
                        f"{name}/{k}": v
                        for k, v in _evaluate(
                            model, x_train, y_train, x_test, y_test, z2_test, w_star, z2_noise
                        ).items()
                    },
                )
        final = _evaluate(model, x_train, y_train, x_test, y_test, z2_test, w_star, z2_noise)
        check_finite(final["train_loss"], config.iterations)
        metrics.update({f"{name}_{k}": v for k, v in final.items()})
    metrics.update(
        min_train_acc=min(metrics["gd_train_acc"], metrics["gdm_train_acc"]),
        z2_gap=metrics["gdm_z2_test_acc"] - metrics["gd_z2_test_acc"],
        test_gap=metrics["gdm_test_acc"] - metrics["gd_test_acc"],
        alignment_gap=metrics["gdm_alignment"] - metrics["gd_alignment"],
        z2_train_fraction=float(train.small_margin.float().mean()),
        run_wall_s=time.perf_counter() - started,
    )
    return metrics


@torch.no_grad()
def _evaluate(
    model: CubicPatchCNN,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    z2_test: torch.Tensor,
    w_star: torch.Tensor,
    z2_noise: torch.Tensor,
) -> dict[str, float]:
    """Losses, accuracies (overall, Z1, Z2), feature alignment and memorisation."""
    train_out, test_out = model(x_train), model(x_test)
    test_correct = (torch.sign(test_out) == y_test).float()
    return {
        "train_loss": logistic_loss(train_out, y_train).item(),
        "train_acc": (torch.sign(train_out) == y_train).float().mean().item(),
        "test_loss": logistic_loss(test_out, y_test).item(),
        "test_acc": test_correct.mean().item(),
        "z1_test_acc": test_correct[~z2_test].mean().item(),
        "z2_test_acc": test_correct[z2_test].mean().item(),
        "alignment": model.alignment(w_star).item(),
        "memorisation": model.memorisation(z2_noise).item() if len(z2_noise) else 0.0,
    }


def _run_cifar(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Full-batch GD vs GD+M on CIFAR-10 (paper Sec. 2): the gradient of all training
    images per step, accumulated in chunks of ``batch_size``; no augmentation."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    (x_train, y_train), (x_test, y_test) = (load_cifar10(split) for split in ("train", "test"))
    # The JPEG pack is sorted by class: a subset must be a random draw, not a prefix.
    subset_gen = derive_generator(seed, 0)
    if config.train_subset:
        keep = torch.randperm(len(x_train), generator=subset_gen)[: config.train_subset]
        x_train, y_train = x_train[keep], y_train[keep]
    if config.test_subset:
        keep = torch.randperm(len(x_test), generator=subset_gen)[: config.test_subset]
        x_test, y_test = x_test[keep], y_test[keep]
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    mean = x_train.float().mean(dim=(0, 1, 2)) / 255
    std = x_train.float().std(dim=(0, 1, 2)) / 255

    def batches(x: torch.Tensor, y: torch.Tensor):
        for i in range(0, len(x), config.batch_size):
            xb = (x[i : i + config.batch_size].float() / 255 - mean) / std
            yield xb.permute(0, 3, 1, 2).contiguous(), y[i : i + config.batch_size]

    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda")
    torch.manual_seed(seed)
    initial = get_model(config.model, num_classes=10).to(device)
    metrics: dict[str, float] = {}
    for name in OPTIMISERS:
        model = copy.deepcopy(initial)
        gamma = config.momentum if name == "gdm" else 0.0
        optimiser = EMAMomentum(model.parameters(), lr=config.lr, momentum=gamma, form="ema")
        for epoch in log.progress(range(1, config.iterations + 1), total=config.iterations, desc=name):
            model.train()
            with autocast:
                loss = full_batch_grad(model, batches(x_train, y_train), loss_fn, num_examples=len(x_train))
            check_finite(loss, epoch, {f"{name}_diverged_step": float(epoch)})
            optimiser.step()
            if epoch % config.log_every == 0 or epoch == config.iterations:
                with autocast:
                    values = {"train_loss": loss, "test_acc": _accuracy(model, batches(x_test, y_test))}
                log.metrics(epoch, **{f"{name}/{k}": v for k, v in values.items()})
        with autocast:
            metrics[f"{name}_train_acc"] = _accuracy(model, batches(x_train, y_train))
            metrics[f"{name}_test_acc"] = _accuracy(model, batches(x_test, y_test))
    metrics.update(
        min_train_acc=min(metrics["gd_train_acc"], metrics["gdm_train_acc"]),
        test_gap=metrics["gdm_test_acc"] - metrics["gd_test_acc"],
        run_wall_s=time.perf_counter() - started,
    )
    return metrics


@torch.no_grad()
def _accuracy(model: torch.nn.Module, batches) -> float:
    model.eval()
    correct = total = 0
    for xb, yb in batches:
        correct += (model(xb).argmax(dim=1) == yb).sum().item()
        total += len(yb)
    return correct / total


PAPER = Paper(
    slug="momentum",
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("momentum"),
    components=("optim.EMAMomentum", "data.margin_patches", "nn.CubicPatchCNN", "nn.resnet18_cifar", "nn.vgg19_bn"),
    curves=(
        Curve("Test accuracy on the small-margin subset Z2", ("gd/z2_test_acc", "gdm/z2_test_acc"), ylabel="accuracy"),
        Curve("Feature alignment max_r <w_r, w*>", ("gd/alignment", "gdm/alignment"), ylabel="alignment"),
        Curve("Memorisation max |<w_r, xi>| on Z2 noise patches", ("gd/memorisation", "gdm/memorisation")),
        Curve("Training loss", ("gd/train_loss", "gdm/train_loss"), logy=True),
    ),
    summary=(
        "gd_train_acc",
        "gdm_train_acc",
        "gd_test_acc",
        "gdm_test_acc",
        "gd_z2_test_acc",
        "gdm_z2_test_acc",
        "gd_alignment",
        "gdm_alignment",
    ),
)
