"""Paper 3, ``deq_init``: DEQs are sensitive to the initialisation family (Agarwala & Schoenholz, ICML 2022).

Claim (abstract, verified): deep equilibrium networks are sensitive to the higher-order
statistics of the matrix family they are initialised from, not only its variance; orthogonal
or symmetric initialisation trains more stably over a broader range of initial weight scales.
The paper's own experiments could not be read: both quick parts are our stand-ins
(docs/papers/deq_init.md#deviations-from-the-paper).

``quick``: part A, the linear DEQ z* = (I - W)^{-1} u at N = 256 for the three families at
matched second moment (gain q and cond(I - W), medians of 5 draws per seed); part B, a tanh
FC-DEQ (width 256) on scikit-learn digits at sigma_w = 3, Anderson forward and IFT backward,
Adam 1e-3, 150 steps, the three families from one seed each. ``paper``: our design
(docs/papers/deq_init.md#defaults): width 1000 on MNIST, sigma_w in {0.5, 1, 1.5, 2, 3, 4},
10 epochs (GPU). ``gpu_check``: the shortened GPU check (one epoch, sigma_w in {1, 3}, part A
at N = 4000).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch

from icml22dl.analysis.deq import linear_gain
from icml22dl.data.mnist import load_mnist
from icml22dl.data.sampling import StreamSampler
from icml22dl.data.splits import digits_split
from icml22dl.nn.deq import FCDEQ
from icml22dl.nn.init import KINDS, matrix_family
from icml22dl.papers.blocks import Optim
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    derive_generator,
    diverged_as,
    load_claim,
    param,
)
from icml22dl.runner.device import resolve_device
from icml22dl.train import FitResult, evaluate, fit

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LinearGain(ConfigBlock):
    """Part A: the linear DEQ z* = (I - W)^{-1} u at matched variance: gain q and cond(I - W) per family."""

    enabled: bool = param(True, help="run part A")
    width: int = param(256, low=2, help="N")
    sigmas: tuple[float, ...] = param((0.5, 0.9, 1.1, 1.5, 2.0), low=0.0, help="sigma_w grid")
    draws: int = param(5, low=1, help="matrices per family and sigma per seed (medians)")
    inputs: int = param(64, low=1, help="Gaussian inputs u per matrix for q")


@dataclass(frozen=True)
class FCDEQNet(ConfigBlock):
    """Part B's network: z* = tanh(W z* + U x + b), logits = R z* + c, with its forward and IFT solves."""

    width: int = param(256, low=1, help="N (256 quick, 1000 paper)")
    sigma_u: float = param(1.0, low=0.0, help="input weight scale, U_ij ~ N(0, sigma_u^2/d_in)")
    solver: str = param("anderson", choices=("anderson", "broyden", "fixed_point"), help="forward and backward solver")
    anderson_m: int = param(5, low=1, help="Anderson memory")
    anderson_lam: float = param(1e-4, low=0.0, low_inclusive=False, help="Anderson regularisation")
    f_tol: float = param(1e-4, low=0.0, low_inclusive=False, help="forward relative tolerance")
    f_max_iter: int = param(50, low=1, help="forward iteration cap")
    b_tol: float = param(1e-6, low=0.0, low_inclusive=False, help="backward (IFT) tolerance")
    b_max_iter: int = param(50, low=1, help="backward iteration cap")

    def build(
        self, d_in: int, kind: str, sigma_w: float, normalize: str, generator: torch.Generator, n_out: int = 10
    ) -> FCDEQ:
        """The FC-DEQ with W drawn from family ``kind`` at scale ``sigma_w`` (every draw from ``generator``)."""
        return FCDEQ(
            d_in,
            self.width,
            n_out,
            init=kind,
            sigma_w=sigma_w,
            sigma_u=self.sigma_u,
            normalize=normalize,
            generator=generator,
            solver=self.solver,
            backward="ift",
            f_tol=self.f_tol,
            b_tol=self.b_tol,
            f_max_iter=self.f_max_iter,
            b_max_iter=self.b_max_iter,
            solver_kwargs={"m": self.anderson_m, "lam": self.anderson_lam},
        )


@dataclass(frozen=True)
class Training(ConfigBlock):
    """Part B: the FC-DEQ trained from each family at each sigma_w, on one batch order."""

    enabled: bool = param(True, help="run part B")
    dataset: str = param("digits", choices=("digits", "mnist"), help="digits (quick) or MNIST (paper scale)")
    sigma_ws: tuple[float, ...] = param((3.0,), low=0.0, help="sigma_w values trained")
    gate_sigma: float = param(3.0, low=0.0, help="sigma_w whose symmetric/Gaussian ratios the claim reads")
    families: tuple[str, ...] = param(KINDS, help="initialisation families trained (gaussian, orthogonal, symmetric)")
    opt: Optim = param(Optim(name="adam", lr=1e-3), help="the optimiser")
    batch_size: int = param(128, low=1, help="examples per step")
    steps: int = param(150, low=0, help="training steps; 0 = use epochs")
    epochs: int = param(0, low=0, help="training epochs when steps = 0 (paper scale)")
    eval_size: int = param(2000, low=1, help="examples per forward pass of the accuracy evaluation")
    log_every: int = param(10, low=1, help="steps between logged metrics")

    def check(self) -> None:
        bad = [f for f in self.families if f not in KINDS]
        if bad or not self.families:
            raise ValueError(f"Training.families={self.families!r} must be a non-empty tuple of {KINDS}")
        if self.enabled and self.gate_sigma not in self.sigma_ws:
            raise ValueError(f"Training.gate_sigma={self.gate_sigma} must be one of sigma_ws={self.sigma_ws}")
        if self.enabled and self.steps == 0 and self.epochs == 0:
            raise ValueError("Training.steps=0 needs epochs >= 1")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the DEQ initialisation experiment (defaults: the quick preset, docs/papers/deq_init.md)."""

    part_a: LinearGain = param(LinearGain(), help="part A: linear DEQ gain and conditioning")
    part_b: Training = param(Training(), help="part B: FC-DEQ training from each family")
    net: FCDEQNet = param(FCDEQNet(), help="part B's network and solvers")
    normalize: str = param("frobenius", choices=("frobenius", "spectral"), help="GOE normalisation (both parts)")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        part_a=LinearGain(width=1000),
        part_b=Training(dataset="mnist", sigma_ws=(0.5, 1.0, 1.5, 2.0, 3.0, 4.0), steps=0, epochs=10),
        net=FCDEQNet(width=1000),
        device="auto",
    ),
    "gpu_check": Config(
        part_a=LinearGain(width=4000, draws=1),
        part_b=Training(dataset="mnist", sigma_ws=(1.0, 3.0), steps=0, epochs=1, batch_size=256),
        net=FCDEQNet(width=1000),
        device="auto",
    ),
}


def _tag(sigma: float) -> str:
    return f"s{sigma:g}"


def part_a(config: Config, seed: int) -> dict[str, float]:
    """Linear DEQ at matched variance: median gain q and cond(I - W) per family and sigma."""
    gen = derive_generator(seed, 10)
    device = resolve_device(config.device)
    a = config.part_a
    out: dict[str, float] = {}
    for sigma in a.sigmas:
        for kind in KINDS:
            qs, conds = [], []
            for _ in range(a.draws):
                w = matrix_family(a.width, kind, sigma, config.normalize, generator=gen, dtype=torch.float64)
                u = torch.randn(a.inputs, a.width, generator=gen, dtype=torch.float64)
                gain = linear_gain(w.to(device), u.to(device))
                qs.append(gain["q"])
                conds.append(gain["cond"])
            out[f"a_{kind}_{_tag(sigma)}_q"] = statistics.median(qs)
            out[f"a_{kind}_{_tag(sigma)}_cond"] = statistics.median(conds)
    rel = [abs(out[f"a_orthogonal_{_tag(s)}_q"] * abs(1 - s**2) - 1) for s in a.sigmas if s in (0.5, 1.5, 2.0)]
    out["a_orth_q_relerr_max"] = max(rel) if rel else math.nan
    out["a_orth_cond_max"] = max(out[f"a_orthogonal_{_tag(s)}_cond"] for s in a.sigmas)
    ratios = [out[f"a_gaussian_{_tag(s)}_cond"] / out[f"a_orthogonal_{_tag(s)}_cond"] for s in a.sigmas if s >= 1.1]
    out["a_cond_ratio_min"] = min(ratios) if ratios else math.nan
    return out


def _load(config: Config, device: torch.device) -> Data:
    if config.part_b.dataset == "digits":
        x_train, y_train, x_test, y_test = digits_split()  # the library's fixed split
    else:
        (xtr, y_train), (xte, y_test) = load_mnist("train"), load_mnist("test")
        x_train, x_test = xtr.reshape(len(xtr), -1).float() / 255, xte.reshape(len(xte), -1).float() / 255
    mean, std = x_train.mean(0), x_train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return x_train.to(device), y_train.to(device), x_test.to(device), y_test.to(device)


def _train_one(config: Config, kind: str, sigma: float, seed: int, data: Data, log: RunLog) -> dict[str, float]:
    x_train, y_train, x_test, y_test = data
    b, name = config.part_b, f"{kind}_{_tag(sigma)}"
    model = config.net.build(x_train.shape[1], kind, sigma, config.normalize, derive_generator(seed, 1))
    model.to(x_train.device)
    steps = b.steps or b.epochs * math.ceil(len(x_train) / b.batch_size)
    with torch.no_grad():
        model(x_train[: b.batch_size])
    res_init = model.deq.forward_info.rel_lowest if model.deq.forward_info else math.nan
    residuals: list[float] = []
    b_residuals: list[float] = []

    def on_step(step: int, result: FitResult) -> None:  # fit's "epochs" are single steps of the stream
        info = model.deq.forward_info
        assert info is not None
        residuals.append(info.rel_lowest)
        if model.deq.backward_info is not None:
            b_residuals.append(model.deq.backward_info.rel_lowest)
        if step % b.log_every == 0 or step == steps:
            values = {"loss": result.last_loss, "forward_residual": residuals[-1], "forward_steps": float(info.steps)}
            log.metrics(step, **{f"{name}/{key}": value for key, value in values.items()})

    sampler = StreamSampler(len(x_train), b.batch_size, derive_generator(seed, 2))  # one batch order for all
    with diverged_as(f"{name}_diverged_step"):
        fit(
            model,
            b.opt.build(model.parameters()),
            x_train,
            y_train,
            epochs=steps,
            batches=sampler,
            on_epoch=on_step,
            progress=lambda r: log.progress(r, total=steps, desc=name),
        )
    return {
        f"{name}_res_init": res_init,
        f"{name}_res_train": statistics.fmean(residuals) if residuals else res_init,
        f"{name}_b_res_train": statistics.fmean(b_residuals) if b_residuals else math.nan,
        f"{name}_train_acc": evaluate(model, x_train, y_train, batch_size=b.eval_size).accuracy,
        f"{name}_test_acc": evaluate(model, x_test, y_test, batch_size=b.eval_size).accuracy,
    }


def _part_b_summary(config: Config, metrics: dict[str, float]) -> dict[str, float]:
    """Symmetric and orthogonal vs Gaussian at gate_sigma; the width of the good sigma_w range per family."""
    b, out = config.part_b, {}
    g, s = f"gaussian_{_tag(b.gate_sigma)}", f"symmetric_{_tag(b.gate_sigma)}"
    if "gaussian" in b.families and "symmetric" in b.families:
        out["b_res_init_ratio"] = metrics[f"{s}_res_init"] / metrics[f"{g}_res_init"]
        out["b_res_train_ratio"] = metrics[f"{s}_res_train"] / metrics[f"{g}_res_train"]
        out["b_train_acc_gap"] = metrics[f"{s}_train_acc"] - metrics[f"{g}_train_acc"]
        out["b_test_acc_gap"] = metrics[f"{s}_test_acc"] - metrics[f"{g}_test_acc"]
    if "gaussian" in b.families and "orthogonal" in b.families:  # the same comparisons for the orthogonal family
        o = f"orthogonal_{_tag(b.gate_sigma)}"
        out["b_orth_res_init_ratio"] = metrics[f"{o}_res_init"] / metrics[f"{g}_res_init"]
        out["b_orth_res_train_ratio"] = metrics[f"{o}_res_train"] / metrics[f"{g}_res_train"]
        out["b_orth_train_acc_gap"] = metrics[f"{o}_train_acc"] - metrics[f"{g}_train_acc"]
        out["b_orth_test_acc_gap"] = metrics[f"{o}_test_acc"] - metrics[f"{g}_test_acc"]
    if len(b.sigma_ws) > 1:
        width = {}
        for kind in b.families:
            accs = [metrics[f"{kind}_{_tag(sigma)}_test_acc"] for sigma in b.sigma_ws]
            width[kind] = sum(acc >= max(accs) - 0.02 for acc in accs)
            out[f"{kind}_good_sigma_count"] = float(width[kind])
        if {"gaussian", "orthogonal", "symmetric"} <= set(width):
            out["range_gap_min"] = float(min(width["orthogonal"], width["symmetric"]) - width["gaussian"])
    return out


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Part A (linear gain) and part B (training at large sigma_w); return per-seed metrics."""
    started = time.perf_counter()
    metrics: dict[str, float] = {}
    if config.part_a.enabled:
        metrics.update(part_a(config, seed))
    metrics["part_a_wall_s"] = time.perf_counter() - started
    if config.part_b.enabled:
        data = _load(config, resolve_device(config.device))
        for sigma in config.part_b.sigma_ws:
            for kind in config.part_b.families:
                metrics.update(_train_one(config, kind, sigma, seed, data, log))
        metrics.update(_part_b_summary(config, metrics))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="deq_init",
    data={"quick": (), "paper": ("mnist",), "gpu_check": ("mnist",)},
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
        "data.StreamSampler",
        "data.digits_split",
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
        "b_orth_res_init_ratio",
        "b_orth_res_train_ratio",
        "b_orth_train_acc_gap",
        "b_orth_test_acc_gap",
    ),
)
