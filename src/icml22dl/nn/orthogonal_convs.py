"""Competing (approximately) orthogonal convolutions, the baselines of the paraunitary paper.

- :class:`CayleyConv2d`: Cayley transform of a skew-Hermitian matrix per FFT frequency
  (Trockman & Kolter 2021): exactly orthogonal for circular convolution at the input size.
- :class:`SOCConv2d`: skew-orthogonal convolution, exp of a skew-symmetric convolution by a
  truncated Taylor series (Singla & Feizi 2021): orthogonal up to the truncation error.
- :class:`RKOConv2d`: reshaped-kernel orthogonalisation, scaled by 1/k to be 1-Lipschitz:
  not norm-preserving (norm ratio about 1/k on random inputs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.validation import check_int

__all__ = ["CayleyConv2d", "RKOConv2d", "SOCConv2d"]


def _check_channels(channels: int, kernel_size: int, name: str = "channels") -> None:
    check_int(name, channels, low=1)
    check_int("kernel_size", kernel_size, low=1)


class CayleyConv2d(nn.Module):
    """Orthogonal circular convolution (stride 1, C -> C) by an FFT Cayley transform.

    Math: per frequency w of the n x n input, A(w) = alpha W_hat(w) / ||W_hat||_F,
    S = A - A^H, Q(w) = (I + S)^{-1} (I - S) (unitary); y_hat(w) = Q(w) x_hat(w).

    Args:
        channels: C; kernel_size: k (the kernel lives in an n x n circular grid);
        generator: torch generator of the initial kernel.

    Example:
        >>> conv = CayleyConv2d(4, 3, generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(2, 4, 8, 8)
        >>> bool(torch.allclose(conv(x).norm(), x.norm(), rtol=1e-5))  # norm-preserving
        True

    References:
        Trockman & Kolter, Orthogonalizing convolutional layers with the Cayley transform
        (ICLR 2021); locuslab/orthogonal-convolutions (alpha = ||W|| at the first forward).
    """

    def __init__(self, channels: int, kernel_size: int = 3, generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_channels(channels, kernel_size)
        self.channels, self.kernel_size = channels, kernel_size
        std = 1 / math.sqrt(channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(channels, channels, kernel_size, kernel_size, generator=generator) * std)
        self.alpha = nn.Parameter(self.weight.detach().norm().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, n1, n2 = x.shape
        if c != self.channels or n1 < self.kernel_size or n2 < self.kernel_size:
            raise ValueError(f"x must be (B, {self.channels}, n, n) with n >= {self.kernel_size}, got {tuple(x.shape)}")
        w_hat = torch.fft.rfft2(self.weight, s=(n1, n2)).permute(2, 3, 0, 1)  # (n1, n2//2+1, C, C)
        a = self.alpha * w_hat / self.weight.norm()
        skew = a - a.conj().transpose(-2, -1)
        eye = torch.eye(c, dtype=skew.dtype, device=skew.device)
        q = torch.linalg.solve(eye + skew, eye - skew)
        x_hat = torch.fft.rfft2(x).permute(2, 3, 1, 0)  # (n1, n2//2+1, C, B)
        y_hat = (q @ x_hat).permute(3, 2, 0, 1)
        return torch.fft.irfft2(y_hat, s=(n1, n2))


class SOCConv2d(nn.Module):
    """Skew-orthogonal convolution: y = exp(conv_S) x by ``terms`` Taylor terms (zero padding, same size).

    Math: S = W - flip(W^T) (conv_S is skew-symmetric), rescaled so that ||conv_S||_2 ~ 1
    (20 power iterations on the zero-padded operator at the input size, an estimate from
    below); y = sum_{i<=T} conv_S^i x / i!.

    Args:
        channels: C; kernel_size: k (odd); terms: Taylor terms in training mode (official 5 in
        training; ``eval_terms`` in eval mode, official 10); generator: torch generator.

    Example:
        >>> conv = SOCConv2d(4, 3, generator=torch.Generator().manual_seed(0)).eval()
        >>> x = torch.randn(2, 4, 8, 8)
        >>> bool(abs(conv(x).norm() / x.norm() - 1) < 0.05)  # orthogonal up to the truncation
        True

    References:
        Singla & Feizi, Skew orthogonal convolutions (ICML 2021), singlasahil14/SOC.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        terms: int = 5,
        eval_terms: int = 10,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_channels(channels, kernel_size)
        check_int("terms", terms, low=1)
        check_int("eval_terms", eval_terms, low=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd")
        self.channels, self.kernel_size, self.terms, self.eval_terms = channels, kernel_size, terms, eval_terms
        std = 1 / math.sqrt(channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(channels, channels, kernel_size, kernel_size, generator=generator) * std)

    def skew_kernel(self, size: tuple[int, ...]) -> torch.Tensor:
        """The skew-symmetric kernel ``W - flip(W^T)`` scaled to spectral norm about 1 at input ``size``."""
        s = self.weight - self.weight.transpose(0, 1).flip(2, 3)
        with torch.no_grad():
            v = torch.randn(
                1,
                self.channels,
                *size,
                dtype=s.dtype,
                device=s.device,
                generator=torch.Generator(device=s.device).manual_seed(0),
            )
            for _ in range(20):
                v = F.conv2d(v, s, padding=self.kernel_size // 2)
                norm = v.norm()
                v = v / norm
        return s / norm.clamp_min(1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.skew_kernel(tuple(x.shape[-2:]))
        out, term = x, x
        for i in range(1, (self.terms if self.training else self.eval_terms) + 1):
            term = F.conv2d(term, s, padding=self.kernel_size // 2) / i
            out = out + term
        return out


class RKOConv2d(nn.Module):
    """Reshaped-kernel orthogonalisation: the (C_out, C_in k^2) matrix of the kernel made
    orthonormal (polar factor), scaled by 1/k so the zero-padded conv is 1-Lipschitz.

    Args:
        in_channels, out_channels: channels; kernel_size: k (odd, "same" zero padding);
        generator: torch generator of the initial kernel.

    Example:
        >>> conv = RKOConv2d(4, 4, 3, generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(2, 4, 8, 8)
        >>> bool(conv(x).norm() < 0.6 * x.norm())  # 1-Lipschitz but far from norm-preserving
        True

    References:
        Cisse et al. (2017); Singla & Feizi (2021) "RKO" baseline (norm ratio about 1/k).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        _check_channels(in_channels, kernel_size, "in_channels")
        check_int("out_channels", out_channels, low=1)
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size, generator=generator)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mat = self.weight.reshape(self.weight.shape[0], -1)
        u, _, vh = torch.linalg.svd(mat, full_matrices=False)
        kernel = (u @ vh).reshape(self.weight.shape) / self.kernel_size
        return F.conv2d(x, kernel, padding=self.kernel_size // 2)
