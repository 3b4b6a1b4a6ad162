"""Linear forward operators of inverse problems: y = A x (+ noise).

Every operator maps a batch of signals of shape ``(..., *in_shape)`` to measurements of
shape ``(..., *out_shape)`` and provides ``adjoint`` (A^T) and ``pinv`` (A^dagger), so the
solvers never materialise A when they need not. ``matrix()`` returns the dense A (for
tests and small problems).

References:
    Daras, Dagan, Dimakis, Daskalakis, "Score-Guided Intermediate Layer Optimization: Fast
    Langevin Mixing for Inverse Problems", ICML 2022 (SGILO): compressed sensing with a
    Gaussian or partial-circulant A, inpainting, super-resolution (official default:
    ``downsampler`` x16, 1024^2 -> 64^2, ``configs/solve_inverse.yaml``).
    Bora, Jalal, Price, Dimakis, "Compressed Sensing using Generative Models", ICML 2017
    (A with i.i.d. N(0, 1/m) entries).
"""

from __future__ import annotations

import math

import torch

from icml22dl.validation import check_int, check_number


class LinearOperator:
    """Base class: ``A(x)``, ``adjoint(y)``, ``pinv(y)`` on batches; ``matrix()`` dense.

    A subclass sets ``in_shape`` and ``out_shape`` and implements ``forward`` and
    ``adjoint``; ``pinv`` defaults to the dense pseudo-inverse.

    Example:
        >>> class Scale(LinearOperator):
        ...     in_shape, out_shape = (2,), (2,)
        ...     def forward(self, x): return 2 * x
        ...     def adjoint(self, y): return 2 * y
        >>> Scale().matrix().tolist(), Scale().pinv(torch.tensor([[2.0, 4.0]], dtype=torch.float64)).tolist()
        ([[2.0, 0.0], [0.0, 2.0]], [[1.0, 2.0]])

    References:
        The operator interface of SGILO's official ``forward operators`` (A, and A^T for the
        solvers); deepinv's ``LinearPhysics`` (A, A_adjoint, A_dagger).
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """A^dagger y, the minimum-norm least-squares solution (dense by default)."""
        pinv = torch.linalg.pinv(self.matrix(dtype=y.dtype, device=y.device))
        flat = y.reshape(*y.shape[: y.dim() - len(self.out_shape)], -1)
        return (flat @ pinv.T).reshape(*flat.shape[:-1], *self.in_shape)

    @property
    def n(self) -> int:
        """Dimension of the signal."""
        return math.prod(self.in_shape)

    @property
    def m(self) -> int:
        """Number of measurements."""
        return math.prod(self.out_shape)

    def matrix(self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
        """The dense (m, n) matrix of A, built column by column from ``forward``."""
        eye = torch.eye(self.n, dtype=dtype, device=device).reshape(self.n, *self.in_shape)
        return self.forward(eye).reshape(self.n, self.m).T.contiguous()

    def _check_in(self, x: torch.Tensor, name: str = "x") -> None:
        k = len(self.in_shape)
        if tuple(x.shape[x.dim() - k :]) != self.in_shape or x.dim() < k:
            raise ValueError(f"{name}.shape={tuple(x.shape)} must end with {self.in_shape}")

    def _check_out(self, y: torch.Tensor, name: str = "y") -> None:
        k = len(self.out_shape)
        if tuple(y.shape[y.dim() - k :]) != self.out_shape or y.dim() < k:
            raise ValueError(f"{name}.shape={tuple(y.shape)} must end with {self.out_shape}")


class GaussianOperator(LinearOperator):
    """Compressed sensing with a dense Gaussian matrix, A_ij ~ N(0, 1/m).

    Math: y = A x with A in R^{m x n}; E[A^T A] = I_n, so ||Ax|| ~ ||x||.

    Args:
        m: number of measurements (>= 1; m < n is the compressed regime).
        n: signal dimension (>= 1).
        generator: torch generator for the entries.
        dtype: dtype of A (float32 by default).

    Example:
        >>> A = GaussianOperator(12, 64, torch.Generator().manual_seed(0))
        >>> A(torch.zeros(5, 64)).shape
        torch.Size([5, 12])

    References:
        SGILO (ICML 2022) compressed sensing with a Gaussian A (the quick preset's operator,
        docs/papers/sgilo.md#defaults); Bora et al. (ICML 2017) CSGM, A ~ N(0, 1/m).
    """

    def __init__(self, m: int, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        check_int("m", m, low=1)
        check_int("n", n, low=1)
        self.in_shape, self.out_shape = (n,), (m,)
        self.A = torch.randn(m, n, generator=generator, dtype=torch.float64).div_(math.sqrt(m)).to(dtype)

    def to(self, device: torch.device | str) -> GaussianOperator:
        self.A = self.A.to(device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_in(x)
        return x @ self.A.to(x.dtype).T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check_out(y)
        return y @ self.A.to(y.dtype)

    def matrix(self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
        return self.A.to(dtype=dtype, device=device)


class PartialCirculant(LinearOperator):
    """Partial circulant compressed sensing: y = P_Omega C D x (computed by FFT).

    Math: D = diag(random signs), C the circulant matrix of a filter c ~ N(0, 1/m)^n
    (C x = ifft(fft(c) * fft(x))), P_Omega keeps m of the n coordinates drawn without
    replacement. A^T y = D C^T P_Omega^T y with C^T x = ifft(conj(fft(c)) * fft(x)).
    Cost O(n log n) per signal instead of O(mn).

    Args:
        n: signal dimension (>= 1).
        m: measurements, 1 <= m <= n.
        generator: torch generator for signs, filter and rows.

    Example:
        >>> A = PartialCirculant(64, 16, torch.Generator().manual_seed(0))
        >>> A(torch.ones(2, 64)).shape
        torch.Size([2, 16])

    References:
        SGILO (ICML 2022): "compressed sensing with partial circulant matrices" (official
        ``CirculantForwardOperator``, which hard-codes n = 3 * 1024 * 1024; ILO uses 80 %
        of the rows).
    """

    def __init__(self, n: int, m: int, generator: torch.Generator | None = None):
        check_int("n", n, low=1)
        check_int("m", m, low=1)
        if m > n:
            raise ValueError(f"m={m} must be <= n={n}")
        self.in_shape, self.out_shape = (n,), (m,)
        self.signs = torch.randint(0, 2, (n,), generator=generator, dtype=torch.float64) * 2 - 1
        self.filter = torch.randn(n, generator=generator, dtype=torch.float64) / math.sqrt(m)
        self.rows = torch.randperm(n, generator=generator)[:m].sort().values
        self._fft = torch.fft.fft(self.filter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_in(x)
        spectrum = self._fft.to(x.device)
        z = x * self.signs.to(device=x.device, dtype=x.dtype)
        cz = torch.fft.ifft(
            torch.fft.fft(z) * spectrum.to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)
        ).real
        return cz[..., self.rows.to(x.device)]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check_out(y)
        full = y.new_zeros(*y.shape[:-1], self.n)
        full[..., self.rows.to(y.device)] = y
        spectrum = self._fft.to(y.device).conj()
        ctf = torch.fft.ifft(
            torch.fft.fft(full) * spectrum.to(torch.complex128 if y.dtype == torch.float64 else torch.complex64)
        ).real
        return ctf * self.signs.to(device=y.device, dtype=y.dtype)


class Downsampler(LinearOperator):
    """Super-resolution: average pooling of ``factor x factor`` blocks.

    Math: y[c, i, j] = factor^-2 sum_{a,b < factor} x[c, factor i + a, factor j + b];
    A^T y spreads each value over its block divided by factor^2; A A^T = factor^-2 I, so
    A^dagger = factor^2 A^T (nearest-neighbour upsampling).

    Args:
        factor: pooling factor (>= 1).
        shape: input image shape ``(C, H, W)`` or ``(H, W)``; H and W divisible by factor.

    Example:
        >>> Downsampler(4, (3, 16, 16))(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 3, 4, 4])

    References:
        SGILO official ``downsampler`` operator, factor 16 (1024^2 -> 64^2),
        ``configs/solve_inverse.yaml``.
    """

    def __init__(self, factor: int, shape: tuple[int, ...]):
        check_int("factor", factor, low=1)
        if len(shape) not in (2, 3) or any(s < 1 for s in shape):
            raise ValueError(f"shape={shape!r} must be (H, W) or (C, H, W) with positive sizes")
        h, w = shape[-2:]
        if h % factor or w % factor:
            raise ValueError(f"shape={shape!r}: H and W must be divisible by factor={factor}")
        self.factor = factor
        self.in_shape = tuple(shape)
        self.out_shape = (*shape[:-2], h // factor, w // factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_in(x)
        f = self.factor
        h, w = self.out_shape[-2:]
        blocks = x.reshape(*x.shape[:-2], h, f, w, f)
        return blocks.mean(dim=(-3, -1))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check_out(y)
        f = self.factor
        up = y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1)
        return up / (f * f)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self.adjoint(y) * (self.factor**2)


class Inpainting(LinearOperator):
    """Inpainting: keep the pixels where ``mask`` is true (a non-square selection).

    Math: y = x[mask] in R^m with m = mask.sum(); A^T scatters y back with zeros
    elsewhere; A A^T = I_m, so A^dagger = A^T.

    Args:
        mask: boolean tensor of the signal's shape, at least one true entry.

    Example:
        >>> mask = torch.tensor([True, False, True])
        >>> Inpainting(mask)(torch.tensor([1.0, 2.0, 3.0]))
        tensor([1., 3.])

    References:
        SGILO (ICML 2022) tasks: inpainting (official ``InpaintingOperator``).
    """

    def __init__(self, mask: torch.Tensor):
        if mask.dtype != torch.bool:
            raise ValueError(f"mask.dtype={mask.dtype} must be torch.bool")
        if not bool(mask.any()):
            raise ValueError("mask must keep at least one entry (mask.sum()=0)")
        self.mask = mask
        self.in_shape = tuple(mask.shape)
        self.out_shape = (int(mask.sum()),)
        self._index = mask.reshape(-1).nonzero().squeeze(1)

    @classmethod
    def random(cls, shape: tuple[int, ...], keep: float, generator: torch.Generator | None = None) -> Inpainting:
        """A mask keeping a fraction ``keep`` in (0, 1] of the entries, drawn at random."""
        check_number("keep", keep, low=0.0, high=1.0, low_inclusive=False)
        n = math.prod(shape)
        count = max(1, round(keep * n))
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.randperm(n, generator=generator)[:count]] = True
        return cls(mask.reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_in(x)
        flat = x.reshape(*x.shape[: x.dim() - len(self.in_shape)], -1)
        return flat[..., self._index.to(x.device)]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check_out(y)
        full = y.new_zeros(*y.shape[:-1], self.n)
        full[..., self._index.to(y.device)] = y
        return full.reshape(*y.shape[:-1], *self.in_shape)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self.adjoint(y)
