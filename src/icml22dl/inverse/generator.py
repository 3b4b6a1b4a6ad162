"""A small generator split at an intermediate layer, G = G2 o G1, trained as a VAE decoder.

SGILO needs a generator whose intermediate layer carries a learnable prior: G1 maps the
latent z to the code h, G2 maps h to the image. Here a small MLP VAE trained on 8x8
digits (or any flat images in [-1, 1]) provides G1 and G2; ``invert_codes`` turns real
images into intermediate codes (the official score models' data source (i)).

References:
    The SGILO experiment's stand-in for StyleGAN2 (docs/papers/sgilo.md#defaults): a VAE on
    1347 digits, latent 4; G1: z(4) -> 128 -> h(32), G2: h(32) -> 256 -> 64, tanh.
    Daras et al., "Intermediate Layer Optimization for Inverse Problems using Deep
    Generative Models", ICML 2021 (ILO); Kingma & Welling, "Auto-Encoding Variational
    Bayes", ICLR 2014.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from icml22dl.validation import check_int, check_number


class MLPVAE(nn.Module):
    """An MLP VAE whose decoder is split as G2(G1(z)).

    Math: encoder q(z|x) = N(mu(x), diag exp(logvar(x))); G1: Linear(k, g1) - SiLU -
    Linear(g1, d_h) (the code h is a pre-activation); G2: SiLU - Linear(d_h, g2) - SiLU -
    Linear(g2, n) - tanh. Loss ||G(z) - x||^2 / (2 sigma_x^2) + KL(q || N(0, I)).

    Args:
        n: image dimension (64 for 8x8 digits).
        latent: k (quick preset: 4).
        code: d_h, the intermediate layer (quick preset: 32).
        g1_hidden, g2_hidden: hidden widths of G1 and G2 (quick preset: 128, 256).
        enc_hidden: encoder width.

    Example:
        >>> vae = MLPVAE(64)
        >>> vae.G2(vae.G1(torch.zeros(3, 4))).shape
        torch.Size([3, 64])

    References:
        Kingma & Welling (ICLR 2014), the VAE; the split G = G2 o G1 at an intermediate
        layer is SGILO's (Daras et al., ICML 2022, Sec. 4); sizes of the quick preset
        (docs/papers/sgilo.md#defaults).
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
            check_int(name, value, low=1)
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
    """Train ``vae`` by Adam on minibatches of flat ``images`` (n_images, n); returns the losses.

    Each step draws ``min(batch_size, n_images)`` images with replacement (``torch.randint``
    on ``generator``), then the reparameterisation noise from the same generator, and takes
    one Adam step on :meth:`MLPVAE.loss`.

    Args:
        vae: the model, trained in place.
        images: flat images in [-1, 1], shape (n_images, n).
        steps: Adam steps (>= 0).
        batch_size: minibatch size (>= 1).
        lr: Adam learning rate.
        generator: random source of the minibatches and the noise (on the images' device).
        sigma_x: decoder noise std of the Gaussian likelihood.
        callback: called as ``callback(step, loss)`` after every step.

    Returns:
        The loss of every step.

    Example:
        >>> vae = MLPVAE(8, latent=2, code=4, g1_hidden=8, g2_hidden=8, enc_hidden=8)
        >>> len(train_vae(vae, torch.rand(16, 8) * 2 - 1, 3, generator=torch.Generator().manual_seed(0)))
        3

    References:
        Kingma & Welling (ICLR 2014), the ELBO; quick preset 3000 Adam steps, batch 128,
        lr 1e-3 (docs/papers/sgilo.md#defaults).
    """
    check_int("steps", steps, low=0)
    check_int("batch_size", batch_size, low=1)
    check_number("lr", lr, low=0.0, low_inclusive=False)
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

    Args:
        G2: the generator's second part, h -> flat image.
        x: the images, shape (batch, n).
        h0: starting codes (batch, d_h), e.g. G1 of the encoder mean.
        steps: Adam steps (>= 0).
        lr: Adam learning rate.

    Returns:
        The codes after ``steps`` steps (detached).

    Example:
        >>> G2 = nn.Linear(2, 2, bias=False)
        >>> with torch.no_grad():
        ...     _ = G2.weight.copy_(torch.eye(2))
        >>> invert_codes(G2, torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2), steps=300).round(decimals=3)
        tensor([[ 1., -1.]])

    References:
        SGILO (Daras et al., ICML 2022): the score models' data source (i), codes of real
        images; quick preset 200 Adam steps (docs/papers/sgilo.md#defaults).
    """
    check_int("steps", steps, low=0)
    h = h0.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([h], lr=lr)
    for _ in range(steps):
        loss = (G2(h) - x).pow(2).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return h.detach()
