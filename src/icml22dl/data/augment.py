"""Small batched image augmentations on tensors, and the weak/strong pair of SOP+ (no torchvision)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_images(x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.rand(n, generator=generator).to(device)


def random_crop_flip(x: Tensor, padding: int, flip: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad by ``padding``, crop back to (H, W) at a random offset per image, flip horizontally with p = 1/2.

    Args:
        x: (N, C, H, W) images.
        padding: pad width >= 0 (CIFAR: 4).
        flip: also flip left-right with probability 1/2.
        generator: seeded source of randomness.

    Returns:
        (N, C, H, W) augmented images.
    """
    _check_images(x)
    if padding < 0:
        raise ValueError(f"padding={padding} must be >= 0")
    n, _, h, w = x.shape
    out = x
    if padding:
        padded = F.pad(x, (padding,) * 4)
        dy = (_rand(n, generator, x.device) * (2 * padding + 1)).long().clamp_max(2 * padding)
        dx = (_rand(n, generator, x.device) * (2 * padding + 1)).long().clamp_max(2 * padding)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(
            -1, x.shape[1], -1, w + 2 * padding
        )
        out = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(-1, x.shape[1], h, -1)
        out = out.gather(3, cols)
    if flip:
        mirror = _rand(n, generator, x.device) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out


def cutout(x: Tensor, size: int, generator: torch.Generator | None = None, value: float = 0.0) -> Tensor:
    """Set a size x size square (centre uniform over the image, clipped at the border) to ``value`` per image.

    References: DeVries & Taylor (2017); SOP+'s strong view ends with Cutout(16) on CIFAR.
    """
    _check_images(x)
    if size < 1:
        raise ValueError(f"size={size} must be >= 1")
    n, _, h, w = x.shape
    cy = (_rand(n, generator, x.device) * h).long()
    cx = (_rand(n, generator, x.device) * w).long()
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    inside_y = (ys[None] >= (cy - size // 2)[:, None]) & (ys[None] < (cy - size // 2 + size)[:, None])
    inside_x = (xs[None] >= (cx - size // 2)[:, None]) & (xs[None] < (cx - size // 2 + size)[:, None])
    mask = inside_y[:, None, :, None] & inside_x[:, None, None, :]
    return x.masked_fill(mask, value)


class WeakStrongAugment:
    """Two views of a batch: weak = crop + flip; strong = weak + brightness/contrast jitter + cutout.

    A small stand-in for SOP+'s AutoAugment + Cutout strong view (no torchvision here).

    Args:
        padding: crop padding (CIFAR 4; 8x8 digits 1).
        flip: horizontal flips (off for digits).
        cutout_size: side of the cutout square (CIFAR 16).
        jitter: maximal relative brightness and contrast change of the strong view.

    Example:
        >>> weak, strong = WeakStrongAugment(padding=4, cutout_size=16)(images, generator)  # doctest: +SKIP
    """

    def __init__(self, padding: int = 4, flip: bool = True, cutout_size: int = 16, jitter: float = 0.4) -> None:
        if padding < 0 or cutout_size < 1 or not 0 <= jitter < 1:
            raise ValueError(
                f"need padding >= 0, cutout_size >= 1, 0 <= jitter < 1; got {padding}, {cutout_size}, {jitter}"
            )
        self.padding, self.flip, self.cutout_size, self.jitter = padding, flip, cutout_size, jitter

    def weak(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return random_crop_flip(x, self.padding, self.flip, generator)

    def strong(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out = random_crop_flip(x, self.padding, self.flip, generator)
        n = x.shape[0]
        bright = 1 + self.jitter * (2 * _rand(n, generator, x.device) - 1)
        contrast = 1 + self.jitter * (2 * _rand(n, generator, x.device) - 1)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * contrast[:, None, None, None] + mean * bright[:, None, None, None]
        return cutout(out, self.cutout_size, generator)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        return self.weak(x, generator), self.strong(x, generator)
