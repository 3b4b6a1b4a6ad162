"""Paper 1, ``momentum``: GD with momentum vs GD (Jelassi & Li, ICML 2022).

Claim: full-batch GD+M generalises better than full-batch GD. On data where examples
share a feature w* but differ in margin (a fraction mu carries it at scale alpha << 1), a
one-hidden-layer cubic CNN trained by GD memorises the small-margin examples through their
noise patches, while GD+M's historical gradients keep learning w* (paper, Sec. 3-4).

``quick``: the paper's synthetic setting (d = 30, N = 500, N_test = 5000, 300 full-batch
steps) with constants calibrated by a prototype (the paper does not state them; see
docs/papers/momentum.md#defaults). ``paper``: full-batch GD vs GD+M on CIFAR-10 with
VGG-19-BN (paper Sec. 2). ``gpu_check``: the synthetic task at d = 1000 (our larger
design; CPU or GPU), judged by the same four synthetic criteria as ``quick``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.subsets import random_subset
from icml22dl.data.synthetic import MarginPatches, margin_patches, random_unit_vector
from icml22dl.data.transforms import ChannelStandardize
from icml22dl.nn import get_model
from icml22dl.nn.cubic_cnn import CubicPatchCNN
from icml22dl.optim.momentum import EMAMomentum
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

OPTIMISERS = ("gd", "gdm")


@dataclass(frozen=True)
class MarginData(ConfigBlock):
    """The synthetic distribution D(d, P, mu, alpha, sigma, w*) of the paper's Sec. 3 (:func:`margin_patches`)."""

    dim: int = param(30, low=1, help="d, patch dimension (paper's synthetic figure, verified)")
    patches: int = param(5, low=2, help="P, patches per example (our calibration)")
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

    def draw(self, n: int, w_star: Tensor, generator: torch.Generator) -> MarginPatches:
        """``n`` examples around the feature ``w_star``, drawn from ``generator``."""
        return margin_patches(n, self.dim, self.patches, self.mu, self.alpha, self.sigma, w_star, generator)


@dataclass(frozen=True)
class CubicNet(ConfigBlock):
    """The one-hidden-layer cubic CNN (:class:`icml22dl.nn.CubicPatchCNN`) and its Gaussian initialisation."""

    filters: int = param(10, low=1, help="m, filters (10, since m = 5 traps GD in 1 seed of 20)")
    init_scale: float = param(0.5, low=0.0, low_inclusive=False, help="sigma0 * sqrt(d), init std of the filters")

    def build(self, dim: int, generator: torch.Generator) -> CubicPatchCNN:
        """The network for patches of dimension ``dim``, init std ``init_scale / sqrt(dim)``."""
        return CubicPatchCNN(dim, self.filters, self.init_scale / math.sqrt(dim), generator=generator)


@dataclass(frozen=True)
class CifarGD(ConfigBlock):
    """The CIFAR-10 arm (paper Sec. 2): the network, the gradient-accumulation chunk and the subsets."""

    model: str = param("vgg19_bn", choices=("vgg19_bn", "resnet18_cifar"), help="CIFAR model (paper Sec. 2)")
    batch_size: int = param(500, low=1, help="chunk size of the full-batch gradient accumulation")
    train_subset: int = param(0, low=0, help="a random subset of n training images (0 = all 50 000)")
    test_subset: int = param(0, low=0, help="a random subset of n test images (0 = all 10 000)")
    amp: bool = param(False, help="bfloat16 autocast on CUDA")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the momentum experiment (defaults: the quick preset, docs/papers/momentum.md#defaults)."""

    task: str = param("synthetic", choices=("synthetic", "cifar10"), help="synthetic margin-split data, or CIFAR-10")
    data: MarginData = param(MarginData(), help="the synthetic distribution")
    train_size: int = param(500, low=1, help="N (paper, verified)")
    test_size: int = param(5000, low=1, help="N_test (paper, verified)")
    net: CubicNet = param(CubicNet(), help="the cubic CNN of the synthetic task")
    lr: float = param(1.0, low=0.0, low_inclusive=False, help="eta, the same for GD and GD+M (our calibration)")
    momentum: float = param(
        0.9, low=0.0, high=1.0, high_inclusive=False, help="gamma of the EMA form (paper 0.9, recalled)"
    )
    iterations: int = param(300, low=1, help="full-batch steps = epochs (paper, verified)")
    log_every: int = param(10, low=1, help="steps between logged metrics")
    cifar: CifarGD = param(CifarGD(), help="the CIFAR-10 arm (task='cifar10')")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        task="cifar10",
        lr=0.1,
        iterations=300,
        log_every=10,
        cifar=CifarGD(batch_size=1000, amp=True),
        device="auto",
    ),
    "gpu_check": Config(
        data=MarginData(dim=1000, patches=8, sigma=0.05),
        train_size=5000,
        test_size=5000,
        net=CubicNet(filters=20),
        iterations=1000,
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


def _gd_runs(initial: nn.Module, config: Config) -> Iterator[tuple[str, nn.Module, EMAMomentum]]:
    """GD and GD+M (EMA form, the same eta), each on its own copy of the shared initialisation."""
    for name in OPTIMISERS:
        model = copy.deepcopy(initial)
        gamma = config.momentum if name == "gdm" else 0.0
        yield name, model, EMAMomentum(model.parameters(), lr=config.lr, momentum=gamma, form="ema")


def _full_batch_gd(
    name: str,
    model: nn.Module,
    optimiser: EMAMomentum,
    data: tuple[Tensor, Tensor],
    loss_fn: Callable[[nn.Module, Batch], Tensor],
    report: Callable[[nn.Module, float], dict[str, float]],
    config: Config,
    log: RunLog,
    chunk_size: int | None = None,
) -> None:
    """``config.iterations`` full-batch steps (in chunks of ``chunk_size``); ``report`` logged every ``log_every``."""

    def on_epoch(step: int, result: FitResult) -> None:
        if step % config.log_every == 0 or step == config.iterations:
            log.metrics(step, **{f"{name}/{k}": v for k, v in report(model, result.last_loss).items()})

    with diverged_as(f"{name}_diverged_step"):
        fit(
            model,
            optimiser,
            *data,
            epochs=config.iterations,
            shuffle=False,
            loss_fn=loss_fn,
            chunk_size=chunk_size,
            amp=config.task == "cifar10" and config.cifar.amp,
            on_epoch=on_epoch,
            progress=lambda r: log.progress(r, total=config.iterations, desc=name),
        )


class SyntheticSets(NamedTuple):
    """The synthetic task's tensors on the device, and what its metrics need besides them."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    z1_test: tuple[Tensor, Tensor]  # the large-margin test examples (Z1): inputs, labels
    z2_test: tuple[Tensor, Tensor]  # the small-margin test examples (Z2)
    w_star: Tensor
    z2_noise: Tensor  # noise patches of the small-margin training examples: where memorisation shows

    @classmethod
    def draw(cls, config: Config, seed: int, device: torch.device) -> tuple[SyntheticSets, float]:
        """Training and test sets from the seed's data stream; also Z2's share of the training set."""
        gen = derive_generator(seed, 0)
        w_star = random_unit_vector(config.data.dim, gen)
        train, test = config.data.draw(config.train_size, w_star, gen), config.data.draw(config.test_size, w_star, gen)
        z2 = test.small_margin
        x_train, y_train, x_test, y_test, w_star = (t.to(device) for t in (train.x, train.y, test.x, test.y, w_star))
        z1_test, z2_test = (
            (test.x[~z2].to(device), test.y[~z2].to(device)),
            (test.x[z2].to(device), test.y[z2].to(device)),
        )
        z2_noise = train.noise_patches()[train.small_margin].to(device)
        sets = cls(x_train, y_train, x_test, y_test, z1_test, z2_test, w_star, z2_noise)
        return sets, float(train.small_margin.float().mean())

    def metrics(self, model: nn.Module) -> dict[str, float]:
        """Logistic losses, sign accuracies (overall, Z1, Z2), feature alignment and memorisation."""
        if not isinstance(model, CubicPatchCNN):
            raise TypeError(f"model must be a CubicPatchCNN, got {type(model).__name__}")

        def sign_eval(x: Tensor, y: Tensor) -> tuple[float, float]:
            if len(y) == 0:
                return math.nan, math.nan
            result = evaluate(model, x, y, batch_size=len(y), loss=logistic_loss, predict=torch.sign)
            return result.loss, result.accuracy

        train_loss, train_acc = sign_eval(self.x_train, self.y_train)
        test_loss, test_acc = sign_eval(self.x_test, self.y_test)
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "z1_test_acc": sign_eval(*self.z1_test)[1],
            "z2_test_acc": sign_eval(*self.z2_test)[1],
            "alignment": model.alignment(self.w_star).item(),
            "memorisation": model.memorisation(self.z2_noise).item() if len(self.z2_noise) else 0.0,
        }


def _run_synthetic(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    started = time.perf_counter()
    device = resolve_device(config.device)
    sets, z2_fraction = SyntheticSets.draw(config, seed, device)
    initial = config.net.build(config.data.dim, derive_generator(seed, 1)).to(device)

    def loss_fn(model: nn.Module, batch: Batch) -> Tensor:
        return logistic_loss(model(batch.x), batch.y)

    def report(model: nn.Module, _step_loss: float) -> dict[str, float]:
        return sets.metrics(model)

    metrics: dict[str, float] = {}
    for name, model, optimiser in _gd_runs(initial, config):
        _full_batch_gd(name, model, optimiser, (sets.x_train, sets.y_train), loss_fn, report, config, log)
        final = sets.metrics(model)
        check_finite(final["train_loss"], config.iterations)
        metrics.update({f"{name}_{k}": v for k, v in final.items()})
    metrics.update(
        min_train_acc=min(metrics["gd_train_acc"], metrics["gdm_train_acc"]),
        z2_gap=metrics["gdm_z2_test_acc"] - metrics["gd_z2_test_acc"],
        test_gap=metrics["gdm_test_acc"] - metrics["gd_test_acc"],
        alignment_gap=metrics["gdm_alignment"] - metrics["gd_alignment"],
        z2_train_fraction=z2_fraction,
        run_wall_s=time.perf_counter() - started,
    )
    return metrics


def _cifar_tensors(config: Config, seed: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CIFAR-10 train and test images (uint8, NCHW) and labels on ``device``, random subsets when asked.

    The JPEG pack is sorted by class: a subset is a random draw (one stream for both), not a prefix.
    """
    gen = derive_generator(seed, 0)
    tensors: list[Tensor] = []
    for split, size in (("train", config.cifar.train_subset), ("test", config.cifar.test_subset)):
        x, y = load_cifar10(split)
        if size:
            keep = random_subset(len(x), size, gen)
            x, y = x[keep], y[keep]
        tensors += [x.permute(0, 3, 1, 2).contiguous().to(device), y.to(device)]
    x_train, y_train, x_test, y_test = tensors
    return x_train, y_train, x_test, y_test


def _run_cifar(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Full-batch GD vs GD+M on CIFAR-10 (paper Sec. 2): the gradient of all training images per
    step, accumulated in chunks of ``cifar.batch_size``; no augmentation."""
    started = time.perf_counter()
    cifar = config.cifar
    x_train, y_train, x_test, y_test = _cifar_tensors(config, seed, resolve_device(config.device))
    normalize = ChannelStandardize.fit(x_train)
    with torch_seeded(seed):
        initial = get_model(cifar.model, num_classes=10).to(x_train.device)

    def loss_fn(model: nn.Module, batch: Batch) -> Tensor:
        return F.cross_entropy(model(normalize(batch.x)).float(), batch.y)

    def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
        return evaluate(model, x, y, batch_size=cifar.batch_size, transform=normalize, amp=cifar.amp).accuracy

    def report(model: nn.Module, loss: float) -> dict[str, float]:
        return {"train_loss": loss, "test_acc": accuracy(model, x_test, y_test)}

    metrics: dict[str, float] = {}
    for name, model, optimiser in _gd_runs(initial, config):
        _full_batch_gd(name, model, optimiser, (x_train, y_train), loss_fn, report, config, log, cifar.batch_size)
        metrics[f"{name}_train_acc"] = accuracy(model, x_train, y_train)
        metrics[f"{name}_test_acc"] = accuracy(model, x_test, y_test)
    metrics.update(
        min_train_acc=min(metrics["gd_train_acc"], metrics["gdm_train_acc"]),
        test_gap=metrics["gdm_test_acc"] - metrics["gd_test_acc"],
        run_wall_s=time.perf_counter() - started,
    )
    return metrics


PAPER = Paper(
    slug="momentum",
    data={"quick": (), "paper": ("cifar10",), "gpu_check": ()},
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
