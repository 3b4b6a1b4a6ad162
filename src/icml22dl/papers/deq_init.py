"""Paper 3, ``deq_init``: DEQs are sensitive to the initialisation family (Agarwala & Schoenholz, ICML 2022).

Claim (abstract, verified): deep equilibrium networks are sensitive to the higher-order
statistics of the matrix family they are initialised from, not only its variance; orthogonal
or symmetric initialisation trains more stably over a broader range of initial weight scales.
The paper's own experiments could not be read: both quick parts are the card's stand-ins.

``quick``: part A, the linear DEQ z* = (I - W)^{-1} u at N = 256 for the three families at
matched second moment (gain q and cond(I - W), medians of 5 draws per seed); part B, a tanh
FC-DEQ (width 256) on scikit-learn digits at sigma_w = 3, Anderson forward and IFT backward,
Adam 1e-3, 150 steps, the three families from one seed each. ``paper``: our design (card 03
§3): width 1000 on MNIST, sigma_w in {0.5, 1, 1.5, 2, 3, 4}, 10 epochs (GPU).
``gpu_check``: the card's shortened GPU check (one epoch, sigma_w in {1, 3}, part A at N = 4000).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from icml22dl.analysis.deq import linear_gain
from icml22dl.data.digits import load_digits
from icml22dl.data.mnist import load_mnist
from icml22dl.nn.deq import FCDEQ
from icml22dl.nn.init import KINDS, matrix_family
from icml22dl.runner import Curve, ExperimentConfig, Paper, RunLog, check_finite, derive_generator, load_claim, param
from icml22dl.runner.device import resolve_device


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the DEQ initialisation experiment (defaults: the quick preset, card 03 §3)."""

    part_a: bool = param(True, help="run part A (linear DEQ gain and conditioning; card 03 quick part A)")
    part_a_width: int = param(256, low=2, help="N of part A (card: 256)")
    part_a_sigmas: tuple[float, ...] = param((0.5, 0.9, 1.1, 1.5, 2.0), low=0.0, help="sigma_w grid of part A (card)")
    part_a_draws: int = param(5, low=1, help="matrices per family and sigma per seed, medians (card: 5)")
    part_a_inputs: int = param(64, low=1, help="Gaussian inputs u per matrix for q (ours)")
    part_b: bool = param(True, help="run part B (tanh FC-DEQ training; card 03 quick part B)")
    dataset: str = param("digits", choices=("digits", "mnist"), help="digits (quick) or MNIST (paper scale)")
    width: int = param(256, low=1, help="DEQ width N (card: 256 quick, 1000 paper)")
    sigma_ws: tuple[float, ...] = param((3.0,), low=0.0, help="sigma_w values trained (card quick: 3)")
    gate_sigma: float = param(3.0, low=0.0, help="sigma_w whose symmetric/Gaussian ratios the claim reads")
    families: tuple[str, ...] = param(KINDS, help="initialisation families trained (gaussian, orthogonal, symmetric)")
    normalize: str = param("frobenius", choices=("frobenius", "spectral"), help="GOE normalisation (card default)")
    sigma_u: float = param(1.0, low=0.0, help="input weight scale, U_ij ~ N(0, sigma_u^2/d_in) (card)")
    lr: float = param(1e-3, low=0.0, low_inclusive=False, help="Adam learning rate (card)")
    batch_size: int = param(128, low=1, help="batch size (card)")
    steps: int = param(150, low=0, help="training steps (card quick: 150); 0 = use epochs")
    epochs: int = param(0, low=0, help="training epochs when steps = 0 (paper scale)")
    solver: str = param("anderson", choices=("anderson", "broyden", "fixed_point"), help="forward and backward solver")
    anderson_m: int = param(5, low=1, help="Anderson memory (card: 5)")
    anderson_lam: float = param(1e-4, low=0.0, low_inclusive=False, help="Anderson regularisation (card: 1e-4)")
    f_tol: float = param(1e-4, low=0.0, low_inclusive=False, help="forward relative tolerance (card: 1e-4)")
    f_max_iter: int = param(50, low=1, help="forward iteration cap (card: 50)")
    b_tol: float = param(1e-6, low=0.0, low_inclusive=False, help="backward (IFT) tolerance (card: 1e-6)")
    b_max_iter: int = param(50, low=1, help="backward iteration cap (card: 50)")
    eval_size: int = param(2000, low=1, help="at most this many examples per accuracy evaluation chunk")
    log_every: int = param(10, low=1, help="steps between logged metrics")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        super().check()
        bad = [f for f in self.families if f not in KINDS]
        if bad or not self.families:
            raise ValueError(f"Config.families={self.families!r} must be a non-empty tuple of {KINDS}")
        if self.part_b and self.gate_sigma not in self.sigma_ws:
            raise ValueError(f"gate_sigma={self.gate_sigma} must be one of sigma_ws={self.sigma_ws}")
        if self.part_b and self.steps == 0 and self.epochs == 0:
            raise ValueError("steps=0 needs epochs >= 1")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        dataset="mnist",
        width=1000,
        sigma_ws=(0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
        steps=0,
        epochs=10,
        part_a_width=1000,
        device="auto",
    ),
    "gpu_check": Config(
        dataset="mnist",
        width=1000,
        sigma_ws=(1.0, 3.0),
        steps=0,
        epochs=1,
        batch_size=256,
        part_a_width=4000,
        part_a_draws=1,
        device="auto",
    ),
}


def _tag(sigma: float) -> str:
    return f"s{sigma:g}"


def part_a(config: Config, seed: int) -> dict[str, float]:
    """Linear DEQ at matched variance: median gain q and cond(I - W) per family and sigma."""
    gen = derive_generator(seed, 10)
    device = resolve_device(config.device)
    out: dict[str, float] = {}
    n = config.part_a_width
    for sigma in config.part_a_sigmas:
        for kind in KINDS:
            qs, conds = [], []
            for _ in range(config.part_a_draws):
                w = matrix_family(n, kind, sigma, config.normalize, generator=gen, dtype=torch.float64)
                u = torch.randn(config.part_a_inputs, n, generator=gen, dtype=torch.float64)
                gain = linear_gain(w.to(device), u.to(device))
                qs.append(gain["q"])
                conds.append(gain["cond"])
            out[f"a_{kind}_{_tag(sigma)}_q"] = statistics.median(qs)
            out[f"a_{kind}_{_tag(sigma)}_cond"] = statistics.median(conds)
    sig = config.part_a_sigmas
    rel = [abs(out[f"a_orthogonal_{_tag(s)}_q"] * abs(1 - s**2) - 1) for s in sig if s in (0.5, 1.5, 2.0)]
    out["a_orth_q_relerr_max"] = max(rel) if rel else math.nan
    out["a_orth_cond_max"] = max(out[f"a_orthogonal_{_tag(s)}_cond"] for s in sig)
    ratios = [out[f"a_gaussian_{_tag(s)}_cond"] / out[f"a_orthogonal_{_tag(s)}_cond"] for s in sig if s >= 1.1]
    out["a_cond_ratio_min"] = min(ratios) if ratios else math.nan
    return out


def _load(config: Config, device: torch.device):
    if config.dataset == "digits":
        images, labels = load_digits()
        x = images.reshape(len(images), -1)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))  # fixed split (card 02)
        train, test = perm[:1347], perm[1347:]
        x_train, y_train, x_test, y_test = x[train], labels[train], x[test], labels[test]
    else:
        (xtr, y_train), (xte, y_test) = load_mnist("train"), load_mnist("test")
        x_train, x_test = xtr.reshape(len(xtr), -1).float() / 255, xte.reshape(len(xte), -1).float() / 255
    mean, std = x_train.mean(0), x_train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return tuple(t.to(device) for t in (x_train, y_train, x_test, y_test))


@torch.no_grad()
def _evaluate(model: FCDEQ, x: torch.Tensor, y: torch.Tensor, chunk: int) -> tuple[float, float]:
    correct, residuals = 0, []
    for i in range(0, len(x), chunk):
        correct += (model(x[i : i + chunk]).argmax(1) == y[i : i + chunk]).sum().item()
        residuals.append(model.deq.forward_info.rel_lowest)
    return correct / len(x), statistics.fmean(residuals)


def _train_one(config: Config, kind: str, sigma: float, seed: int, data, device, log: RunLog) -> dict[str, float]:
    x_train, y_train, x_test, y_test = data
    model = FCDEQ(
        x_train.shape[1],
        config.width,
        10,
        init=kind,
        sigma_w=sigma,
        sigma_u=config.sigma_u,
        normalize=config.normalize,
        generator=derive_generator(seed, 1),
        solver=config.solver,
        backward="ift",
        f_tol=config.f_tol,
        b_tol=config.b_tol,
        f_max_iter=config.f_max_iter,
        b_max_iter=config.b_max_iter,
        solver_kwargs={"m": config.anderson_m, "lam": config.anderson_lam},
    )
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    batch_gen = derive_generator(seed, 2)  # the same batch order for every family
    per_epoch = math.ceil(len(x_train) / config.batch_size)
    steps = config.steps or config.epochs * per_epoch
    with torch.no_grad():
        model(x_train[: config.batch_size])
    res_init = model.deq.forward_info.rel_lowest
    residuals, b_residuals, order = [], [], torch.empty(0, dtype=torch.long)
    name = f"{kind}_{_tag(sigma)}"
    for step in log.progress(range(1, steps + 1), total=steps, desc=name):
        if len(order) < config.batch_size:
            order = torch.cat([order, torch.randperm(len(x_train), generator=batch_gen)])
        idx, order = order[: config.batch_size].to(device), order[config.batch_size :]
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        check_finite(loss.item(), step, {f"{name}_diverged_step": float(step)})
        residuals.append(model.deq.forward_info.rel_lowest)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if model.deq.backward_info is not None:
            b_residuals.append(model.deq.backward_info.rel_lowest)
        opt.step()
        if step % config.log_every == 0 or step == steps:
            log.metrics(
                step,
                **{
                    f"{name}/loss": loss.item(),
                    f"{name}/forward_residual": residuals[-1],
                    f"{name}/forward_steps": float(model.deq.forward_info.steps),
                },
            )
    train_acc, _ = _evaluate(model, x_train, y_train, config.eval_size)
    test_acc, _ = _evaluate(model, x_test, y_test, config.eval_size)
    return {
        f"{name}_res_init": res_init,
        f"{name}_res_train": statistics.fmean(residuals) if residuals else res_init,
        f"{name}_b_res_train": statistics.fmean(b_residuals) if b_residuals else math.nan,
        f"{name}_train_acc": train_acc,
        f"{name}_test_acc": test_acc,
    }


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Part A (linear gain) and part B (training at large sigma_w); return per-seed metrics."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    metrics: dict[str, float] = {}
    if config.part_a:
        metrics.update(part_a(config, seed))
    metrics["part_a_wall_s"] = time.perf_counter() - started
    if config.part_b:
        data = _load(config, device)
        for sigma in config.sigma_ws:
            for kind in config.families:
                metrics.update(_train_one(config, kind, sigma, seed, data, device, log))
        g, s = f"gaussian_{_tag(config.gate_sigma)}", f"symmetric_{_tag(config.gate_sigma)}"
        if "gaussian" in config.families and "symmetric" in config.families:
            metrics["b_res_init_ratio"] = metrics[f"{s}_res_init"] / metrics[f"{g}_res_init"]
            metrics["b_res_train_ratio"] = metrics[f"{s}_res_train"] / metrics[f"{g}_res_train"]
            metrics["b_train_acc_gap"] = metrics[f"{s}_train_acc"] - metrics[f"{g}_train_acc"]
            metrics["b_test_acc_gap"] = metrics[f"{s}_test_acc"] - metrics[f"{g}_test_acc"]
            if "orthogonal" in config.families:
                o = f"orthogonal_{_tag(config.gate_sigma)}"
                metrics["b_orth_test_acc_gap"] = metrics[f"{o}_test_acc"] - metrics[f"{g}_test_acc"]
        if len(config.sigma_ws) > 1:
            width = {}
            for kind in config.families:
                accs = [metrics[f"{kind}_{_tag(s)}_test_acc"] for s in config.sigma_ws]
                width[kind] = sum(a >= max(accs) - 0.02 for a in accs)
                metrics[f"{kind}_good_sigma_count"] = float(width[kind])
            if {"gaussian", "orthogonal", "symmetric"} <= set(width):
                metrics["range_gap_min"] = float(min(width["orthogonal"], width["symmetric"]) - width["gaussian"])
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="deq_init",
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("deq_init"),
    components=(
        "nn.DEQ",
        "nn.FCDEQ",
        "nn.anderson",
        "nn.broyden",
        "nn.fixed_point",
        "nn.matrix_family",
        "analysis.linear_gain",
        "analysis.jacobian_spectrum",
    ),
    curves=(
        Curve(
            "Forward relative residual during training (sigma_w = 3)",
            tuple(f"{k}_s3/forward_residual" for k in KINDS),
            ylabel="||f(z)-z||/||f(z)||",
            logy=True,
        ),
        Curve("Training loss (sigma_w = 3)", tuple(f"{k}_s3/loss" for k in KINDS), logy=True),
    ),
    summary=(
        "a_orth_q_relerr_max",
        "a_orth_cond_max",
        "a_cond_ratio_min",
        "gaussian_s3_res_init",
        "symmetric_s3_res_init",
        "gaussian_s3_train_acc",
        "orthogonal_s3_train_acc",
        "symmetric_s3_train_acc",
        "gaussian_s3_test_acc",
        "orthogonal_s3_test_acc",
        "symmetric_s3_test_acc",
        "b_test_acc_gap",
    ),
)
