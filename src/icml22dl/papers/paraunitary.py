"""Paper 4, ``paraunitary``: exactly orthogonal convolutions by SC-Fac (Su, Byeon & Huang, ICML 2022).

Claim: an orthogonal convolution is a paraunitary system; kernels from a complete
factorisation of separable paraunitary systems (SC-Fac) are orthogonal to machine precision in
every variant (stride, dilation, groups, row/column-orthogonal), cheaper than earlier designs,
and give certified-robust Lipschitz networks.

``quick`` (card 04 §3, CPU): Q4.1 exactness sweep (float64 Jacobian singular values and the
inverse pass), Q4.2 norm ratio of SC-Fac against Cayley, SOC and RKO, Q4.3 gradient-norm
preservation through 20 layers, Q4.5 forward + backward time against the FFT Cayley
convolution, and Q4.4 a short certified-robust training run on MNIST (t10k split, 14 x 14),
whose accuracies are reported and whose certificates are checked against PGD-l2.
``paper``: KW-Large with SC-Fac on CIFAR-10, the official ``train.py`` recipe (GPU).
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.analysis.lipschitz import certified_radius, layer_jacobian
from icml22dl.attacks.pgd import pgd_l2
from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.mnist import load_mnist
from icml22dl.nn.lipschitz_nets import kw_large, small_ortho_net
from icml22dl.nn.orthogonal_convs import CayleyConv2d, RKOConv2d, SOCConv2d
from icml22dl.nn.paraunitary import GroupSort, ParaunitaryConv2d, multi_margin_hinge
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the paraunitary experiment (defaults: the quick preset, card 04 §3)."""

    checks: bool = param(True, help="run Q4.1-Q4.3 and Q4.5 (exactness, norm ratio, depth, speed)")
    sweep_channels: int = param(8, low=4, help="Q4.1: C_in of the sweep (card: 8-16; even, >= 4 for groups 2)")
    sweep_size: int = param(8, low=4, help="Q4.1: spatial size of the sweep (card: 8x8)")
    perturb: float = param(0.05, low=0.0, help="Q4.1: std of the perturbation of the trainable parameters (card)")
    ratio_channels: int = param(64, low=2, help="Q4.2: channels (card: 64)")
    ratio_size: int = param(16, low=4, help="Q4.2: spatial size (card: 16x16)")
    ratio_batch: int = param(64, low=1, help="Q4.2: batch (card: 64)")
    ratio_runs: int = param(4, low=1, help="Q4.2: runs (card: 4)")
    depth: int = param(20, low=1, help="Q4.3: SC-Fac layers + GroupSort (card: 20)")
    depth_channels: int = param(16, low=2, help="Q4.3: channels (card: 16)")
    speed_channels: int = param(64, low=2, help="Q4.5: channels (card: 64)")
    speed_size: int = param(32, low=4, help="Q4.5: spatial size (card: 32x32)")
    speed_batch: int = param(16, low=1, help="Q4.5: batch (card: 64; 16 in quick to fit the CPU budget)")
    speed_reps: int = param(3, low=1, help="Q4.5: timed repetitions after one warm-up (card: 3)")
    train: bool = param(True, help="run the certified-robust training (Q4.4 / paper scale)")
    dataset: str = param("mnist", choices=("mnist", "cifar10"), help="MNIST t10k (quick) or CIFAR-10 (paper)")
    model: str = param("small", choices=("small", "kw_large"), help="card Q4.4 net or KW-Large (official)")
    conv: str = param("scfac", choices=("scfac", "plain"), help="orthogonal (SC-Fac) or plain layers")
    init: str = param(
        "permutation",
        choices=("permutation", "identical", "reverse", "uniform"),
        help="SC-Fac init (official default: permutation)",
    )
    train_size: int = param(8000, low=1, help="MNIST: training images from t10k (card: 8000)")
    test_size: int = param(2000, low=1, help="MNIST: test images from the rest of t10k (card: 2000)")
    epochs: int = param(4, low=1, help="epochs (card Q4.4: 4; paper: 200)")
    batch_size: int = param(128, low=1, help="batch size (card Q4.4: 128; official: 256)")
    lr: float = param(5e-3, low=0.0, low_inclusive=False, help="Adam peak lr (card Q4.4: 5e-3; official 0.01)")
    margin: float = param(1.0, low=0.0, help="multi-margin hinge margin (card Q4.4: 1.0; official 0.5)")
    eps: float = param(0.5, low=0.0, low_inclusive=False, help="certified radius gated (card Q4.4: 0.5; CIFAR 36/255)")
    pgd_points: int = param(200, low=1, help="certified test points attacked by PGD-l2")
    pgd_steps: int = param(50, low=1, help="PGD-l2 steps (card: 50)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        super().check()
        if self.sweep_channels % 2:
            raise ValueError(f"Config.sweep_channels={self.sweep_channels} must be even (the sweep uses groups 2)")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        checks=False,
        dataset="cifar10",
        model="kw_large",
        epochs=200,
        batch_size=256,
        lr=0.01,
        margin=0.5,
        eps=36 / 255,
        pgd_points=1000,
        pgd_steps=10,
        device="auto",
    ),
}


def sweep_configs(channels: int) -> list[dict]:
    """The card's Q4.1 sweep: k 1-5, stride 1/2 (s | k), dilation 1/2, circular/zeros, groups 1/2,
    C_out in {s^2 C_in, s^2 C_in / 2, 2 s^2 C_in}."""
    out = []
    for k, s, d, pad, g, ratio in itertools.product(
        range(1, 6), (1, 2), (1, 2), ("circular", "zeros"), (1, 2), (1.0, 0.5, 2.0)
    ):
        if k % s or (s > 1 and d > 1) or (d > 1 and k == 1):
            continue
        out.append(
            dict(
                kernel_size=k,
                stride=s,
                dilation=d,
                padding_mode=pad,
                groups=g,
                in_channels=channels,
                out_channels=int(channels * s * s * ratio),
            )
        )
    return out


def exactness_sweep(channels: int, size: int, perturb: float, generator: torch.Generator) -> dict[str, float]:
    """Q4.1: max |sigma - 1| of the float64 Jacobian and the inverse error over the sweep.

    Row-orthogonal layers with zero padding and more than one polyphase tap are measured apart:
    the full linear convolution of a co-isometry, restricted to finite signals, is not a
    co-isometry (J J^T != I), so no exactness is expected of them.
    """
    worst, worst_inv, worst_right, row_zero_min, n = 0.0, 0.0, 0.0, math.inf, 0
    for spec in sweep_configs(channels):
        layer = ParaunitaryConv2d(**spec, init="uniform", generator=generator).double()
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(perturb * torch.randn(p.shape, generator=generator, dtype=p.dtype))
        shape = (channels, size, size)
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


def norm_ratios(config: Config, seed: int) -> dict[str, float]:
    """Q4.2: mean and std of ||f(x)|| / ||x|| per example (train mode, float32)."""
    gen = derive_generator(seed, 20)
    c, n = config.ratio_channels, config.ratio_size
    makers = {
        "scfac": lambda: ParaunitaryConv2d(c, c, 3, init="uniform", generator=gen),
        "cayley": lambda: CayleyConv2d(c, 3, generator=gen),
        "soc": lambda: SOCConv2d(c, 3, generator=gen),
        "rko": lambda: RKOConv2d(c, c, 3, generator=gen),
    }
    out = {}
    for name, make in makers.items():
        ratios = []
        for _ in range(config.ratio_runs):
            layer = make().train()
            x = torch.randn(config.ratio_batch, c, n, n, generator=gen)
            with torch.no_grad():
                ratios.append(layer(x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1))
        r = torch.cat(ratios).double()
        out[f"q42_{name}_mean"] = r.mean().item()
        out[f"q42_{name}_std"] = r.std().item()
        out[f"q42_{name}_dev"] = (r - 1).abs().mean().item()
    out["q42_soc_over_scfac_dev"] = out["q42_soc_dev"] / max(out["q42_scfac_dev"], 1e-12)
    return out


def depth_check(config: Config, seed: int) -> dict[str, float]:
    """Q4.3: forward and gradient norm ratios through a chain of SC-Fac + GroupSort (float32)."""
    gen = derive_generator(seed, 30)
    c = config.depth_channels
    out = {}
    for kind in ("scfac", "plain"):
        layers = []
        for _ in range(config.depth):
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


def speed(config: Config, seed: int) -> dict[str, float]:
    """Q4.5: forward + backward seconds per iteration, SC-Fac against the FFT Cayley conv."""
    gen = derive_generator(seed, 40)
    c, n = config.speed_channels, config.speed_size
    x = torch.randn(config.speed_batch, c, n, n, generator=gen)
    t_scfac = _time_fwd_bwd(ParaunitaryConv2d(c, c, 3, init="uniform", generator=gen), x, config.speed_reps)
    t_cayley = _time_fwd_bwd(CayleyConv2d(c, 3, generator=gen), x, config.speed_reps)
    return {"q45_scfac_s": t_scfac, "q45_cayley_s": t_cayley, "q45_time_ratio": t_scfac / t_cayley}


def _triangular(step: int, total: int, peak: float) -> float:
    """The official piecewise-linear schedule through (0, 0), (2T/5, peak), (4T/5, peak/20), (T, 0)."""
    t = step / total
    points = ((0.0, 0.0), (0.4, peak), (0.8, peak / 20), (1.0, 0.0))
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return 0.0


def _load(config: Config, seed: int, device: torch.device):
    if config.dataset == "mnist":
        images, labels = load_mnist("test")
        perm = torch.randperm(len(images), generator=derive_generator(seed, 50))
        x = 2 * F.avg_pool2d(images.float()[:, None] / 255, 2)  # 14x14, 1-Lipschitz (card Q4.4)
        train, test = perm[: config.train_size], perm[len(images) - config.test_size :]
        mean = x[train].mean()
        x = x - mean
        return x[train].to(device), labels[train].to(device), x[test].to(device), labels[test].to(device)
    (xtr, ytr), (xte, yte) = load_cifar10("train"), load_cifar10("test")
    xtr = xtr.permute(0, 3, 1, 2).float() / 255
    xte = xte.permute(0, 3, 1, 2).float() / 255
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)  # mean subtracted only (official, L = 1)
    return (xtr - mean).to(device), ytr.to(device), (xte - mean).to(device), yte.to(device)


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def train_certified(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Q4.4 (or the paper's KW-Large run): hinge training, clean and certified accuracy, PGD soundness."""
    device = resolve_device(config.device)
    x_train, y_train, x_test, y_test = _load(config, seed, device)
    build = small_ortho_net if config.model == "small" else kw_large
    model = build(conv=config.conv, init=config.init, generator=derive_generator(seed, 51)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    per_epoch = math.ceil(len(x_train) / config.batch_size)
    total = per_epoch * config.epochs
    gen, step = derive_generator(seed, 52), 0
    flip = config.dataset == "cifar10"
    for epoch in log.progress(range(1, config.epochs + 1), total=config.epochs, desc="train"):
        model.train()
        order = torch.randperm(len(x_train), generator=gen).to(device)
        losses = []
        for i in range(per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            xb = x_train[idx]
            if flip:
                mask = (torch.rand(len(xb), generator=gen) < 0.5).to(device)
                xb = torch.where(mask[:, None, None, None], xb.flip(3), xb)
            step += 1
            for group in opt.param_groups:
                group["lr"] = _triangular(step, total, config.lr)
            loss = multi_margin_hinge(model(xb), y_train[idx], config.margin)
            check_finite(loss.item(), step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        logits = _logits(model, x_test)
        radius = certified_radius(logits, y_test)
        log.metrics(
            epoch,
            train_loss=statistics.fmean(losses),
            test_acc=(logits.argmax(1) == y_test).float().mean().item(),
            cert_acc=(radius > config.eps).float().mean().item(),
        )
    model.eval()
    logits = _logits(model, x_test)
    radius = certified_radius(logits, y_test)
    certified = radius > config.eps
    out = {
        "q44_clean_acc": (logits.argmax(1) == y_test).float().mean().item(),
        "q44_cert_acc": certified.float().mean().item(),
        "q44_cert_acc_2eps": (radius > 2 * config.eps).float().mean().item(),
        "q44_train_acc": (_logits(model, x_train).argmax(1) == y_train).float().mean().item(),
    }
    # Certificate soundness: PGD-l2 at radius eps must flip none of the certified points.
    idx = certified.nonzero()[:, 0][: config.pgd_points]
    if config.conv == "scfac" and len(idx):
        x_adv = pgd_l2(
            model, x_test[idx], y_test[idx], config.eps, steps=config.pgd_steps, generator=derive_generator(seed, 53)
        )
        out["q44_pgd_flips"] = float((_logits(model, x_adv).argmax(1) != y_test[idx]).sum().item())
        out["q44_pgd_checked"] = float(len(idx))
    else:
        out["q44_pgd_flips"], out["q44_pgd_checked"] = 0.0, 0.0
    return out


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """The quick checks (Q4.1, Q4.2, Q4.3, Q4.5) and the certified training (Q4.4 / paper)."""
    started = time.perf_counter()
    metrics: dict[str, float] = {}
    if config.checks:
        t = time.perf_counter()
        metrics.update(
            exactness_sweep(config.sweep_channels, config.sweep_size, config.perturb, derive_generator(seed, 10))
        )
        metrics["q41_wall_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metrics.update(norm_ratios(config, seed))
        metrics.update(depth_check(config, seed))
        metrics.update(speed(config, seed))
        metrics["q42_q45_wall_s"] = time.perf_counter() - t
    if config.train:
        t = time.perf_counter()
        metrics.update(train_certified(config, seed, log))
        metrics["q44_wall_s"] = time.perf_counter() - t
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="paraunitary",
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
        "analysis.certified_radius",
        "analysis.orthogonality_error",
        "attacks.pgd_l2",
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
    seeds=(0,),
)
