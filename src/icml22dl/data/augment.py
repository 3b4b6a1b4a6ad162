"""Small batched image augmentations on tensors, and the weak/strong pair of SOP+ (no torchvision)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from icml22dl.validation import check_int, check_number


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

    References:
        The standard CIFAR augmentation (He et al., CVPR 2016, Sec. 4.2: 4-pixel padding,
        random 32x32 crop, horizontal flip); torchvision's ``RandomCrop`` + ``RandomHorizontalFlip``.

    Example:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> torch.equal(random_crop_flip(x, 0, flip=False), x)
        True
        >>> out = random_crop_flip(x.repeat(8, 1, 1, 1), 1, generator=torch.Generator().manual_seed(0))
        >>> out.shape, bool((out == 0).any())  # some crops show the zero padding
        (torch.Size([8, 1, 4, 4]), True)
    """
    _check_images(x)
    check_int("padding", padding, low=0)
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


def pad_crop_flip(x: Tensor, padding: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad, crop back to (H, W) at integer offsets from ``torch.randint``, flip left-right with p = 1/2.

    The same augmentation as :func:`random_crop_flip` (torchvision's ``RandomCrop(size,
    padding)`` + ``RandomHorizontalFlip()``, batched) with another draw order: the column
    offsets ``randint(0, 2 padding + 1, (N,))`` first, then the row offsets, then the flips
    ``rand(N) < 1/2``, all on the CPU generator. A seeded run that used this order keeps its
    numbers.

    Args:
        x: (N, C, H, W) images, on any device.
        padding: pad width >= 0 (CIFAR: 4).
        generator: seeded CPU source of randomness.

    Returns:
        (N, C, H, W) augmented images.

    References:
        The standard CIFAR augmentation (He et al., 2016, Sec. 4.2: 4-pixel padding, 32x32
        crop, horizontal flip); the Adai official notebook (zeke-xie/adaptive-inertia-adai)
        trains with ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``.

    Example:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> out = pad_crop_flip(x, 0, torch.Generator().manual_seed(0))
        >>> torch.equal(out, x) or torch.equal(out, x.flip(3))
        True
        >>> pad_crop_flip(torch.ones(2, 3, 8, 8), 2, torch.Generator().manual_seed(1)).shape
        torch.Size([2, 3, 8, 8])
    """
    _check_images(x)
    check_int("padding", padding, low=0)
    n, c, h, w = x.shape
    device = x.device
    padded = F.pad(x, (padding,) * 4)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(device)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(device)
    rows = dy[:, None] + torch.arange(h, device=device)[None, :]  # (N, H)
    cols = dx[:, None] + torch.arange(w, device=device)[None, :]  # (N, W)
    out = padded[
        torch.arange(n, device=device)[:, None, None, None],
        torch.arange(c, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    flip = (torch.rand(n, generator=generator) < 0.5).to(device)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def cutout(x: Tensor, size: int, generator: torch.Generator | None = None, value: float = 0.0) -> Tensor:
    """Set a size x size square (centre uniform over the image, clipped at the border) to ``value`` per image.

    References:
        DeVries & Taylor (2017), "Improved regularization of convolutional neural networks
        with Cutout"; SOP+'s strong view ends with Cutout(16) on CIFAR.

    Example:
        >>> out = cutout(torch.ones(4, 1, 8, 8), 2, torch.Generator().manual_seed(0))
        >>> [int((image == 0).sum()) for image in out]  # a 2x2 square, clipped at the border
        [4, 4, 2, 4]
    """
    _check_images(x)
    check_int("size", size, low=1)
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
        >>> images = torch.rand(4, 3, 32, 32)
        >>> weak, strong = WeakStrongAugment(padding=4, cutout_size=16)(images, torch.Generator().manual_seed(0))
        >>> weak.shape == strong.shape == images.shape, torch.equal(weak, strong)
        (True, False)

    References:
        Liu et al., ICML 2022, Sec. 3.3 (SOP+): the consistency term compares a weak view
        (crop + flip) with a strong one (the official shengliu66/SOP uses AutoAugment's
        CIFAR-10 policy + Cutout(16), DeVries & Taylor 2017).
    """

    def __init__(self, padding: int = 4, flip: bool = True, cutout_size: int = 16, jitter: float = 0.4) -> None:
        check_int("padding", padding, low=0)
        check_int("cutout_size", cutout_size, low=1)
        check_number("jitter", jitter, low=0.0, high=1.0, high_inclusive=False)
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
