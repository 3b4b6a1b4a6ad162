"""Paper 15, ``sgilo``: score-guided intermediate layer optimisation (Daras, Dagan, Dimakis,
Daskalakis, ICML 2022).

Two claims, checked in one run:

* theory: Langevin dynamics inverting a random expansive ReLU generator reaches the true
  latent from random starts (no chain is trapped near -rho_d x*), and its stationary
  spread matches the linearised discrete-time prediction tr (2/beta)[H(2I - eta H)]^-1;
* practice: a score prior learned in an intermediate layer of a generator, used inside
  intermediate layer optimisation (SGILO), beats ILO at few measurements, and the gain
  vanishes when the prior's weight is set to zero; checked again where the code is much
  larger than m (digits upsampled to 16x16, a 96-dim code, m = 2 % and 5 % of the pixels).

``quick`` (docs/papers/sgilo.md#defaults): the theory part with k = 10 -> 250 -> 2000,
m = 150, 2000 steps, beta in {1e3, 4e3}; the practice part with an MLP VAE on
scikit-learn's 8x8 digits, split at a 32-dim code, an MLP VP-SDE score model of the inverted
training codes, Gaussian A with m in {12, 24}; the wide-code regime repeats it on 16x16
digits with a 96-dim code and m in {5, 13}. ``paper``: the faithful StyleGAN2/FFHQ
protocol needs weights that cannot be obtained offline; the preset is a shortened GPU check
on MNIST (a larger split VAE, a ViT score model with patch size 1, m/n in {2, 5, 10, 25 %},
200 test images); see docs/papers/sgilo.md#deviations-from-the-paper. The ``device`` field
is used: every tensor of the run lives there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.analysis.bootstrap import bootstrap_ratio_interval, bootstrap_ratio_std
from icml22dl.data import load_digits, load_mnist
from icml22dl.data.root import cache_root
from icml22dl.inverse import (
    MLPVAE,
    VPSDE,
    FlatScoreViT,
    GaussianOperator,
    Normaliser,
    ReLUGenerator,
    ScoreMLP,
    csgm,
    device_generator,
    ilo,
    invert_codes,
    langevin,
    random_relu_generator,
    sgilo,
    stationary_covariance,
    train_score,
    train_vae,
)
from icml22dl.runner import (
    ConfigBlock,
    Curve,
    ExperimentConfig,
    Paper,
    RunLog,
    check_finite,
    derive_generator,
    load_claim,
    param,
    torch_seeded,
)
from icml22dl.runner.device import resolve_device

INF = math.inf
DEFAULTS = "docs/papers/sgilo.md#defaults"


@dataclass(frozen=True)
class Theory(ConfigBlock):
    """The theory part: GD and Langevin chains inverting ``y = A G(x*)`` through a random ReLU generator."""

    widths: tuple[int, ...] = param((10, 250, 2000), low=1, help=f"(k, n_1, .., n_d) of G ({DEFAULTS})")
    measurements: int = param(150, low=1, help=f"m rows of A ~ N(0, 1/m) ({DEFAULTS})")
    chains: int = param(64, low=2, help=f"chains per temperature, started from N(0, I) ({DEFAULTS})")
    steps: int = param(2000, low=2, help=f"T ({DEFAULTS})")
    eta_scale: float = param(0.5, low=0.0, low_inclusive=False, help=f"eta = scale * 2^d ({DEFAULTS})")
    betas: tuple[float, ...] = param(
        (1000.0, 4000.0),
        low=0.0,
        low_inclusive=False,
        help="Langevin inverse temperatures; GD (beta = inf) always runs",
    )
    near: float = param(0.5, low=0.0, low_inclusive=False, help="'near x*' radius / ||x*|| (criterion t1)")
    sample_every: int = param(10, low=1, help="thinning of the second-half samples for the spread")
    dtype: str = param(
        "float32",
        choices=("float32", "float64"),
        help="precision of the chains (float32: half the time; the spread agrees)",
    )

    def check(self) -> None:
        if len(self.widths) < 2:
            raise ValueError(f"Theory.widths={self.widths!r} needs at least two entries")


@dataclass(frozen=True)
class Images(ConfigBlock):
    """The images of the practice part: a random train/test split drawn from the run seed."""

    dataset: str = param(
        "digits",
        choices=("digits", "digits16", "mnist"),
        help="images (quick: 8x8 digits; wide-code regime: digits upsampled to 16x16; GPU check: MNIST)",
    )
    train_size: int = param(1347, low=1, help=f"training images of the generator and score model ({DEFAULTS})")
    test_size: int = param(450, low=1, help=f"test images solved per measurement count ({DEFAULTS})")

    def check(self) -> None:
        if self.dataset != "mnist" and self.train_size + self.test_size > 1797:
            raise ValueError(
                f"Images.train_size + test_size = {self.train_size + self.test_size} exceeds the 1797 digits"
            )


@dataclass(frozen=True)
class SplitVAE(ConfigBlock):
    """The generator ``G = G2 o G1``: an MLP VAE split at the code, and the inversion of the training images."""

    latent: int = param(4, low=1, help=f"VAE latent k ({DEFAULTS})")
    code: int = param(32, low=1, help=f"intermediate code d_h ({DEFAULTS})")
    g1_hidden: int = param(128, low=1, help=f"G1 hidden width ({DEFAULTS})")
    g2_hidden: int = param(256, low=1, help=f"G2 hidden width ({DEFAULTS})")
    steps: int = param(3000, low=0, help=f"VAE Adam steps ({DEFAULTS})")
    batch: int = param(128, low=1, help="VAE batch size")
    lr: float = param(1e-3, low=0.0, low_inclusive=False, help="VAE Adam learning rate")
    invert_steps: int = param(200, low=0, help=f"Adam steps inverting training images to codes ({DEFAULTS})")


@dataclass(frozen=True)
class ScorePrior(ConfigBlock):
    """The VP-SDE score model of the (normalised) intermediate codes."""

    model: str = param("mlp", choices=("mlp", "vit"), help="score network (quick: MLP; official: ViT)")
    steps: int = param(1500, low=0, help=f"DSM Adam steps ({DEFAULTS})")
    batch: int = param(256, low=1, help=f"DSM batch size ({DEFAULTS})")
    lr: float = param(1e-3, low=0.0, low_inclusive=False, help="DSM Adam learning rate")
    hidden: int = param(256, low=1, help="MLP width / ViT d_model")
    vit_tokens: int = param(16, low=1, help="ViT: the code is read as this many tokens (patch size 1)")
    vit_depth: int = param(4, low=1, help="ViT depth (official 8)")
    normalisation: str = param(
        "standard",
        choices=("standard", "minmax"),
        help="code normalisation (quick: standardised; official: global min-max)",
    )


@dataclass(frozen=True)
class CSGMSolver(ConfigBlock):
    """CSGM: Adam on the latent z with an l2 penalty, best of several random restarts."""

    steps: int = param(300, low=1, help="CSGM Adam steps")
    lr: float = param(0.05, low=0.0, low_inclusive=False, help="CSGM Adam learning rate")
    restarts: int = param(3, low=1, help=f"CSGM random restarts ({DEFAULTS})")
    weight: float = param(0.05, low=0.0, help=f"CSGM ||z||^2 weight ({DEFAULTS})")


@dataclass(frozen=True)
class ILOSolver(ConfigBlock):
    """ILO: projected Adam on the code within an l1 ball around G1(z_CSGM)."""

    steps: int = param(300, low=1, help="ILO projected-Adam steps")
    lr: float = param(0.05, low=0.0, low_inclusive=False, help="ILO Adam learning rate (SGILO official 0.05)")
    radii: tuple[float, ...] = param(
        (16.0, INF),
        low=0.0,
        low_inclusive=False,
        help="ILO l1 radius per m (docs/papers/sgilo.md#deviations-from-the-paper)",
    )
    grid: tuple[float, ...] = param(
        (4.0, 8.0, 16.0, INF),
        low=0.0,
        low_inclusive=False,
        help="radii of the informational best-radius ILO (oracle on the test set)",
    )


@dataclass(frozen=True)
class SGILOSolver(ConfigBlock):
    """SGILO, the official ("faithful") rule: an Adam data step, a score nudge at t0, noise; last iterates averaged."""

    lams: tuple[float, ...] = param((1.5, 1.5), low=0.0, help=f"score weight tau per m ({DEFAULTS})")
    t0s: tuple[float, ...] = param(
        (0.3, 0.1),
        low=0.0,
        high=1.0,
        low_inclusive=False,
        help=f"score time t0 per m ({DEFAULTS}; official 0.01)",
    )
    steps: int = param(300, low=1, help="SGILO iterations (official 300 per round)")
    lr: float = param(0.05, low=0.0, low_inclusive=False, help="Adam lr of the data step (official 0.05)")
    temperature: float = param(0.01, low=0.0, help=f"noise std per step ({DEFAULTS}; official 0.025)")
    average: int = param(150, low=1, help=f"final iterates averaged ({DEFAULTS})")

    def check(self) -> None:
        if self.average > self.steps:
            raise ValueError(f"SGILOSolver.average={self.average} must be <= steps={self.steps}")


@dataclass(frozen=True)
class WideCode(ConfigBlock):
    """The regime where the prior should matter most: a code much larger than m (digits upsampled to 16x16).

    The practice pipeline runs a second time with these changes (same seeds, same solvers
    otherwise); its metrics carry the prefix ``wide_`` (docs/papers/sgilo.md#claim-and-thresholds).
    """

    code: int = param(96, low=0, help=f"code d_h of the 16x16 generator (0 skips this part; {DEFAULTS})")
    measurements: tuple[int, ...] = param((5, 13), low=1, help="m: 2 % and 5 % of the 256 pixels")
    radii: tuple[float, ...] = param((INF, INF), low=0.0, low_inclusive=False, help="ILO l1 radius per m")
    lams: tuple[float, ...] = param((0.3, 0.3), low=0.0, help="SGILO score weight tau per m (pilot seed 100)")
    t0s: tuple[float, ...] = param(
        (0.3, 0.3), low=0.0, high=1.0, low_inclusive=False, help="SGILO score time t0 per m (as quick m = 12)"
    )

    def check(self) -> None:
        for name in ("radii", "lams", "t0s"):
            if len(getattr(self, name)) != len(self.measurements):
                raise ValueError(f"WideCode.{name} must have one entry per measurement count {self.measurements!r}")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Hyper-parameters of the SGILO experiment (defaults: the quick preset, docs/papers/sgilo.md#defaults)."""

    part: str = param("both", choices=("both", "theory", "practice"), help="which claim(s) to run")
    theory: Theory = param(Theory(), help="the theory part (Langevin through a random ReLU generator)")
    data: Images = param(Images(), help="the practice part's images")
    vae: SplitVAE = param(SplitVAE(), help="the split generator G2 o G1")
    score: ScorePrior = param(ScorePrior(), help="the score model of the codes")
    measurements: tuple[int, ...] = param((12, 24), low=1, help=f"m values of A ~ N(0, 1/m) ({DEFAULTS})")
    noise_std: float = param(0.05, low=0.0, help=f"y = A x + noise_std * eps ({DEFAULTS})")
    csgm: CSGMSolver = param(CSGMSolver(), help="the CSGM baseline")
    ilo: ILOSolver = param(ILOSolver(), help="the ILO baseline")
    sgilo: SGILOSolver = param(SGILOSolver(), help="the score-guided solver")
    wide: WideCode = param(WideCode(), help="the second practice regime: code >> m on 16x16 digits")
    bootstrap: int = param(500, low=0, help="bootstrap resamples of test images for the ratio's spread")
    cache: bool = param(False, help="cache the VAE and score model (safe load) under $ICML22DL_CACHE")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute (every tensor of the run)")

    def check(self) -> None:
        per_m = {"ilo.radii": self.ilo.radii, "sgilo.lams": self.sgilo.lams, "sgilo.t0s": self.sgilo.t0s}
        for name, values in per_m.items():
            if len(values) != len(self.measurements):
                raise ValueError(
                    f"Config.{name}={values!r} must have one entry per measurement count {self.measurements!r}"
                )
        if self.score.model == "vit" and self.vae.code % self.score.vit_tokens:
            raise ValueError(f"Config.score.vit_tokens={self.score.vit_tokens} must divide vae.code={self.vae.code}")


PRESETS = {
    "quick": Config(),
    "paper": Config(
        theory=Theory(steps=3000),
        data=Images(dataset="mnist", train_size=20000, test_size=200),
        vae=SplitVAE(latent=16, code=256, g1_hidden=512, g2_hidden=1024, steps=20000, batch=256, invert_steps=500),
        score=ScorePrior(model="vit", steps=20000, hidden=256, vit_tokens=16, vit_depth=4),
        measurements=(16, 39, 78, 196),
        ilo=ILOSolver(radii=(INF, INF, INF, INF)),
        sgilo=SGILOSolver(lams=(1.5, 1.5, 1.5, 1.5), t0s=(0.3, 0.3, 0.1, 0.1)),
        wide=WideCode(code=0),
        device="auto",
    ),
}


def _beta_name(beta: float) -> str:
    return "gd" if math.isinf(beta) else f"b{beta:g}"


# ----------------------------------------------------------------------------- theory


@dataclass
class _Chains:
    """The theory part's problem and its chains after ``steps`` steps (GD first, then each beta)."""

    temps: tuple[float, ...]
    x: Tensor  # final chains, (len(temps) * chains, k)
    samples: Tensor  # thinned second-half samples, (S, len(temps), chains, k)
    x_star: Tensor
    J: Tensor  # dG/dx at x*, float64
    A: Tensor  # the measurement matrix, float64
    eta: float


def _theory_problem(theory: Theory, seed: int, device: torch.device) -> tuple[ReLUGenerator, Tensor, Tensor]:
    """G with weights N(0, 1/n_i), A ~ N(0, 1/m) and a unit x*, all from stream 0 of the seed."""
    dtype = torch.float32 if theory.dtype == "float32" else torch.float64
    weights_gen = derive_generator(seed, 0)
    G = random_relu_generator(theory.widths, weights_gen, dtype=dtype)
    G.weights = [w.to(device) for w in G.weights]
    k, n, m = theory.widths[0], theory.widths[-1], theory.measurements
    A = (torch.randn(m, n, generator=weights_gen, dtype=torch.float64) / math.sqrt(m)).to(device, dtype)
    x_star = torch.randn(k, generator=weights_gen, dtype=torch.float64)
    return G, A, (x_star / x_star.norm()).to(device, dtype)


def run_chains(config: Config, seed: int, log: RunLog) -> _Chains:
    """GD and Langevin chains inverting y = A G(x*) from N(0, I) starts (docs/papers/sgilo.md#method)."""
    theory, device = config.theory, resolve_device(config.device)
    G, A, x_star = _theory_problem(theory, seed, device)
    y = A @ G(x_star)
    dtype, k, chains = x_star.dtype, theory.widths[0], theory.chains

    def grad(x: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            loss = 0.5 * (G(x) @ A.T - y).pow(2).sum()
            return torch.autograd.grad(loss, x)[0]

    temps = (INF, *theory.betas)
    betas = torch.tensor([b for b in temps for _ in range(chains)], dtype=dtype, device=device)[:, None]
    chain_gen = device_generator(derive_generator(seed, 1), device)
    x0 = torch.randn(len(temps) * chains, k, generator=chain_gen, dtype=dtype, device=device)
    eta = theory.eta_scale * 2.0 ** (len(theory.widths) - 1)
    samples: list[Tensor] = []

    def callback(t: int, x: Tensor) -> None:
        if t > theory.steps // 2 and t % theory.sample_every == 0:
            samples.append(x.clone())
        if t % 100 == 0 or t == theory.steps:
            dist = (x - x_star).norm(dim=1).reshape(len(temps), chains).mean(dim=1)
            check_finite(float(dist.sum()), t)
            log.metrics(t, **{f"theory/dist_{_beta_name(b)}": float(d) for b, d in zip(temps, dist)})

    x = langevin(grad, x0, eta, betas, theory.steps, chain_gen, callback)
    stacked = torch.stack(samples).reshape(len(samples), len(temps), chains, k)
    J = G.jacobian(x_star).double()  # the prediction in double precision
    return _Chains(temps, x, stacked, x_star, J, A.double(), eta)


def localisation(theory: Theory, run: _Chains) -> dict[str, float]:
    """Criterion t1: chains end near x* (every beta), none near the spurious point -rho_d x*."""
    temps, chains = run.temps, theory.chains
    norm_star = float(run.x_star.norm())
    dist = (run.x - run.x_star).norm(dim=1).reshape(len(temps), chains)
    cos = ((run.x @ run.x_star) / (run.x.norm(dim=1) * norm_star)).reshape(len(temps), chains)
    near = dist < theory.near * norm_star
    out = {
        "theory_gd_within_005": float((dist[0] < 0.05 * norm_star).float().mean()),
        "theory_antipodal_frac": float((cos < -0.5).float().mean()),
    }
    for i, beta in enumerate(temps[1:], start=1):
        out[f"theory_near_frac_{_beta_name(beta)}"] = float(near[i].float().mean())
    out["theory_near_frac"] = min(float(near[i].float().mean()) for i in range(1, len(temps)))
    return out


def spread(theory: Theory, run: _Chains) -> dict[str, float]:
    """Criteria t2-t3: the stationary spread near x* vs the discrete-time prediction, and its 1/beta scaling."""
    temps, chains, k = run.temps, theory.chains, theory.widths[0]
    near = (run.x - run.x_star).norm(dim=1).reshape(len(temps), chains) < theory.near * float(run.x_star.norm())
    AJ = run.A @ run.J
    out = {"theory_eta_lambda_max": float(run.eta * torch.linalg.eigvalsh(AJ.T @ AJ).max())}
    spreads, ratios = [], []
    for i, beta in enumerate(temps[1:], start=1):
        pooled = run.samples[:, i][:, near[i]].reshape(-1, k)
        value = float((pooled - pooled.mean(dim=0)).pow(2).sum(dim=1).mean()) if len(pooled) else math.nan
        predicted = float(stationary_covariance(run.J, run.A, beta, run.eta).trace())
        name = _beta_name(beta)
        out[f"theory_spread_{name}"] = value
        out[f"theory_spread_pred_{name}"] = predicted
        out[f"theory_spread_laplace_{name}"] = float(torch.linalg.inv(AJ.T @ AJ).trace() / beta)
        out[f"theory_spread_ratio_{name}"] = value / predicted
        spreads.append(value)
        ratios.append(value / predicted)
    out["theory_spread_ratio_max"] = max(ratios)
    out["theory_spread_ratio_min"] = min(ratios)
    if len(spreads) >= 2:  # spread at the first beta over the last: should be the beta ratio
        out["theory_spread_scaling"] = spreads[0] / spreads[-1]
    return out


# ----------------------------------------------------------------------------- practice


def _load_images(config: Config, seed: int) -> tuple[Tensor, Tensor]:
    """Flat images in [-1, 1]: a random train/test split drawn from the seed."""
    gen, data = derive_generator(seed, 2), config.data
    if data.dataset in ("digits", "digits16"):
        images, _ = load_digits()
        if data.dataset == "digits16":  # bilinear upsampling: 256 pixels, the same 1797 digits
            images = F.interpolate(images[:, None], size=(16, 16), mode="bilinear", align_corners=False)
        images = images.reshape(len(images), -1) * 2 - 1
        perm = torch.randperm(len(images), generator=gen)
        train, test = images[perm[: data.train_size]], images[perm[data.train_size :]][: data.test_size]
    else:
        train_all, _ = load_mnist("train")
        test_all, _ = load_mnist("test")
        train = train_all[torch.randperm(len(train_all), generator=gen)[: data.train_size]]
        test = test_all[torch.randperm(len(test_all), generator=gen)[: data.test_size]]
        train, test = (t.reshape(len(t), -1).float() / 127.5 - 1 for t in (train, test))
    return train, test


def _cache_path(config: Config, seed: int) -> Path:
    """The cache file of the models, under ``cache_root()``: keyed by the data, VAE and score blocks and the seed."""
    blocks = {"data": config.data.to_dict(), "vae": config.vae.to_dict(), "score": config.score.to_dict()}
    payload = json.dumps(blocks | {"seed": seed}, sort_keys=True)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return cache_root() / "sgilo" / f"{digest}.pt"


def _normaliser(config: Config, codes: Tensor) -> Normaliser:
    return Normaliser.fit(codes, config.score.normalisation)


def _make_models(config: Config, seed: int, n: int, device: torch.device) -> tuple[MLPVAE, nn.Module]:
    """The untrained VAE and score network, initialised from one global-RNG seed drawn from stream 3."""
    vae_cfg, score_cfg = config.vae, config.score
    with torch_seeded(int(torch.randint(0, 2**62, (1,), generator=derive_generator(seed, 3)))):
        vae = MLPVAE(n, vae_cfg.latent, vae_cfg.code, vae_cfg.g1_hidden, vae_cfg.g2_hidden).to(device)
        if score_cfg.model == "mlp":
            net: nn.Module = ScoreMLP(vae_cfg.code, hidden=score_cfg.hidden)
        else:
            net = FlatScoreViT(vae_cfg.code, score_cfg.vit_tokens, score_cfg.hidden, score_cfg.vit_depth)
        net = net.to(device)
    return vae, net


def _train_models(
    config: Config, seed: int, vae: MLPVAE, net: nn.Module, train: Tensor, log: RunLog
) -> tuple[Tensor, dict[str, float]]:
    """Train the VAE, invert the training images to codes, train the score model; returns the codes."""
    vae_cfg, score_cfg, device = config.vae, config.score, train.device
    info: dict[str, float] = {}
    t = time.perf_counter()
    losses = train_vae(
        vae,
        train,
        vae_cfg.steps,
        vae_cfg.batch,
        vae_cfg.lr,
        device_generator(derive_generator(seed, 4), device),
        callback=lambda s, v: log.metrics(s, **{"vae/loss": v}) if s % 100 == 0 else None,
    )
    if losses:
        check_finite(losses[-1], vae_cfg.steps)
    info["vae_wall_s"] = time.perf_counter() - t
    for p in vae.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        mu, _ = vae.encode(train)
        h0 = vae.G1(mu)
    codes = invert_codes(vae.G2, train, h0, vae_cfg.invert_steps)
    t = time.perf_counter()
    losses = train_score(
        net,
        _normaliser(config, codes)(codes),
        VPSDE(),
        score_cfg.steps,
        score_cfg.batch,
        score_cfg.lr,
        device_generator(derive_generator(seed, 5), device),
        callback=lambda s, v: log.metrics(s, **{"score/loss": v}) if s % 100 == 0 else None,
    )
    if losses:
        check_finite(losses[-1], score_cfg.steps)
        info["score_final_loss"] = sum(losses[-100:]) / len(losses[-100:])
    info["score_wall_s"] = time.perf_counter() - t
    return codes, info


def _build_models(
    config: Config, seed: int, train: Tensor, device: torch.device, log: RunLog
) -> tuple[MLPVAE, nn.Module, Tensor, dict[str, float]]:
    """Train (or load from the cache) the split VAE, the training codes and the score model, then freeze them."""
    vae, net = _make_models(config, seed, train.shape[1], device)
    path = _cache_path(config, seed) if config.cache else None
    if path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=True)
        vae.load_state_dict(state["vae"])
        net.load_state_dict(state["score"])
        codes, info = state["codes"], {"cache_hit": 1.0}
    else:
        codes, info = _train_models(config, seed, vae, net, train, log)
        info["cache_hit"] = 0.0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"vae": vae.state_dict(), "score": net.state_dict(), "codes": codes}, tmp)
            os.replace(tmp, path)
    for p in list(vae.parameters()) + list(net.parameters()):
        p.requires_grad_(False)
    vae.eval()
    net.eval()
    with torch.no_grad():
        mu, _ = vae.encode(train)
        info["repr_mse_z"] = float((vae(mu) - train).pow(2).mean())
        info["repr_mse_h"] = float((vae.G2(codes) - train).pow(2).mean())
    return vae, net, codes, info


def solve(
    config: Config, seed: int, i: int, vae: MLPVAE, net: nn.Module, norm: Normaliser, test: Tensor
) -> dict[str, Tensor]:
    """CSGM, ILO (chosen radius and the radius grid) and SGILO with and without the prior at the i-th m.

    Returns the per-image MSE of each solver (``"ilo_r<radius>"`` for the grid).
    """
    m, n, device, sde = config.measurements[i], test.shape[1], test.device, VPSDE()
    gen = device_generator(derive_generator(seed, 10 + i), device)
    A = GaussianOperator(m, n, derive_generator(seed, 20 + i)).to(device)
    y = A(test) + config.noise_std * torch.randn(test.shape[0], m, generator=gen, device=device)

    def err(x: Tensor) -> Tensor:
        return (x - test).pow(2).mean(dim=1)

    cs = config.csgm
    c = csgm(vae, A, y, config.vae.latent, cs.steps, cs.lr, cs.restarts, cs.weight, gen)
    with torch.no_grad():
        h0 = vae.G1(c.variable)
    errors = {"csgm": err(c.estimate)}
    for r in dict.fromkeys((config.ilo.radii[i], *config.ilo.grid)):
        errors[f"ilo_r{r:g}"] = err(ilo(vae.G2, A, y, h0, r, config.ilo.steps, config.ilo.lr).estimate)
    errors["ilo"] = errors[f"ilo_r{config.ilo.radii[i]:g}"]
    sg, score = config.sgilo, sde.score_from_eps(net)
    for key, lam in (("sgilo", sg.lams[i]), ("sgilo_noprior", 0.0)):
        out = sgilo(
            vae.G2,
            A,
            y,
            h0,
            score,
            norm,
            "faithful",
            lam=lam,
            t0=sg.t0s[i],
            steps=sg.steps,
            lr=sg.lr,
            temperature=sg.temperature,
            average=sg.average,
            sde=sde,
            generator=gen,
        )
        errors[key] = err(out.estimate)
    return errors


def _intervals(config: Config, seed: int, m: int, errors: dict[str, Tensor], best: float) -> dict[str, float]:
    """The 95 % percentile-bootstrap interval (over test images) of SGILO's error ratio to each baseline."""
    out: dict[str, float] = {}
    baselines = {"ilo": errors["ilo"], "ilo_best": errors[f"ilo_r{best:g}"], "prior": errors["sgilo_noprior"]}
    for name, den in baselines.items():  # stream 98: the intervals leave the spread metrics (stream 99) unchanged
        low, high = bootstrap_ratio_interval(errors["sgilo"], den, config.bootstrap, derive_generator(seed, 98))
        out[f"sgilo_{name}_ratio_lo95_m{m}"], out[f"sgilo_{name}_ratio_hi95_m{m}"] = low, high
    return out


def compare(
    config: Config, seed: int, m: int, errors: dict[str, Tensor], log: RunLog, tag: str = "practice"
) -> dict[str, float]:
    """Criteria p1-p5 at one m: SGILO vs ILO, vs the oracle-radius ILO, vs no prior (with intervals); CSGM vs ILO."""
    grid = {r: float(errors[f"ilo_r{r:g}"].mean()) for r in config.ilo.grid}
    values = {key: float(errors[key].mean()) for key in ("csgm", "ilo", "sgilo", "sgilo_noprior")}
    values["ilo_best"] = min(grid.values())
    out: dict[str, float] = {}
    for key, value in values.items():
        check_finite(value, m)
        out[f"{key}_m{m}"] = value
    sg, ilo_err = errors["sgilo"], errors["ilo"]
    out[f"ilo_best_radius_m{m}"] = float(min(grid, key=lambda r: grid[r]))
    out[f"sgilo_ilo_ratio_m{m}"] = values["sgilo"] / values["ilo"]
    out[f"sgilo_ilo_ratio_std_m{m}"] = bootstrap_ratio_std(sg, ilo_err, config.bootstrap, derive_generator(seed, 99))
    out[f"sgilo_ilo_best_ratio_m{m}"] = values["sgilo"] / values["ilo_best"]
    out[f"sgilo_prior_ratio_m{m}"] = values["sgilo"] / values["sgilo_noprior"]
    out[f"sgilo_prior_ratio_std_m{m}"] = bootstrap_ratio_std(
        sg, errors["sgilo_noprior"], config.bootstrap, derive_generator(seed, 99)
    )
    out[f"csgm_ilo_ratio_m{m}"] = values["csgm"] / values["ilo"]
    out[f"sgilo_win_frac_m{m}"] = float((sg < ilo_err).float().mean())
    out.update(_intervals(config, seed, m, errors, out[f"ilo_best_radius_m{m}"]))
    log.metrics(m, **{f"{tag}/{k}": v for k, v in values.items()})
    return out


def practice(config: Config, seed: int, log: RunLog, tag: str = "practice") -> dict[str, float]:
    """The practice part: models, then every m; criterion p4 (the gain is larger at the smaller m)."""
    device = resolve_device(config.device)
    train, test = (t.to(device) for t in _load_images(config, seed))
    vae, net, codes, out = _build_models(config, seed, train, device, log)
    norm = _normaliser(config, codes)
    ratios = []
    for i, m in enumerate(config.measurements):
        out.update(compare(config, seed, m, solve(config, seed, i, vae, net, norm, test), log, tag))
        ratios.append(out[f"sgilo_ilo_ratio_m{m}"])
    if len(ratios) >= 2:
        out["sgilo_ratio_gap"] = ratios[0] - ratios[1]
    return out


def wide_config(config: Config) -> Config:
    """The practice configuration of the wide-code regime: 16x16 digits, code ``wide.code``, the ``wide`` m values."""
    w = config.wide
    return config.replace(
        data=config.data.replace(dataset="digits16"),
        vae=config.vae.replace(code=w.code),
        measurements=w.measurements,
        ilo=config.ilo.replace(radii=w.radii),
        sgilo=config.sgilo.replace(lams=w.lams, t0s=w.t0s),
        wide=WideCode(code=0),
    )


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Run the theory and/or practice parts (and the wide-code regime) for one seed; return their metrics."""
    started = time.perf_counter()
    metrics: dict[str, float] = {}
    if config.part in ("both", "theory"):
        t = time.perf_counter()
        chains = run_chains(config, seed, log)
        metrics.update(localisation(config.theory, chains))
        metrics.update(spread(config.theory, chains))
        metrics["theory_wall_s"] = time.perf_counter() - t
    if config.part in ("both", "practice"):
        t = time.perf_counter()
        metrics.update(practice(config, seed, log))
        metrics["practice_wall_s"] = time.perf_counter() - t
        if config.wide.code > 0:
            t = time.perf_counter()
            metrics.update({f"wide_{k}": v for k, v in practice(wide_config(config), seed, log, "wide").items()})
            metrics["wide_wall_s"] = time.perf_counter() - t
    metrics["run_wall_s"] = time.perf_counter() - started
    return metrics


PAPER = Paper(
    slug="sgilo",
    data={"quick": (), "paper": ("mnist",)},
    config_class=Config,
    presets=PRESETS,
    run=run,
    claim=load_claim("sgilo"),
    components=(
        "inverse.random_relu_generator",
        "inverse.hv_field",
        "inverse.langevin",
        "inverse.stationary_covariance",
        "inverse.GaussianOperator",
        "inverse.PartialCirculant",
        "inverse.Downsampler",
        "inverse.Inpainting",
        "inverse.VPSDE",
        "inverse.dsm_loss",
        "inverse.ScoreMLP",
        "inverse.ScoreViT",
        "inverse.em_reverse_step",
        "inverse.csgm",
        "inverse.ilo",
        "inverse.sgilo",
        "inverse.MLPVAE",
        "inverse.train_vae",
        "inverse.invert_codes",
        "inverse.train_score",
        "inverse.Normaliser",
        "inverse.FlatScoreViT",
        "inverse.device_generator",
        "analysis.bootstrap_ratio_std",
    ),
    curves=(
        Curve(
            "Mean distance of the chains to x*",
            ("theory/dist_gd", "theory/dist_b1000", "theory/dist_b4000"),
            ylabel="||x - x*||",
            logy=True,
        ),
        Curve(
            "Reconstruction MSE per pixel vs measurements m",
            ("practice/csgm", "practice/ilo", "practice/sgilo", "practice/sgilo_noprior"),
            x="step",
            ylabel="MSE",
            logy=True,
        ),
        Curve("Score model DSM loss", ("score/loss",)),
    ),
    summary=(
        "theory_near_frac",
        "theory_spread_ratio_b1000",
        "theory_spread_ratio_b4000",
        "theory_spread_scaling",
        "csgm_m12",
        "ilo_m12",
        "sgilo_m12",
        "sgilo_noprior_m12",
        "ilo_best_m12",
        "sgilo_ilo_ratio_std_m12",
        "csgm_m24",
        "ilo_m24",
        "sgilo_m24",
        "sgilo_noprior_m24",
        "ilo_best_m24",
        "sgilo_ilo_ratio_std_m24",
        "sgilo_ilo_ratio_hi95_m12",
        "sgilo_prior_ratio_hi95_m12",
        "wide_ilo_m5",
        "wide_ilo_best_m5",
        "wide_sgilo_m5",
        "wide_sgilo_noprior_m5",
        "wide_sgilo_ilo_best_ratio_hi95_m5",
        "wide_sgilo_ilo_best_ratio_m13",
        "theory_wall_s",
        "practice_wall_s",
        "wide_wall_s",
    ),
)
