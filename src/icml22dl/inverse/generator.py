"""A small generator split at an intermediate layer, G = G2 o G1, trained as a VAE decoder.

SGILO needs a generator whose intermediate layer carries a learnable prior: G1 maps the
latent z to the code h, G2 maps h to the image. Here a small MLP VAE trained on 8x8
digits (or any flat images in [-1, 1]) provides G1 and G2; ``invert_codes`` turns real
images into intermediate codes (the official score models' data source (i)).

References:
    Card 15 quick B: VAE on 1347 digits, latent 4; G1: z(4) -> 128 -> h(32),
    G2: h(32) -> 256 -> 64, tanh.
    Daras et al., "Intermediate Layer Optimization for Inverse Problems using Deep
    Generative Models", ICML 2021 (ILO); Kingma & Welling, "Auto-Encoding Variational
    Bayes", ICLR 2014.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class MLPVAE(nn.Module):
    """An MLP VAE whose decoder is split as G2(G1(z)).

    Math: encoder q(z|x) = N(mu(x), diag exp(logvar(x))); G1: Linear(k, g1) - SiLU -
    Linear(g1, d_h) (the code h is a pre-activation); G2: SiLU - Linear(d_h, g2) - SiLU -
    Linear(g2, n) - tanh. Loss ||G(z) - x||^2 / (2 sigma_x^2) + KL(q || N(0, I)).

    Args:
        n: image dimension (64 for 8x8 digits).
        latent: k (card: 4).
        code: d_h, the intermediate layer (card: 32).
        g1_hidden, g2_hidden: hidden widths of G1 and G2 (card: 128, 256).
        enc_hidden: encoder width.

    Example:
        >>> vae = MLPVAE(64)
        >>> vae.G2(vae.G1(torch.zeros(3, 4))).shape
        torch.Size([3, 64])
    """

    def __init__(
        self, n: int, latent: int = 4, code: int = 32, g1_hidden: int = 128, g2_hidden: int = 256, enc_hidden: int = 256
    ):
        super().__init__()
        for name, value in (
            ("n", n),
            ("latent", latent),
            ("code", code),
            ("g1_hidden", g1_hidden),
            ("g2_hidden", g2_hidden),
            ("enc_hidden", enc_hidden),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        self.n, self.latent, self.code = n, latent, code
        self.encoder = nn.Sequential(
            nn.Linear(n, enc_hidden),
            nn.SiLU(),
            nn.Linear(enc_hidden, enc_hidden),
            nn.SiLU(),
            nn.Linear(enc_hidden, 2 * latent),
        )
        self.G1 = nn.Sequential(nn.Linear(latent, g1_hidden), nn.SiLU(), nn.Linear(g1_hidden, code))
        self.G2 = nn.Sequential(nn.SiLU(), nn.Linear(code, g2_hidden), nn.SiLU(), nn.Linear(g2_hidden, n), nn.Tanh())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 6.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G2(self.G1(z))

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None, sigma_x: float = 0.1) -> torch.Tensor:
        """Negative ELBO per example (up to constants), averaged over the batch."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        recon = (self(z) - x).pow(2).sum(dim=1) / (2 * sigma_x**2)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        return (recon + kl).mean()


def train_vae(
    vae: MLPVAE,
    images: torch.Tensor,
    steps: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    sigma_x: float = 0.1,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``vae`` by Adam on minibatches of flat ``images`` (n_images, n); returns the losses."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r} must be an integer >= 0")
    optimiser = torch.optim.Adam(vae.parameters(), lr=lr)
    losses = []
    for step in range(1, steps + 1):
        idx = torch.randint(
            0, images.shape[0], (min(batch_size, images.shape[0]),), generator=generator, device=images.device
        )
        loss = vae.loss(images[idx], generator, sigma_x)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    return losses


def invert_codes(G2: nn.Module, x: torch.Tensor, h0: torch.Tensor, steps: int = 200, lr: float = 0.05) -> torch.Tensor:
    """Intermediate codes of real images: h = argmin ||G2(h) - x||^2 by Adam from h0.

    Batched: each image's loss is separate, and Adam acts per coordinate, so one Adam run
    on the summed loss equals independent runs.

    References:
        Card 15 quick B: h after 200 Adam steps of h-inversion (representation error
        0.0105 per pixel); SGILO's score data (i), codes of real images.
    """
    h = h0.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([h], lr=lr)
    for _ in range(steps):
        loss = (G2(h) - x).pow(2).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return h.detach()
