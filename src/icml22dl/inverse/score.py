"""Score models in an intermediate layer: VP-SDE, denoising score matching, EM reverse step.

SGILO learns the distribution of a generator's intermediate codes h = G1(z) (or of the
latents w+) with a score-based model under the variance-preserving SDE
dx = -1/2 beta(t) x dt + sqrt(beta(t)) dw, beta(t) = beta_min + t (beta_max - beta_min),
and uses one reverse-SDE step at a small time t0 as a prior nudge inside intermediate
layer optimisation.

References:
    Daras, Dagan, Dimakis, Daskalakis, "Score-Guided Intermediate Layer Optimization",
    ICML 2022 (official score configs: VP-SDE beta_min 0.1, beta_max 20, N 1000,
    continuous t, ViT with patch size 1, depth 8, 1 head, d_model 1024; hot sampler at
    t0 = 0.01).
    Song, Sohl-Dickstein, Kingma, Kumar, Ermon, Poole, "Score-Based Generative Modeling
    through Stochastic Differential Equations", ICLR 2021 (VP-SDE, Euler-Maruyama
    predictor, likelihood weighting).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from icml22dl.validation import check_choice, check_int, check_number

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NORMALISATIONS = ("minmax", "standard")


class VPSDE:
    """The variance-preserving SDE of Song et al. (2021).

    Math: beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1];
    x_t | x_0 ~ N(alpha(t) x_0, (1 - alpha(t)^2) I) with
    log alpha(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2;
    forward drift -beta(t) x / 2, diffusion sqrt(beta(t)); N discretisation steps.

    Args:
        beta_min: > 0 (official 0.1).
        beta_max: > beta_min (official 20).
        N: number of discretisation steps >= 1 (official 1000).

    Example:
        >>> sde = VPSDE()
        >>> round(sde.beta(torch.tensor(0.01)).item(), 3)
        0.299

    References:
        SGILO official score configs (``beta_min 0.1, beta_max 20, num_scales 1000``);
        Song et al. (ICLR 2021), Eq. 11 and Appendix B.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, N: int = 1000):
        check_number("beta_min", beta_min, low=0.0, low_inclusive=False)
        check_number("beta_max", beta_max, low=beta_min, low_inclusive=False)
        check_int("N", N, low=1)
        self.beta_min, self.beta_max, self.N = float(beta_min), float(beta_max), N

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha(t), sigma(t)): mean coefficient and std of x_t given x_0."""
        log_alpha = self.log_alpha(t)
        return torch.exp(log_alpha), torch.sqrt(-torch.expm1(2.0 * log_alpha))

    def sde(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward drift and diffusion at (x, t); t has the batch shape of x."""
        beta = _expand(self.beta(t), x)
        return -0.5 * beta * x, torch.sqrt(beta)

    def score_from_eps(self, eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> ScoreFn:
        """The score s(x, t) = -eps_model(x, t) / sigma(t) of an epsilon-prediction model."""

        def score(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return -eps_model(x, t) / _expand(self.marginal(t)[1], x)

        return score


def _expand(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-example tensor (batch,) or a scalar over the trailing dims of x."""
    v = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    if v.dim() == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (x.dim() - 1)))


def em_reverse_step(
    score: ScoreFn,
    x: torch.Tensor,
    t: float | torch.Tensor,
    sde: VPSDE | None = None,
    generator: torch.Generator | None = None,
    noise: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler-Maruyama step of the reverse-time VP-SDE from time t to t - 1/N.

    Math: with dt = -1/N, reverse drift f - g^2 s = -beta x / 2 - beta s, so
    x_mean = x + (beta(t) / N) (x / 2 + s(x, t)) and x' = x_mean + sqrt(beta(t) / N) z.
    SGILO's score nudge is Delta = x_mean - x at t0 = 0.01.

    Args:
        score: s(x, t) with t of shape (batch,).
        x: batch, shape (batch, ...).
        t: the time, a float in (0, 1] or a tensor of shape (batch,).
        sde: the VP-SDE (default ``VPSDE()``, the official constants).
        generator: torch generator of the noise z.
        noise: add sqrt(beta / N) z (True) or return x_mean twice (False).

    Returns:
        ``(x_next, x_mean)``.

    Example:
        >>> x = torch.ones(2, 3)
        >>> _, mean = em_reverse_step(lambda x, t: -x, x, 0.5, noise=False)
        >>> round(mean[0, 0].item(), 6) == round(1 - 10.05 / 1000 / 2, 6)
        True

    References:
        SGILO official ``hot_pc_sampler`` (one Euler-Maruyama predictor step at t0; the
        Langevin corrector at snr 1e-4 is negligible); Song et al. (ICLR 2021), Alg. 2.
    """
    sde = VPSDE() if sde is None else sde
    t_vec = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if bool((t_vec <= 0).any()) or bool((t_vec > 1).any()):
        raise ValueError(f"t={t} must lie in (0, 1]")
    if t_vec.dim() == 0:
        t_vec = t_vec.expand(x.shape[0])
    beta = _expand(sde.beta(t_vec), x)
    x_mean = x + beta / sde.N * (0.5 * x + score(x, t_vec))
    if not noise:
        return x_mean, x_mean
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x_mean + torch.sqrt(beta / sde.N) * z, x_mean


def fourier_time_features(t: torch.Tensor, count: int, max_freq: float = 64.0) -> torch.Tensor:
    """(batch, count) sin/cos features of t at geometric frequencies 1 .. max_freq.

    Math: f_j = max_freq^(j / (count/2 - 1)), j = 0 .. count/2 - 1; the features are
    [sin(2 pi f_j t), cos(2 pi f_j t)].

    Example:
        >>> fourier_time_features(torch.zeros(3), 4).tolist()[0]  # sin 0 = 0, cos 0 = 1
        [0.0, 0.0, 1.0, 1.0]

    References:
        Song et al. (ICLR 2021), Gaussian Fourier time embeddings of score models (here at
        fixed geometric frequencies).
    """
    half = count // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), half, dtype=t.dtype, device=t.device))
    angles = 2 * math.pi * t[:, None] * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ScoreMLP(nn.Module):
    """Epsilon-prediction MLP for flat codes: [x, Fourier(t)] -> hidden x layers (SiLU) -> eps.

    Math: eps_theta(x_t, t) ~ z where x_t = alpha(t) x_0 + sigma(t) z; the score is
    -eps_theta / sigma(t) (``VPSDE.score_from_eps``).

    Args:
        dim: code dimension (>= 1).
        hidden: hidden width (>= 1).
        layers: hidden layers (>= 1).
        time_features: even number of Fourier features of t (>= 2).

    Example:
        >>> ScoreMLP(32)(torch.zeros(5, 32), torch.rand(5)).shape
        torch.Size([5, 32])

    References:
        Song et al. (ICLR 2021), epsilon-prediction under the VP-SDE; the MLP (32 + 16
        Fourier time features -> 3 x 256 SiLU -> 32) is the quick preset's small stand-in for
        the official ViT (docs/papers/sgilo.md#defaults).
    """

    def __init__(self, dim: int, hidden: int = 256, layers: int = 3, time_features: int = 16):
        super().__init__()
        for name, value, low in (
            ("dim", dim, 1),
            ("hidden", hidden, 1),
            ("layers", layers, 1),
            ("time_features", time_features, 2),
        ):
            check_int(name, value, low=low)
        if time_features % 2:
            raise ValueError(f"time_features={time_features} must be even")
        self.time_features = time_features
        blocks: list[nn.Module] = []
        width = dim + time_features
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        blocks.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, fourier_time_features(t, self.time_features)], dim=1))


class ScoreViT(nn.Module):
    """Epsilon-prediction Vision Transformer with patch size 1: one token per spatial position.

    Math: a code of shape (C, H, W) becomes H*W tokens of dimension C (a w+ latent
    (18, 512) is 18 tokens); tokens -> Linear(C, d_model) + learned position + time
    embedding -> ``depth`` pre-norm Transformer blocks -> Linear(d_model, C).

    Args:
        channels: C, the token dimension (>= 1).
        tokens: number of tokens H*W (>= 1).
        d_model: width (official 1024).
        depth: blocks (official 8).
        heads: attention heads, dividing d_model (official 1).
        patch: must be 1 (official).
        mlp_ratio: feed-forward width / d_model.

    Example:
        >>> net = ScoreViT(channels=8, tokens=16, d_model=32, depth=1, heads=1)
        >>> net(torch.zeros(2, 8, 4, 4), torch.rand(2)).shape
        torch.Size([2, 8, 4, 4])

    References:
        SGILO official score ``models.py`` (ViT, patch size 1, depth 8, 1 head, d_model
        1024; the layer1 model, 512 x 4 x 4, has 70.4 M parameters).
    """

    def __init__(
        self,
        channels: int,
        tokens: int,
        d_model: int = 1024,
        depth: int = 8,
        heads: int = 1,
        patch: int = 1,
        mlp_ratio: float = 4.0,
        time_features: int = 64,
    ):
        super().__init__()
        if patch != 1:
            raise ValueError(f"patch={patch!r}: only patch size 1 is implemented (the official setting)")
        for name, value in (
            ("channels", channels),
            ("tokens", tokens),
            ("d_model", d_model),
            ("depth", depth),
            ("heads", heads),
        ):
            check_int(name, value, low=1)
        if d_model % heads:
            raise ValueError(f"heads={heads} must divide d_model={d_model}")
        self.channels, self.tokens, self.time_features = channels, tokens, time_features
        self.embed = nn.Linear(channels, d_model)
        self.position = nn.Parameter(torch.zeros(1, tokens, d_model))
        nn.init.normal_(self.position, std=0.02)
        self.time = nn.Sequential(nn.Linear(time_features, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, int(mlp_ratio * d_model), dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        if x.dim() == 4:  # (B, C, H, W) -> (B, H*W, C)
            tokens = x.flatten(2).transpose(1, 2)
        elif x.dim() == 3:  # (B, T, C)
            tokens = x
        else:
            raise ValueError(f"x.shape={tuple(shape)} must be (B, C, H, W) or (B, T, C)")
        if tokens.shape[1:] != (self.tokens, self.channels):
            raise ValueError(f"x.shape={tuple(shape)} must hold {self.tokens} tokens of dimension {self.channels}")
        h = self.embed(tokens) + self.position + self.time(fourier_time_features(t, self.time_features))[:, None]
        out = self.head(self.norm(self.blocks(h)))
        if x.dim() == 4:
            return out.transpose(1, 2).reshape(shape)
        return out


class FlatScoreViT(nn.Module):
    """A :class:`ScoreViT` on flat codes: ``(B, d)`` read as ``tokens`` tokens of ``d / tokens`` entries.

    Math: u in R^d is reshaped to (tokens, d / tokens), passed through the patch-size-1
    ViT, and flattened back; eps_theta(u, t) has the shape of u. A generator's flat
    intermediate code (an MLP layer) thus gets the official token-per-position score model.

    Args:
        code: d, the flat code dimension (>= 1), divisible by ``tokens``.
        tokens: number of tokens (>= 1).
        d_model: ViT width.
        depth: Transformer blocks.
        heads: attention heads, dividing ``d_model`` (official 1).

    Example:
        >>> net = FlatScoreViT(code=32, tokens=16, d_model=16, depth=1)
        >>> net(torch.zeros(3, 32), torch.rand(3)).shape
        torch.Size([3, 32])

    References:
        SGILO (Daras et al., ICML 2022) official score ``models.py`` (ViT, patch size 1, one
        token per spatial position); the flat-code reading is the MNIST GPU check of
        docs/papers/sgilo.md#defaults.
    """

    def __init__(self, code: int, tokens: int, d_model: int = 256, depth: int = 4, heads: int = 1):
        super().__init__()
        check_int("code", code, low=1)
        check_int("tokens", tokens, low=1)
        if code % tokens:
            raise ValueError(f"tokens={tokens} must divide code={code}")
        self.tokens, self.channels = tokens, code // tokens
        self.vit = ScoreViT(self.channels, tokens, d_model=d_model, depth=depth, heads=heads)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.vit(x.reshape(x.shape[0], self.tokens, self.channels), t).reshape(x.shape)


def dsm_loss(
    eps_model: nn.Module,
    x0: torch.Tensor,
    sde: VPSDE,
    generator: torch.Generator | None = None,
    eps: float = 1e-3,
    weighting: str = "eps",
) -> torch.Tensor:
    """Denoising score matching loss under the VP-SDE (continuous t).

    Math: t ~ U(eps, 1), z ~ N(0, I), x_t = alpha(t) x_0 + sigma(t) z;
    ``weighting="eps"``: E ||eps_theta(x_t, t) - z||^2 (= sigma^2-weighted score matching);
    ``weighting="likelihood"``: E beta(t) / sigma(t)^2 ||eps_theta - z||^2
    (= g(t)^2 ||s_theta - grad log p_t||^2, Song et al. 2021's likelihood weighting).
    Averaged over the batch and the code's entries.

    Args:
        eps_model: eps_theta(x, t).
        x0: clean codes, shape (batch, ...).
        sde: the VP-SDE.
        generator: torch generator of t and z.
        eps: smallest time (official 1e-3).
        weighting: ``"eps"`` or ``"likelihood"`` (official: likelihood weighting).

    Returns:
        The scalar loss.

    Example:
        >>> loss = dsm_loss(lambda x, t: torch.zeros_like(x), torch.zeros(2000, 8), VPSDE(),
        ...                 torch.Generator().manual_seed(0))
        >>> 0.95 < loss.item() < 1.05  # E ||z||^2 / d = 1 for a model that predicts 0
        True

    References:
        SGILO official score training (VP-SDE, continuous, likelihood weighting; the
        training code is not released); Song et al. (ICLR 2021), Eq. 7.
    """
    check_choice("weighting", weighting, ("eps", "likelihood"))
    check_number("eps", eps, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    batch = x0.shape[0]
    t = eps + (1.0 - eps) * torch.rand(batch, generator=generator, dtype=x0.dtype, device=x0.device)
    z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    alpha, sigma = sde.marginal(t)
    xt = _expand(alpha, x0) * x0 + _expand(sigma, x0) * z
    err = (eps_model(xt, t) - z).pow(2).reshape(batch, -1).mean(dim=1)
    if weighting == "likelihood":
        err = err * sde.beta(t) / sigma**2
    return err.mean()


def train_score(
    eps_model: nn.Module,
    codes: torch.Tensor,
    sde: VPSDE,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    weighting: str = "eps",
    eps: float = 1e-3,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Fit ``eps_model`` to ``codes`` by Adam on :func:`dsm_loss`; returns the loss per step.

    Each step draws a minibatch of ``min(batch_size, len(codes))`` codes with replacement
    (``torch.randint`` on ``generator``), then t and z inside :func:`dsm_loss` from the same
    generator, and takes one Adam step.

    Args:
        eps_model: eps_theta(x, t), trained in place.
        codes: training codes (n, ...), already normalised.
        sde: the VP-SDE.
        steps: Adam steps (>= 0).
        batch_size: minibatch size (>= 1).
        lr: Adam learning rate.
        generator: random source of the minibatches, t and z (on the codes' device).
        weighting: ``"eps"`` or ``"likelihood"`` (see :func:`dsm_loss`).
        eps: smallest time.
        callback: called as ``callback(step, loss)`` after every step.

    Returns:
        The loss of every step.

    Example:
        >>> net = ScoreMLP(2, hidden=8, layers=1)
        >>> losses = train_score(net, torch.randn(32, 2), VPSDE(), 5, 16, generator=torch.Generator().manual_seed(0))
        >>> len(losses)
        5

    References:
        SGILO (Daras et al., ICML 2022): a score model of the intermediate codes (the official
        training code is not released); quick preset 1500 steps, batch 256, Adam 1e-3
        (docs/papers/sgilo.md#defaults).
    """
    check_int("steps", steps, low=0)
    check_int("batch_size", batch_size, low=1)
    optimiser = torch.optim.Adam(eps_model.parameters(), lr=lr)
    losses = []
    for step in range(1, steps + 1):
        idx = torch.randint(
            0, codes.shape[0], (min(batch_size, codes.shape[0]),), generator=generator, device=codes.device
        )
        loss = dsm_loss(eps_model, codes[idx], sde, generator, eps=eps, weighting=weighting)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    return losses


@dataclass(frozen=True)
class Normaliser:
    """Affine code normalisation u~ = (u - shift) / scale with global or per-entry constants.

    ``Normaliser.minmax(codes)`` maps to [0, 1] with the global min and max (official:
    gen_min -1.4007, gen_max 2.3453 for layer codes); ``Normaliser.standard(codes)`` uses
    per-entry mean and std (the quick preset, docs/papers/sgilo.md#defaults);
    ``Normaliser.fit(codes, kind)`` picks one by name.

    Example:
        >>> norm = Normaliser.fit(torch.tensor([[0.0], [2.0], [4.0]]), "minmax")
        >>> norm(torch.tensor([[2.0]])), norm.inverse(torch.tensor([[1.0]]))
        (tensor([[0.5000]]), tensor([[4.]]))

    References:
        SGILO official ``configs`` (min-max normalisation with global constants: gen_min,
        gen_max, latent_min, latent_max).
    """

    shift: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def minmax(cls, codes: torch.Tensor) -> Normaliser:
        lo, hi = codes.min(), codes.max()
        return cls(lo, (hi - lo).clamp_min(1e-12))

    @classmethod
    def standard(cls, codes: torch.Tensor) -> Normaliser:
        return cls(codes.mean(dim=0), codes.std(dim=0).clamp_min(1e-6))

    @classmethod
    def fit(cls, codes: torch.Tensor, kind: str = "minmax") -> Normaliser:
        """The normaliser of ``kind`` (``"minmax"``, the official choice, or ``"standard"``) fitted to ``codes``."""
        check_choice("kind", kind, NORMALISATIONS)
        return cls.standard(codes) if kind == "standard" else cls.minmax(codes)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return (u - self.shift) / self.scale

    def inverse(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.scale + self.shift
