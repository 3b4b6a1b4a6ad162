"""Paper 12, ``sop``: robust training under label noise by sparse over-parameterisation (Liu et al., ICML 2022).

Claim: adding the per-sample term s_i = u_i^2 y_i - v_i^2 (1 - y_i) to the prediction,
trained from a tiny initialisation with its own learning rates, keeps an over-parameterised
network from memorising wrong labels, and u_i^2 ranks the wrong labels.

``quick`` (docs/papers/sop.md#defaults): scikit-learn digits, MLP 64-512-512-10, 40 %
symmetric and 40 % asymmetric noise on the training split, cross-entropy vs plain SOP from
one shared initialisation, 150 epochs; metrics: final test accuracy of both and the AUROC
of u^2 against the truly-flipped mask. ``paper``: a shortened GPU check (CIFAR-10 JPEG
pack, 50 % symmetric noise, ResNet-18, 40 epochs, SOP vs CE).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from icml22dl.data import ChannelStandardize, load_cifar10, load_digits, random_crop_flip, stratified_split
from icml22dl.data.noise import CIFAR10_ASYMMETRIC, asymmetric_noise, symmetric_noise
from icml22dl.losses import SOPLoss, noise_detection_auroc
from icml22dl.nn import MLPClassifier, resnet18_cifar
from icml22dl.papers.blocks import Optim, Schedule
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    derive_generator,
    load_claim,
    param,
    torch_seeded,
)
from icml22dl.runner.device import resolve_device
from icml22dl.train import Batch, FitResult, cross_entropy_loss, evaluate, fit

#: Digits class-dependent noise (a digits analogue of the CIFAR-10 pairs): 7 <-> 1, 3 <-> 8, 5 <-> 6, 4 <-> 9, 2 -> 7.
DIGITS_ASYMMETRIC = {7: 1, 1: 7, 3: 8, 8: 3, 5: 6, 6: 5, 4: 9, 9: 4, 2: 7}

Transform = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LabelNoise(ConfigBlock):
    """The two noisy-label experiments, on the training split only (0 skips one)."""

    sym_rate: float = param(0.4, low=0.0, high=1.0, help="symmetric noise rate (0 = skip); true class excluded")
    asym_rate: float = param(0.4, low=0.0, high=1.0, help="asymmetric noise rate (0 = skip)")


@dataclass(frozen=True)
class SOPParams(ConfigBlock):
    """SOP's per-sample parameters u, v: their plain-SGD learning rates, initialisation and the SOP+ terms."""

    lr_u: float = param(10.0, low=0.0, low_inclusive=False, help="SGD lr of u (quick: pilot 10; official CIFAR-10 10)")
    lr_v: float = param(
        100.0, low=0.0, low_inclusive=False, help="SGD lr of v (quick: pilot 100; official CIFAR-10 10)"
    )
    init_std: float = param(1e-8, low=0.0, low_inclusive=False, help="sigma_0 of u, v (official 1e-8)")
    ratio_consistency: float = param(0.0, low=0.0, help="SOP+ lambda_C (0.9); needs two views")
    ratio_balance: float = param(0.0, low=0.0, help="SOP+ lambda_B (0.1)")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the SOP experiment (defaults: the quick preset, docs/papers/sop.md#defaults)."""

    dataset: str = param("digits", choices=("digits", "cifar10"), help="digits (quick) or CIFAR-10 JPEG (GPU check)")
    noise: LabelNoise = param(LabelNoise(), help="label-noise rates of the two experiments")
    width: int = param(512, low=1, help="digits MLP hidden width (64-width-width-10)")
    epochs: int = param(150, low=1, help="training epochs (quick: 150; GPU check: 40)")
    batch_size: int = param(64, low=1, help="batch size (quick: 64; official 128)")
    opt: Optim = param(
        Optim(name="sgd", lr=0.02, momentum=0.9, weight_decay=5e-4),
        help="network optimiser (official SGD 0.02, momentum 0.9; weight decay CIFAR-10 5e-4, CIFAR-100 1e-3)",
    )
    schedule: Schedule = param(Schedule(kind="cosine"), help="network lr schedule, stepped per step (official cosine)")
    sop: SOPParams = param(SOPParams(), help="SOP's u, v")
    test_fraction: float = param(
        0.33,
        low=0.0,
        high=1.0,
        low_inclusive=False,
        high_inclusive=False,
        help="digits: stratified test share (67/33)",
    )
    amp: bool = param(False, help="bfloat16 autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dataset="cifar10",
        noise=LabelNoise(sym_rate=0.5, asym_rate=0.0),
        epochs=40,
        batch_size=128,
        sop=SOPParams(lr_u=10.0, lr_v=10.0),
        amp=True,
        device="auto",
    ),
}


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """For each noise type: CE and SOP from one initialisation on the same noisy labels."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    data = tuple(t.to(device) for t in _data(config, seed))
    augment, transform = _input_transforms(config, data[0], derive_generator(seed, 5))
    with torch_seeded(seed):
        initial = _network(config).to(device)
    metrics: dict[str, float] = {}
    noise_gen = derive_generator(seed, 1)
    for tag, rate in (("sym", config.noise.sym_rate), ("asym", config.noise.asym_rate)):
        if rate > 0:
            y_noisy, flipped = _noisy_labels(config, tag, rate, data[1], noise_gen)
            metrics.update(
                noise_comparison(config, tag, initial, data, y_noisy, flipped, augment, transform, seed, log)
            )
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


def _data(config: Config, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Digits (pixels in [-1, 1], a seeded stratified split) or CIFAR-10 (uint8, NCHW): train then test."""
    if config.dataset == "digits":
        x, y = load_digits()
        x = x[:, None] * 2 - 1  # pixels to [-1, 1]
        train, test = stratified_split(y, config.test_fraction, derive_generator(seed, 0))
        return x[train], y[train], x[test], y[test]
    (xtr, ytr), (xte, yte) = load_cifar10("train"), load_cifar10("test")
    return xtr.permute(0, 3, 1, 2).contiguous(), ytr, xte.permute(0, 3, 1, 2).contiguous(), yte


def _network(config: Config) -> nn.Module:
    if config.dataset == "digits":
        return MLPClassifier([64, config.width, config.width, 10])
    return resnet18_cifar(num_classes=10)


def _input_transforms(
    config: Config, x_train: Tensor, generator: torch.Generator
) -> tuple[Transform | None, Transform | None]:
    """``(augment, transform)`` of the training and test batches: none on digits; CIFAR-10 standardised
    with its training statistics, plus crop (pad 4) and flip when training, from one generator for every run."""
    if config.dataset != "cifar10":
        return None, None
    standardize = ChannelStandardize.fit(x_train)
    return (lambda xb: random_crop_flip(standardize(xb), 4, True, generator)), standardize


def _noisy_labels(
    config: Config, tag: str, rate: float, y_train: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The observed labels and the truly-flipped mask, on ``y_train``'s device."""
    if tag == "sym":
        y_noisy, flipped = symmetric_noise(y_train.cpu(), rate, 10, generator, include_true_class=False)
    else:
        mapping = DIGITS_ASYMMETRIC if config.dataset == "digits" else dict(CIFAR10_ASYMMETRIC)
        y_noisy, flipped = asymmetric_noise(y_train.cpu(), rate, mapping, generator)
    return y_noisy.to(y_train.device), flipped.to(y_train.device)


def noise_comparison(
    config: Config,
    tag: str,
    initial: nn.Module,
    data: tuple[Tensor, ...],
    y_noisy: Tensor,
    flipped: Tensor,
    augment: Transform | None,
    transform: Transform | None,
    seed: int,
    log: RunLog,
) -> dict[str, float]:
    """CE and SOP from ``initial`` on one set of noisy labels: accuracies, memorisation of the wrong labels,
    SOP's AUROC and label correction.

    ``<tag>_<method>_memorised`` is the share of truly-flipped training examples whose final prediction is
    their wrong (observed) label: the memorisation the paper says SOP prevents (Sec. 1, Fig. 1).
    """
    x_train, y_train, x_test, y_test = data
    metrics = {f"{tag}_realised_rate": float(flipped.float().mean())}
    for method in ("ce", "sop"):
        t0 = time.perf_counter()
        model = copy.deepcopy(initial)
        criterion = _train(config, method, model, data, y_noisy, augment, transform, seed, tag, log)
        metrics[f"{tag}_{method}_acc"] = evaluate(model, x_test, y_test, transform=transform).accuracy
        wrong = evaluate(model, x_train[flipped], y_noisy[flipped], transform=transform)
        metrics[f"{tag}_{method}_memorised"] = wrong.accuracy
        metrics[f"{tag}_{method}_wall_s"] = time.perf_counter() - t0
        if criterion is not None:
            metrics[f"{tag}_auroc"] = noise_detection_auroc(criterion.noise_scores(), flipped)
            corrected = criterion.corrected_labels(y_noisy)
            metrics[f"{tag}_corrected_label_acc"] = float((corrected == y_train).float().mean())
    metrics[f"{tag}_gain"] = metrics[f"{tag}_sop_acc"] - metrics[f"{tag}_ce_acc"]
    return metrics


def _sop_loss(criterion: SOPLoss, model: nn.Module, batch: Batch) -> Tensor:
    """SOP's loss of the float32 logits, outside autocast (as the network's loss is computed in float32)."""
    logits = model(batch.x).float()
    with torch.autocast(logits.device.type, enabled=False):
        return criterion(logits, batch.y, batch.index)


def _train(
    config: Config,
    method: str,
    model: nn.Module,
    data: tuple[Tensor, ...],
    y_noisy: Tensor,
    augment: Transform | None,
    transform: Transform | None,
    seed: int,
    tag: str,
    log: RunLog,
) -> SOPLoss | None:
    """Train ``model`` with CE or SOP on the noisy labels; SOP's u, v step before the network. Returns SOP's loss."""
    x, x_test, y_test = data[0], data[2], data[3]
    opt = config.opt.build(model.parameters())
    steps = config.epochs * math.ceil(len(x) / config.batch_size)
    optimizers: list[torch.optim.Optimizer] = [opt]
    criterion, loss_fn = None, cross_entropy_loss
    if method == "sop":
        sop = config.sop
        criterion = SOPLoss(
            len(x),
            10,
            sop.ratio_consistency,
            sop.ratio_balance,
            init_std=sop.init_std,
            generator=derive_generator(seed, 3),
        ).to(x.device)
        optimizers = [criterion.make_optimizer(sop.lr_u, sop.lr_v), opt]
        loss_fn = partial(_sop_loss, criterion)

    def on_epoch(epoch: int, result: FitResult) -> None:
        if epoch % 10 == 0 or epoch == config.epochs:
            accuracy = evaluate(model, x_test, y_test, transform=transform).accuracy
            log.metrics(
                epoch, **{f"{tag}_{method}/train_loss": result.epoch_losses[-1], f"{tag}_{method}/test_acc": accuracy}
            )

    fit(
        model,
        optimizers,
        x,
        y_noisy,
        epochs=config.epochs,
        batch_size=config.batch_size,
        loss_fn=loss_fn,
        generator=derive_generator(seed, 2),
        augment=augment,
        scheduler=config.schedule.build(opt, steps),
        scheduler_interval="step",
        amp=config.amp,
        on_epoch=on_epoch,
        progress=lambda epochs: log.progress(epochs, total=config.epochs, desc=f"{tag} {method}"),
    )
    return criterion


PAPER = Paper(
    slug="sop",
    data={"quick": (), "paper": ("cifar10",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("sop"),
    components=(
        "losses.SOPLoss",
        "losses.noise_detection_auroc",
        "data.IndexedDataset",
        "data.TwoViewDataset",
        "data.WeakStrongAugment",
        "data.stratified_split",
        "data.ChannelStandardize",
        "nn.MLPClassifier",
    ),
    curves=(
        Curve("Test accuracy, 40 % symmetric noise", ("sym_ce/test_acc", "sym_sop/test_acc"), ylabel="accuracy"),
        Curve("Test accuracy, 40 % asymmetric noise", ("asym_ce/test_acc", "asym_sop/test_acc"), ylabel="accuracy"),
        Curve("Training loss, symmetric noise", ("sym_ce/train_loss", "sym_sop/train_loss"), logy=True),
    ),
    summary=(
        "sym_ce_acc",
        "sym_sop_acc",
        "sym_auroc",
        "asym_ce_acc",
        "asym_sop_acc",
        "asym_auroc",
        "sym_corrected_label_acc",
        "run_wall_s",
    ),
)
