"""Paper 12, ``sop``: robust training under label noise by sparse over-parameterisation (Liu et al., ICML 2022).

Claim: adding the per-sample term s_i = u_i^2 y_i - v_i^2 (1 - y_i) to the prediction,
trained from a tiny initialisation with its own learning rates, keeps an over-parameterised
network from memorising wrong labels, and u_i^2 ranks the wrong labels.

``quick`` (card 12 §3): scikit-learn digits, MLP 64-512-512-10, 40 % symmetric and 40 %
asymmetric noise on the training split, cross-entropy vs plain SOP from one shared
initialisation, 150 epochs; metrics: final test accuracy of both and the AUROC of u^2
against the truly-flipped mask. ``paper``: the card's shortened GPU check (CIFAR-10 JPEG
pack, 50 % symmetric noise, ResNet-18, 40 epochs, SOP vs CE).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.data import load_cifar10, load_digits, random_crop_flip
from icml22dl.data.noise import CIFAR10_ASYMMETRIC, asymmetric_noise, symmetric_noise
from icml22dl.losses import SOPLoss, noise_detection_auroc
from icml22dl.nn import resnet18_cifar
from icml22dl.nn.small_nets import MLPClassifier
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device

#: Digits class-dependent noise (card 12 quick): 7 <-> 1, 3 <-> 8, 5 <-> 6, 4 <-> 9, 2 -> 7.
DIGITS_ASYMMETRIC = {7: 1, 1: 7, 3: 8, 8: 3, 5: 6, 6: 5, 4: 9, 9: 4, 2: 7}


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the SOP experiment (defaults: the quick preset, card 12 §3)."""

    dataset: str = param("digits", choices=("digits", "cifar10"), help="digits (quick) or CIFAR-10 JPEG (GPU check)")
    sym_rate: float = param(0.4, low=0.0, high=1.0, help="symmetric noise rate (0 = skip); true class excluded")
    asym_rate: float = param(0.4, low=0.0, high=1.0, help="asymmetric noise rate (0 = skip)")
    width: int = param(512, low=1, help="MLP hidden width (card: 512)")
    epochs: int = param(150, low=1, help="training epochs (card quick: 150; GPU check: 40)")
    batch_size: int = param(64, low=1, help="batch size (card quick: 64; official 128)")
    lr: float = param(0.02, low=0.0, low_inclusive=False, help="network SGD lr (official 0.02)")
    momentum: float = param(0.9, low=0.0, high=1.0, help="network SGD momentum (official 0.9)")
    weight_decay: float = param(5e-4, low=0.0, help="network weight decay (CIFAR-10 5e-4, CIFAR-100 1e-3)")
    lr_u: float = param(10.0, low=0.0, low_inclusive=False, help="SGD lr of u (card quick 10; official CIFAR-10 10)")
    lr_v: float = param(100.0, low=0.0, low_inclusive=False, help="SGD lr of v (card quick 100; official CIFAR-10 10)")
    init_std: float = param(1e-8, low=0.0, low_inclusive=False, help="sigma_0 of u, v (official 1e-8)")
    ratio_consistency: float = param(0.0, low=0.0, help="SOP+ lambda_C (0.9); needs two views")
    ratio_balance: float = param(0.0, low=0.0, help="SOP+ lambda_B (0.1)")
    test_fraction: float = param(
        0.33,
        low=0.0,
        high=1.0,
        low_inclusive=False,
        high_inclusive=False,
        help="digits: stratified test share (card: 67/33)",
    )
    amp: bool = param(False, help="bfloat16 autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dataset="cifar10",
        sym_rate=0.5,
        asym_rate=0.0,
        epochs=40,
        batch_size=128,
        lr_u=10.0,
        lr_v=10.0,
        amp=True,
        device="auto",
    ),
}


def stratified_split(labels: Tensor, test_fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Indices of a stratified train/test split: per class, round(test_fraction * n_c) to the test side."""
    train, test = [], []
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(test_fraction * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def _data(config: Config, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if config.dataset == "digits":
        x, y = load_digits()
        x = x[:, None] * 2 - 1  # pixels to [-1, 1]
        train, test = stratified_split(y, config.test_fraction, derive_generator(seed, 0))
        return x[train], y[train], x[test], y[test]
    (xtr, ytr), (xte, yte) = load_cifar10("train"), load_cifar10("test")
    return xtr.permute(0, 3, 1, 2).contiguous(), ytr, xte.permute(0, 3, 1, 2).contiguous(), yte


def _model(config: Config, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if config.dataset == "digits":
        return MLPClassifier([64, config.width, config.width, 10])
    return resnet18_cifar(num_classes=10)


class _Prep:
    """Turns stored images into model inputs (CIFAR: uint8 -> normalised float, crop and flip when training)."""

    def __init__(self, config: Config, x_train: Tensor, generator: torch.Generator) -> None:
        self.cifar = config.dataset == "cifar10"
        self.generator = generator
        if self.cifar:
            self.mean = x_train.float().mean(dim=(0, 2, 3), keepdim=True) / 255
            self.std = x_train.float().std(dim=(0, 2, 3), keepdim=True) / 255

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        if not self.cifar:
            return x
        x = (x.float() / 255 - self.mean) / self.std
        return random_crop_flip(x, 4, True, self.generator) if train else x


@torch.no_grad()
def _accuracy(model: nn.Module, prep: _Prep, x: Tensor, y: Tensor, batch: int = 1000) -> float:
    model.eval()
    hits = sum(
        int((model(prep(x[i : i + batch], False)).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch)
    )
    model.train()
    return hits / len(x)


def _train(
    config: Config,
    method: str,
    model: nn.Module,
    prep: _Prep,
    x: Tensor,
    y_noisy: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    seed: int,
    tag: str,
    log: RunLog,
    device: torch.device,
) -> tuple[nn.Module, SOPLoss | None]:
    n = len(x)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(n / config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs * steps_per_epoch)
    criterion = sop_opt = None
    if method == "sop":
        criterion = SOPLoss(
            n,
            10,
            config.ratio_consistency,
            config.ratio_balance,
            init_std=config.init_std,
            generator=derive_generator(seed, 3),
        ).to(device)
        sop_opt = criterion.make_optimizer(config.lr_u, config.lr_v)
    order_gen = derive_generator(seed, 2)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda")
    model.train()
    step = 0
    for epoch in log.progress(range(1, config.epochs + 1), total=config.epochs, desc=f"{tag} {method}"):
        order = torch.randperm(n, generator=order_gen).to(device)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            with autocast:
                logits = model(prep(x[idx], True)).float()
            if criterion is None:
                loss = F.cross_entropy(logits, y_noisy[idx])
            else:
                loss = criterion(idx, logits, y_noisy[idx])
            opt.zero_grad(set_to_none=True)
            if sop_opt is not None:
                sop_opt.zero_grad(set_to_none=True)
            loss.backward()
            if sop_opt is not None:
                sop_opt.step()
            opt.step()
            sched.step()
            total += loss.item()
            step += 1
        check_finite(total, step)
        if epoch % 10 == 0 or epoch == config.epochs:
            values = {
                f"{tag}_{method}/train_loss": total / steps_per_epoch,
                f"{tag}_{method}/test_acc": _accuracy(model, prep, x_test, y_test),
            }
            log.metrics(epoch, **values)
    return model, criterion


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """For each noise type: CE and SOP from one initialisation on the same noisy labels."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    x_train, y_train, x_test, y_test = (t.to(device) for t in _data(config, seed))
    prep = _Prep(config, x_train, derive_generator(seed, 5))
    initial = _model(config, seed).to(device)
    metrics: dict[str, float] = {}
    noise_gen = derive_generator(seed, 1)
    for tag, rate in (("sym", config.sym_rate), ("asym", config.asym_rate)):
        if rate <= 0:
            continue
        if tag == "sym":
            y_noisy, flipped = symmetric_noise(y_train.cpu(), rate, 10, noise_gen, include_true_class=False)
        else:
            mapping = DIGITS_ASYMMETRIC if config.dataset == "digits" else dict(CIFAR10_ASYMMETRIC)
            y_noisy, flipped = asymmetric_noise(y_train.cpu(), rate, mapping, noise_gen)
        y_noisy, flipped = y_noisy.to(device), flipped.to(device)
        metrics[f"{tag}_realised_rate"] = float(flipped.float().mean())
        for method in ("ce", "sop"):
            t0 = time.perf_counter()
            model, criterion = _train(
                config, method, copy.deepcopy(initial), prep, x_train, y_noisy, x_test, y_test, seed, tag, log, device
            )
            metrics[f"{tag}_{method}_acc"] = _accuracy(model, prep, x_test, y_test)
            metrics[f"{tag}_{method}_wall_s"] = time.perf_counter() - t0
            if criterion is not None:
                scores = criterion.noise_scores()
                metrics[f"{tag}_auroc"] = noise_detection_auroc(scores, flipped)
                corrected = criterion.corrected_labels(y_noisy)
                metrics[f"{tag}_corrected_label_acc"] = float((corrected == y_train).float().mean())
        metrics[f"{tag}_gain"] = metrics[f"{tag}_sop_acc"] - metrics[f"{tag}_ce_acc"]
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="sop",
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
