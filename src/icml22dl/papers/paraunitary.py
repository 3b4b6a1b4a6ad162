"""Paper 4, ``paraunitary``: exactly orthogonal convolutions by SC-Fac (Su, Byeon & Huang, ICML 2022).

Claim: an orthogonal convolution is a paraunitary system; kernels from a complete
factorisation of separable paraunitary systems (SC-Fac) are orthogonal to machine precision in
every variant (stride, dilation, groups, row/column-orthogonal), cheaper than earlier designs,
and give certified-robust Lipschitz networks.

``quick`` (CPU; docs/papers/paraunitary.md#defaults): Q4.1 exactness sweep (float64 Jacobian
singular values and the inverse pass), Q4.2 norm ratio of SC-Fac against Cayley, SOC and RKO,
Q4.3 gradient-norm preservation through 20 layers, Q4.5 forward + backward time against the
FFT Cayley convolution, and Q4.4 a short certified-robust training run on MNIST (t10k split,
14 x 14), whose accuracies are reported and whose certificates are checked against PGD-l2.
``paper``: KW-Large with SC-Fac on CIFAR-10, the official ``train.py`` recipe (GPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from icml22dl.analysis.lipschitz import certificate_violations, certify_model, layer_jacobian
from icml22dl.attacks.pgd import pgd_l2
from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.mnist14 import mnist14_split
from icml22dl.nn.lipschitz_nets import kw_large, small_ortho_net
from icml22dl.nn.orthogonal_convs import CayleyConv2d, RKOConv2d, SOCConv2d
from icml22dl.nn.paraunitary import GroupSort, ParaunitaryConv2d, multi_margin_hinge, paraunitary_variants
from icml22dl.optim.schedules import PiecewiseLinearLR
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    derive_generator,
    derive_seed,
    load_claim,
    param,
    torch_seeded,
)
from icml22dl.runner.device import resolve_device
from icml22dl.train import FitResult, evaluate, fit


@dataclass(frozen=True)
class Exactness(ConfigBlock):
    """Q4.1: the float64 sweep over every SC-Fac variant (:func:`icml22dl.nn.paraunitary_variants`)."""

    channels: int = param(8, low=4, help="C_in of the sweep (8-16 intended; even, >= 4 for groups 2)")
    size: int = param(8, low=4, help="spatial size of the sweep (8x8)")
    perturb: float = param(0.05, low=0.0, help="std of the perturbation of the trainable parameters")

    def check(self) -> None:
        if self.channels % 2:
            raise ValueError(f"Exactness.channels={self.channels} must be even (the sweep uses groups 2)")


@dataclass(frozen=True)
class NormRatio(ConfigBlock):
    """Q4.2: ||f(x)|| / ||x|| of SC-Fac, Cayley, SOC and RKO layers on random inputs."""

    channels: int = param(64, low=2, help="channels (64)")
    size: int = param(16, low=4, help="spatial size (16x16)")
    batch: int = param(64, low=1, help="batch (64)")
    runs: int = param(4, low=1, help="runs, each a fresh layer and batch (4)")


@dataclass(frozen=True)
class DepthCheck(ConfigBlock):
    """Q4.3: forward and gradient norms through a chain of SC-Fac + GroupSort layers."""

    layers: int = param(20, low=1, help="SC-Fac layers + GroupSort (20)")
    channels: int = param(16, low=2, help="channels (16)")


@dataclass(frozen=True)
class SpeedCheck(ConfigBlock):
    """Q4.5: forward + backward time of SC-Fac against the FFT Cayley convolution."""

    channels: int = param(64, low=2, help="channels (64)")
    size: int = param(32, low=4, help="spatial size (32x32)")
    batch: int = param(16, low=1, help="batch (64 intended; 16 in quick to fit the CPU budget)")
    reps: int = param(3, low=1, help="timed repetitions after one warm-up (3)")


@dataclass(frozen=True)
class CertifiedTraining(ConfigBlock):
    """Q4.4 (or the paper's KW-Large run): hinge training of a 1-Lipschitz net and its certificates."""

    dataset: str = param("mnist", choices=("mnist", "cifar10"), help="MNIST t10k (quick) or CIFAR-10 (paper)")
    model: str = param("small", choices=("small", "kw_large"), help="small MNIST net or KW-Large (official)")
    conv: str = param("scfac", choices=("scfac", "plain"), help="orthogonal (SC-Fac) or plain layers")
    init: str = param(
        "permutation",
        choices=("permutation", "identical", "reverse", "uniform"),
        help="SC-Fac init (official default: permutation)",
    )
    train_size: int = param(8000, low=1, help="MNIST: training images from t10k (8000)")
    test_size: int = param(2000, low=1, help="MNIST: test images from the rest of t10k (2000)")
    epochs: int = param(4, low=1, help="epochs (quick: 4; paper: 200)")
    batch_size: int = param(128, low=1, help="batch size (quick: 128; official: 256)")
    lr: float = param(5e-3, low=0.0, low_inclusive=False, help="Adam peak lr (quick: 5e-3; official 0.01)")
    margin: float = param(1.0, low=0.0, help="multi-margin hinge margin (quick: 1.0; official 0.5)")
    eps: float = param(0.5, low=0.0, low_inclusive=False, help="certified radius gated (quick: 0.5; CIFAR 36/255)")
    pgd_points: int = param(200, low=1, help="certified test points attacked by PGD-l2")
    pgd_steps: int = param(50, low=1, help="PGD-l2 steps (quick: 50; official: 10)")

    def schedule(self, opt: torch.optim.Optimizer, total: int) -> PiecewiseLinearLR:
        """The official piecewise-linear schedule through (0, 0), (2T/5, lr), (4T/5, lr/20), (T, 0), per step."""
        return PiecewiseLinearLR(opt, total, ((0.0, 0.0), (0.4, self.lr), (0.8, self.lr / 20), (1.0, 0.0)))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the paraunitary experiment (defaults: the quick preset, docs/papers/paraunitary.md)."""

    checks: bool = param(True, help="run Q4.1-Q4.3 and Q4.5 (exactness, norm ratio, depth, speed)")
    exactness: Exactness = param(Exactness(), help="Q4.1 sweep")
    norm_ratio: NormRatio = param(NormRatio(), help="Q4.2 norm ratios")
    depth: DepthCheck = param(DepthCheck(), help="Q4.3 depth check")
    speed: SpeedCheck = param(SpeedCheck(), help="Q4.5 timing")
    train: bool = param(True, help="run the certified-robust training (Q4.4 / paper scale)")
    certified: CertifiedTraining = param(CertifiedTraining(), help="Q4.4 certified training")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where the certified training computes")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        checks=False,
        certified=CertifiedTraining(
            dataset="cifar10",
            model="kw_large",
            epochs=200,
            batch_size=256,
            lr=0.01,
            margin=0.5,
            eps=36 / 255,
            pgd_points=1000,
            pgd_steps=10,
        ),
        device="auto",
    ),
}


def exactness_sweep(block: Exactness, generator: torch.Generator) -> dict[str, float]:
    """Q4.1: max |sigma - 1| of the float64 Jacobian and the inverse error over the sweep.

    Row-orthogonal layers with zero padding and more than one polyphase tap are measured apart:
    the full linear convolution of a co-isometry, restricted to finite signals, is not a
    co-isometry (J J^T != I), so no exactness is expected of them.
    """
    worst, worst_inv, worst_right, row_zero_min, n = 0.0, 0.0, 0.0, math.inf, 0
    for spec in paraunitary_variants(block.channels):
        layer = ParaunitaryConv2d(**spec, init="uniform", generator=generator).double()
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(block.perturb * torch.randn(p.shape, generator=generator, dtype=p.dtype))
        shape = (block.channels, block.size, block.size)
        sv = torch.linalg.svdvals(layer_jacobian(layer, shape))
        x = torch.randn(2, *shape, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            y = layer(x)
            if layer.orthogonality == "row":
                right = (layer(layer(y, reverse=True)) - y).abs().max().item()
        if layer.orthogonality == "row" and spec["padding_mode"] == "zeros" and max(layer.taps) > 1:
            row_zero_min = min(row_zero_min, sv.min().item())
            continue
        n += 1
        worst = max(worst, (sv - 1).abs().max().item())
        if layer.orthogonality == "row":
            worst_right = max(worst_right, right)
        else:
            with torch.no_grad():
                worst_inv = max(worst_inv, (layer(y, reverse=True) - x).abs().max().item())
    return {
        "q41_max_sv_dev": worst,
        "q41_max_inverse_err": worst_inv,
        "q41_row_right_inverse_err": worst_right,
        "q41_configs": float(n),
        "q41_row_zeros_min_sv": row_zero_min,
    }


def norm_ratios(block: NormRatio, seed: int) -> dict[str, float]:
    """Q4.2: mean and std of ||f(x)|| / ||x|| per example (train mode, float32)."""
    gen = derive_generator(seed, 20)
    c, n = block.channels, block.size
    makers: dict[str, Callable[[], nn.Module]] = {
        "scfac": lambda: ParaunitaryConv2d(c, c, 3, init="uniform", generator=gen),
        "cayley": lambda: CayleyConv2d(c, 3, generator=gen),
        "soc": lambda: SOCConv2d(c, 3, generator=gen),
        "rko": lambda: RKOConv2d(c, c, 3, generator=gen),
    }
    out = {}
    for name, make in makers.items():
        ratios = []
        for _ in range(block.runs):
            layer = make().train()
            x = torch.randn(block.batch, c, n, n, generator=gen)
            with torch.no_grad():
                ratios.append(layer(x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1))
        r = torch.cat(ratios).double()
        out[f"q42_{name}_mean"] = r.mean().item()
        out[f"q42_{name}_std"] = r.std().item()
        out[f"q42_{name}_dev"] = (r - 1).abs().mean().item()
    out["q42_soc_over_scfac_dev"] = out["q42_soc_dev"] / max(out["q42_scfac_dev"], 1e-12)
    return out


def depth_check(block: DepthCheck, seed: int) -> dict[str, float]:
    """Q4.3: forward and gradient norm ratios through a chain of SC-Fac (or plain) + GroupSort (float32).

    The plain convolutions take torch's default initialisation from the global generator,
    seeded with ``seed`` inside :func:`torch_seeded`.
    """
    gen = derive_generator(seed, 30)
    c = block.channels
    out = {}
    for kind in ("scfac", "plain"):
        with torch_seeded(seed):
            layers: list[nn.Module] = []
            for _ in range(block.layers):
                conv = (
                    ParaunitaryConv2d(c, c, 3, init="uniform", generator=gen)
                    if kind == "scfac"
                    else nn.Conv2d(c, c, 3, padding=1, padding_mode="circular", bias=False)
                )
                layers += [conv, GroupSort()]
        net = nn.Sequential(*layers)
        x = torch.randn(4, c, 16, 16, generator=gen, requires_grad=True)
        y = net(x)
        v = torch.randn(y.shape, generator=gen)
        (grad,) = torch.autograd.grad(y, x, v)
        fwd = (y.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)).detach()
        bwd = grad.flatten(1).norm(dim=1) / v.flatten(1).norm(dim=1)
        out[f"q43_{kind}_max_dev"] = max((fwd - 1).abs().max().item(), (bwd - 1).abs().max().item())
    return out


def _time_fwd_bwd(layer: nn.Module, x: torch.Tensor, reps: int) -> float:
    def once() -> None:
        layer.zero_grad(set_to_none=True)
        layer(x).square().sum().backward()

    once()
    start = time.perf_counter()
    for _ in range(reps):
        once()
    return (time.perf_counter() - start) / reps


def speed(block: SpeedCheck, seed: int) -> dict[str, float]:
    """Q4.5: forward + backward seconds per iteration, SC-Fac against the FFT Cayley conv."""
    gen = derive_generator(seed, 40)
    c, n = block.channels, block.size
    x = torch.randn(block.batch, c, n, n, generator=gen)
    t_scfac = _time_fwd_bwd(ParaunitaryConv2d(c, c, 3, init="uniform", generator=gen), x, block.reps)
    t_cayley = _time_fwd_bwd(CayleyConv2d(c, 3, generator=gen), x, block.reps)
    return {"q45_scfac_s": t_scfac, "q45_cayley_s": t_cayley, "q45_time_ratio": t_scfac / t_cayley}


def _load(block: CertifiedTraining, seed: int, device: torch.device) -> list[torch.Tensor]:
    """``[x_train, y_train, x_test, y_test]`` on ``device``: MNIST t10k 14 x 14, or CIFAR-10 minus its mean."""
    if block.dataset == "mnist":
        data = mnist14_split(block.train_size, block.test_size, derive_generator(seed, 50))
        return [t.to(device) for t in data]
    (xtr, ytr), (xte, yte) = load_cifar10("train"), load_cifar10("test")
    xtr = xtr.permute(0, 3, 1, 2).float() / 255
    xte = xte.permute(0, 3, 1, 2).float() / 255
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)  # mean subtracted only (official, L = 1)
    return [(xtr - mean).to(device), ytr.to(device), (xte - mean).to(device), yte.to(device)]


def train_certified(block: CertifiedTraining, seed: int, log: RunLog, device: torch.device) -> dict[str, float]:
    """Q4.4 (or the paper's KW-Large run): hinge training, clean and certified accuracy, PGD soundness."""
    x_train, y_train, x_test, y_test = _load(block, seed, device)
    build = small_ortho_net if block.model == "small" else kw_large
    with torch_seeded(derive_seed(seed, 51)):  # only conv="plain" draws from the global generator
        model = build(conv=block.conv, init=block.init, generator=derive_generator(seed, 51)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=block.lr)
    gen = derive_generator(seed, 52)  # the epoch orders, then (CIFAR-10) each batch's flips

    def flip(xb: torch.Tensor) -> torch.Tensor:
        mask = (torch.rand(len(xb), generator=gen) < 0.5).to(device)
        return torch.where(mask[:, None, None, None], xb.flip(3), xb)

    def on_epoch(epoch: int, result: FitResult) -> None:
        cert = certify_model(model.eval(), x_test, y_test)
        log.metrics(
            epoch,
            train_loss=result.epoch_losses[-1],
            test_acc=cert.accuracy,
            cert_acc=cert.certified_accuracy(block.eps),
        )

    fit(
        model,
        opt,
        x_train,
        y_train,
        epochs=block.epochs,
        batch_size=block.batch_size,
        loss_fn=lambda net, batch: multi_margin_hinge(net(batch.x), batch.y, block.margin),
        generator=gen,
        augment=flip if block.dataset == "cifar10" else None,
        scheduler=block.schedule(opt, math.ceil(len(x_train) / block.batch_size) * block.epochs),
        scheduler_interval="step",
        on_epoch=on_epoch,
        progress=lambda epochs: log.progress(epochs, total=block.epochs, desc="train"),
    )
    cert = certify_model(model.eval(), x_test, y_test)
    out = {
        "q44_clean_acc": cert.accuracy,
        "q44_cert_acc": cert.certified_accuracy(block.eps),
        "q44_cert_acc_2eps": cert.certified_accuracy(2 * block.eps),
        "q44_train_acc": evaluate(model, x_train, y_train, batch_size=500).accuracy,
    }
    idx = cert.certified(block.eps).nonzero()[:, 0][: block.pgd_points]
    return out | _soundness(block, model, x_test[idx], y_test[idx], seed)


def _soundness(
    block: CertifiedTraining, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int
) -> dict[str, float]:
    """Certificate soundness: PGD-l2 at radius eps must flip none of the certified points ``(x, y)``."""
    if block.conv != "scfac" or not len(y):
        return {"q44_pgd_flips": 0.0, "q44_pgd_checked": 0.0}
    gen = derive_generator(seed, 53)
    flips = certificate_violations(
        model, x, y, lambda xs, ys: pgd_l2(model, xs, ys, block.eps, steps=block.pgd_steps, generator=gen)
    )
    return {"q44_pgd_flips": float(flips), "q44_pgd_checked": float(len(y))}


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """The quick checks (Q4.1, Q4.2, Q4.3, Q4.5) and the certified training (Q4.4 / paper)."""
    started = time.perf_counter()
    metrics: dict[str, float] = {}
    if config.checks:
        t = time.perf_counter()
        metrics.update(exactness_sweep(config.exactness, derive_generator(seed, 10)))
        metrics["q41_wall_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metrics.update(norm_ratios(config.norm_ratio, seed))
        metrics.update(depth_check(config.depth, seed))
        metrics.update(speed(config.speed, seed))
        metrics["q42_q45_wall_s"] = time.perf_counter() - t
    if config.train:
        t = time.perf_counter()
        metrics.update(train_certified(config.certified, seed, log, resolve_device(config.device)))
        metrics["q44_wall_s"] = time.perf_counter() - t
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="paraunitary",
    data={"quick": ("mnist",), "paper": ("cifar10",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("paraunitary"),
    components=(
        "nn.ParaunitaryConv2d",
        "nn.ParaunitaryConv1d",
        "nn.ParaunitaryConvTranspose2d",
        "nn.OrthogonalLinear",
        "nn.GroupSort",
        "nn.LipschitzAvgPool2d",
        "nn.ConvexSkip",
        "nn.CayleyConv2d",
        "nn.SOCConv2d",
        "nn.paraunitary_variants",
        "analysis.certified_radius",
        "analysis.certify_model",
        "analysis.certificate_violations",
        "analysis.orthogonality_error",
        "attacks.pgd_l2",
        "data.mnist14_split",
        "optim.PiecewiseLinearLR",
    ),
    curves=(
        Curve("Test accuracy, clean and certified", ("test_acc", "cert_acc"), x="step", ylabel="accuracy"),
        Curve("Training hinge loss", ("train_loss",), logy=True),
    ),
    summary=(
        "q41_max_sv_dev",
        "q41_max_inverse_err",
        "q42_scfac_std",
        "q42_soc_dev",
        "q42_rko_mean",
        "q43_scfac_max_dev",
        "q43_plain_max_dev",
        "q45_scfac_s",
        "q45_cayley_s",
        "q44_clean_acc",
        "q44_cert_acc",
    ),
)
