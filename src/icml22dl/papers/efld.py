"""Paper 5, ``efld``: stability bounds for Exponential Family Langevin Dynamics (Banerjee et al., ICML 2022).

Claim: for EFLD algorithms (SGLD, noisy sign-SGD, quantised SGD) the expected-stability bound
(c/n) E sqrt(sum_t alpha_t^2 |grad l(w, z) - grad l(w, z')|^2) holds, is non-vacuous, is
sharper than the gradient-norm bound of Li et al. (2020), decays as O(1/n) and grows with
label noise.

``quick`` (docs/papers/efld.md#defaults): MNIST train split, permuted by the seed, training
pool = the first 8,000, fresh = the next 10,000; MLP 784-64-10, cross-entropy, batch 200,
T = 300, effective step eta*alpha = 0.1, bound every step from K = 64 random pairs. One seed
runs SGLD (std_coef 0.2, alpha 5), noisy sign (alpha 5) and quantised SGD on {-1, 0, 1}
(alpha 5) at n = 8,000, SGLD at n = 2,000, and the n = 8,000 SGLD run again with 20 % label
noise. ``paper``: CNN2 on the full MNIST training set, T = 10,000, K = 64.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.analysis.bounds import EFLDBound
from icml22dl.data.mnist import load_mnist
from icml22dl.data.noise import symmetric_noise
from icml22dl.data.sampling import StreamSampler
from icml22dl.data.subsets import random_subset
from icml22dl.nn import CNN2, MLP, default_init_
from icml22dl.optim.efld import SGLD, NoisySignSGD, QuantizedSGD
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
from icml22dl.train import Batch, FitResult, evaluate, fit

LI_THIRD_PARTY = 8.12 / math.sqrt(2.0)
LOG_EVERY = 50  # steps between logged bound values


@dataclass(frozen=True)
class Pool(ConfigBlock):
    """The MNIST examples: a training pool (the first ``train_pool``) and fresh examples after it."""

    dataset: str = param(
        "mnist",
        choices=("mnist_t10k", "mnist"),
        help="the 60k train split (quick and paper) or the t10k split (the earlier quick preset)",
    )
    train_pool: int = param(8000, low=1, help="examples used as the training pool (8,000)")
    fresh_size: int = param(10000, low=1, help="held-out fresh/test examples after the pool (10,000)")
    shuffle: bool = param(
        True,
        help="seeded permutation before the split, so pool and fresh points are i.i.d. (the t10k file is "
        "ordered by writer group: its last 2,000 were easier than the first 8,000)",
    )

    def load(self, device: torch.device, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(x, y)``: the pool then the fresh examples, flattened to 784 values in [0, 1], on ``device``."""
        images, labels = load_mnist("test" if self.dataset == "mnist_t10k" else "train")
        need = self.train_pool + self.fresh_size
        if need > len(labels):
            raise ValueError(f"train_pool + fresh_size = {need} exceeds the {len(labels)} examples of {self.dataset}")
        take = torch.randperm(len(labels), generator=generator)[:need] if self.shuffle else torch.arange(need)
        return (images[take].flatten(1).float() / 255.0).to(device), labels[take].to(device)


@dataclass(frozen=True)
class Algorithms(ConfigBlock):
    """The three EFLD algorithms at one mean step ``eta * alpha``."""

    effective_lr: float = param(0.1, low=0.0, low_inclusive=False, help="eta*alpha, the mean step (0.1)")
    std_coef: float = param(
        0.2,
        low=0.0,
        low_inclusive=False,
        help="SGLD std_coef = 1/alpha (0.2: the paper's label-noise runs use sigma = 0.2 eta)",
    )
    sign_alpha: float = param(5.0, low=0.0, low_inclusive=False, help="noisy sign alpha (ours: 5, as SGLD)")
    quant_alpha: float = param(5.0, low=0.0, low_inclusive=False, help="quantised SGD alpha on {-1,0,1} (ours: 5)")

    def build(self, kind: str, model: nn.Module, std_coef: float, seed: int) -> tuple[torch.optim.Optimizer, float]:
        """The optimiser of ``kind`` ('sgld', 'sign' or 'quantized') and its alpha_t."""
        if kind == "sgld":
            return SGLD(model.parameters(), lr=self.effective_lr, std_coef=std_coef, seed=seed), 1.0 / std_coef
        if kind == "sign":
            alpha = self.sign_alpha
            return NoisySignSGD(model.parameters(), lr=self.effective_lr / alpha, alpha=alpha, seed=seed), alpha
        alpha = self.quant_alpha
        return QuantizedSGD(model.parameters(), lr=self.effective_lr / alpha, alpha=alpha, levels=1, seed=seed), alpha


@dataclass(frozen=True)
class Bound(ConfigBlock):
    """The bound estimate: K random (training, fresh) pairs and the constants of both bounds."""

    pairs: int = param(64, low=1, help="K random (train, fresh) pairs for the bound (64)")
    constant: float = param(
        math.sqrt(20.0),
        low=0.0,
        low_inclusive=False,
        help="c of the EFLD bound: c0 sqrt(5 c2) = sqrt(20) for a [0, 1] loss (c0 = 2) and c2 = 1 "
        "(docs/papers/efld.md#deviations-from-the-paper)",
    )
    li_constant: float = param(
        8.12, low=0.0, low_inclusive=False, help="Li et al. constant (8.12; 8.12/sqrt(2) is also reported)"
    )


@dataclass(frozen=True)
class NoiseRuns(ConfigBlock):
    """The label-noise run: the main SGLD run (same n, T, subset, pairs, init, noise) with labels noised at ``rate``."""

    rate: float = param(0.2, low=0.0, high=1.0, help="label-noise rate p on train and fresh labels (0.2; 0 = skip)")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the EFLD bound experiment (defaults: the quick preset, docs/papers/efld.md#defaults)."""

    data: Pool = param(Pool(), help="the MNIST training pool and fresh examples")
    model: str = param("mlp", choices=("mlp", "cnn2"), help="MLP 784-64-10 (quick) or CNN2 (paper)")
    n_large: int = param(8000, low=1, help="n of the main runs (8,000)")
    n_small: int = param(2000, low=1, help="n of the O(1/n) comparison run (2,000)")
    batch_size: int = param(200, low=1, help="b (ours and third party: 200)")
    steps: int = param(300, low=1, help="T of the main runs (300)")
    algorithms: Algorithms = param(Algorithms(), help="SGLD, noisy sign and quantised SGD")
    bound: Bound = param(Bound(), help="pairs and constants of the bounds")
    noise: NoiseRuns = param(NoiseRuns(), help="the label-noise run, against the main SGLD run")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")

    def check(self) -> None:
        super().check()
        if max(self.n_large, self.n_small) > self.data.train_pool:
            raise ValueError(f"n_large and n_small must be <= data.train_pool={self.data.train_pool}")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        data=Pool(dataset="mnist", train_pool=50000, fresh_size=10000),
        model="cnn2",
        n_large=50000,
        n_small=12500,
        steps=10000,
        device="auto",
    ),
}


def _split(
    x: Tensor, y: Tensor, config: Config, n: int, rate: float, gen: torch.Generator, noise_gen: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
    """n training examples of the pool, the fresh examples and K random pairs (labels noised at ``rate``)."""
    pool, fresh = config.data.train_pool, config.data.fresh_size
    x_pool, x_fresh, y_pool, y_fresh = x[:pool], x[pool : pool + fresh], y[:pool], y[pool : pool + fresh]
    if rate > 0:  # symmetric label noise on the training and the fresh points alike
        y_pool = symmetric_noise(y_pool.cpu(), rate, 10, noise_gen, include_true_class=False)[0].to(x.device)
        y_fresh = symmetric_noise(y_fresh.cpu(), rate, 10, noise_gen, include_true_class=False)[0].to(x.device)
    take = (random_subset(pool, n, gen) if n < pool else torch.arange(pool)).to(x.device)
    x_train, y_train = x_pool[take], y_pool[take]
    i_in = torch.randint(0, n, (config.bound.pairs,), generator=gen).to(x.device)
    i_out = torch.randint(0, fresh, (config.bound.pairs,), generator=gen).to(x.device)
    return x_train, y_train, x_fresh, y_fresh, (x_train[i_in], y_train[i_in], x_fresh[i_out], y_fresh[i_out])


def _train(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    alpha: float,
    bound: EFLDBound,
    data: tuple[Tensor, Tensor],
    steps: int,
    sampler: StreamSampler,
    log: RunLog,
    tag: str,
) -> None:
    """``steps`` mini-batch steps (one step per ``fit`` epoch); the bound is updated before each step."""

    def loss_fn(net: nn.Module, batch: Batch) -> Tensor:
        bound.update(alpha)  # gradients at w_{t-1}, before the step
        return F.cross_entropy(net(batch.x), batch.y)

    def on_step(step: int, result: FitResult) -> None:
        if step % LOG_EVERY == 0 or step == steps:
            values = {"bound": bound.value(), "li_bound": bound.li_value(), "train_loss": result.last_loss}
            log.metrics(step, **{f"{tag}/{k}": v for k, v in values.items()})

    with diverged_as(f"{tag}_diverged_step"):
        fit(
            model,
            opt,
            *data,
            epochs=steps,
            batches=sampler,
            loss_fn=loss_fn,
            on_epoch=on_step,
            progress=lambda r: log.progress(r, total=steps, desc=tag),
        )


class RunSpec(NamedTuple):
    """One training run: its metric prefix, algorithm, n, T, seed stream, SGLD std_coef and label-noise rate."""

    tag: str
    kind: str
    n: int
    steps: int
    stream: int
    std_coef: float
    rate: float = 0.0


def run_specs(config: Config) -> list[RunSpec]:
    """The runs of one seed: three algorithms at n_large, SGLD at n_small, then SGLD at n_large with noisy labels."""
    a, noise = config.algorithms, config.noise
    specs = [
        RunSpec("sgld", "sgld", config.n_large, config.steps, 1, a.std_coef),
        RunSpec("sign", "sign", config.n_large, config.steps, 2, a.std_coef),
        RunSpec("quant", "quantized", config.n_large, config.steps, 3, a.std_coef),
        RunSpec("sgld_small", "sgld", config.n_small, config.steps, 4, a.std_coef),
    ]
    if noise.rate > 0:  # the main SGLD run's stream: same subset, pairs, init and noise; only the labels differ
        specs.append(RunSpec("noise_p", "sgld", config.n_large, config.steps, 1, a.std_coef, noise.rate))
    return specs


def _one_run(spec: RunSpec, x: Tensor, y: Tensor, config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Train one EFLD algorithm on n examples of the pool; return errors, gap and bounds (prefixed by the tag)."""
    gen = derive_generator(seed, spec.stream)
    noise_gen = derive_generator(seed, spec.stream + 200)  # its own stream: the rest of the run is unchanged
    x_train, y_train, x_fresh, y_fresh, pairs = _split(x, y, config, spec.n, spec.rate, gen, noise_gen)
    model = default_init_(MLP(784, (64,), 10, batchnorm=False) if config.model == "mlp" else CNN2(), gen).to(x.device)
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=gen).item())
    opt, alpha = config.algorithms.build(spec.kind, model, spec.std_coef, noise_seed)
    c = config.bound
    bound = EFLDBound(
        model,
        F.cross_entropy,
        pairs,
        n=spec.n,
        constant=c.constant,
        li_constant=c.li_constant,
        batch_size=config.batch_size,
    )
    sampler = StreamSampler(spec.n, config.batch_size, derive_generator(seed, spec.stream + 100))
    _train(model, opt, alpha, bound, (x_train, y_train), spec.steps, sampler, log, spec.tag)
    train_err = evaluate(model, x_train, y_train, batch_size=2000).error
    test_err = evaluate(model, x_fresh, y_fresh, batch_size=2000).error
    value, li = bound.value(), bound.li_value()
    out = {
        "train_err": train_err,
        "test_err": test_err,
        "gap": test_err - train_err,
        "bound": value,
        "li": li,
        "ratio": value / li,
        "bound_c1": bound.value(constant=1.0),
        "ratio_li_third_party": value / bound.li_value(constant=LI_THIRD_PARTY),
        "condition_violations": float(bound.condition_violations),
    }
    return {f"{spec.tag}_{k}": v for k, v in out.items()}


def _summary(metrics: dict[str, float], tags: list[str]) -> dict[str, float]:
    """The per-seed quantities the criteria read, from the runs' metrics."""
    large = ("sgld", "sign", "quant")
    out = {
        "validity_margin": min(metrics[f"{t}_bound"] - metrics[f"{t}_gap"] for t in tags),
        "validity_margin_c1": min(metrics[f"{t}_bound_c1"] - metrics[f"{t}_gap"] for t in tags),
        "min_gap_large_n": min(metrics[f"{t}_gap"] for t in large),
        "max_bound_p0": max(metrics["sgld_bound"], metrics["sign_bound"]),
        "max_bound_p0_c1": max(metrics["sgld_bound_c1"], metrics["sign_bound_c1"]),
        "max_ratio_large_n": max(metrics[f"{t}_ratio"] for t in large),
        "max_ratio_large_n_li_third_party": max(metrics[f"{t}_ratio_li_third_party"] for t in large),
        "n_ratio": metrics["sgld_bound"] / metrics["sgld_small_bound"],
    }
    if "noise_p_bound" in metrics:  # against the main SGLD run (p = 0): only the labels differ
        out["noise_bound_diff"] = metrics["noise_p_bound"] - metrics["sgld_bound"]
        out["noise_gap_diff"] = metrics["noise_p_gap"] - metrics["sgld_gap"]
        out["noise_max_bound"] = max(metrics["noise_p_bound"], metrics["sgld_bound"])
    return out


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """All EFLD runs of one seed and the per-seed quantities the criteria read."""
    started = time.perf_counter()
    x, y = config.data.load(resolve_device(config.device), derive_generator(seed, 50))
    metrics: dict[str, float] = {}
    specs = run_specs(config)
    for spec in specs:
        t0 = time.perf_counter()
        metrics.update(_one_run(spec, x, y, config, seed, log))
        metrics[f"{spec.tag}_wall_s"] = time.perf_counter() - t0
    metrics.update(_summary(metrics, [spec.tag for spec in specs]))
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="efld",
    data={"quick": ("mnist",), "paper": ("mnist",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("efld"),
    components=(
        "optim.EFLD",
        "optim.SGLD",
        "optim.NoisySignSGD",
        "optim.QuantizedSGD",
        "analysis.EFLDBound",
        "analysis.per_sample_grads",
        "nn.CNN2",
        "nn.default_init_",
    ),
    curves=(
        Curve("EFLD vs Li et al. bound, n = 8,000", ("sgld/bound", "sgld/li_bound", "sign/bound", "sign/li_bound")),
        Curve("Label noise: EFLD bound", ("sgld/bound", "noise_p/bound")),
    ),
    summary=tuple(
        f"{t}_{m}"
        for t in ("sgld", "sign", "quant", "sgld_small", "noise_p")
        for m in ("train_err", "test_err", "gap", "bound", "li", "bound_c1")
    )
    + ("max_ratio_large_n_li_third_party", "validity_margin_c1", "max_bound_p0_c1", "run_wall_s"),
)
