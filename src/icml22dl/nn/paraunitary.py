"""Exactly orthogonal convolutions from paraunitary systems (SC-Fac), and 1-Lipschitz network pieces.

A convolution is orthogonal iff its transfer matrix H(e^{iw}) is paraunitary
(H^H H = I for every frequency). SC-Fac builds H from a complete factorisation of 1D
paraunitary systems, H(z) = Q0 prod_j V_j(z), V_j(z) = (I - P_j) + P_j z^{-1},
P_j = U_j U_j^T, applied per spatial axis (separable 2D), so every kernel it produces is
orthogonal to machine precision in the dtype it is built in. Strides act on the polyphase
(pixel-unshuffled) channels, dilations on interleaved sub-signals, groups block-diagonally.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.nn.init import haar_orthogonal
from icml22dl.validation import check_choice, check_int, check_number

INITS = ("permutation", "uniform", "identical", "reverse")
PADDINGS = ("circular", "zeros")
MAPS = ("matrix_exp", "cayley")
TIES = ("intended", "official")


def _tuple(value: int | Sequence[int], dims: int, name: str) -> tuple[int, ...]:
    out = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(out) != dims or any((not isinstance(v, int)) or v < 1 for v in out):
        raise ValueError(f"{name}={value!r} must be a positive int or a tuple of {dims} positive ints")
    return out


class OrthogonalMatrix(nn.Module):
    """A trainable n x n orthogonal matrix Q = B exp(A - A^T) (or Cayley), or its leading columns.

    Math: ``matrix_exp``: Q = B expm(S), S = A - A^T; ``cayley``: Q = B (I + S/2)^{-1} (I - S/2).
    B is a fixed orthogonal base (A = 0 at init, so Q = B). Q is computed in the dtype of A, so
    it is orthogonal to that dtype's precision; the base is re-projected onto O(n) (polar
    factor) after every dtype or device change and state-dict load, so ``.double()`` (or a float32
    checkpoint loaded into a float64 model) never inherits float32 error.

    Args:
        n: size; columns: keep the first ``columns`` columns (a Stiefel matrix) or all;
        base: the base B (n x n orthogonal; Haar when None); orthogonal_map: ``matrix_exp`` or
        ``cayley``; generator: torch generator of the Haar base.

    Example:
        >>> q = OrthogonalMatrix(4, generator=torch.Generator().manual_seed(0)).double()()
        >>> bool(torch.allclose(q.T @ q, torch.eye(4, dtype=torch.float64), atol=1e-14))
        True

    References:
        Su, Byeon & Huang, ICML 2022, Sec. 4 (SC-Fac parametrises Q0 and U_j on O(C) and the
        Stiefel manifold; official code: geotorch, B expm(A - A^T) with a sampled base).
    """

    base: torch.Tensor

    def __init__(
        self,
        n: int,
        columns: int | None = None,
        base: torch.Tensor | None = None,
        orthogonal_map: str = "matrix_exp",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("n", n, low=1)
        check_choice("orthogonal_map", orthogonal_map, MAPS)
        columns = n if columns is None else columns
        check_int("columns", columns, low=0, high=n)
        self.n, self.columns, self.orthogonal_map = n, columns, orthogonal_map
        self.A = nn.Parameter(torch.zeros(n, n))
        base = haar_orthogonal(n, generator) if base is None else base.to(torch.float64)
        self.register_buffer("base", base.to(torch.float32))
        self._reproject()

    def _reproject(self) -> None:
        """Polar-project the base onto O(n) when it is less orthogonal than its dtype allows."""
        if not self.base.is_floating_point() or self.base.numel() == 0:
            return
        with torch.no_grad():
            b = self.base.to(torch.float64)
            eye = torch.eye(self.n, dtype=b.dtype, device=b.device)
            if (b.T @ b - eye).abs().max().item() > 100 * torch.finfo(self.base.dtype).eps:
                self.base.copy_(_polar(b).to(self.base.dtype))

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> OrthogonalMatrix:  # torch hook
        super()._apply(fn, *args, **kwargs)
        self._reproject()
        return self

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:  # a float32 checkpoint loaded into float64
        super()._load_from_state_dict(*args, **kwargs)
        self._reproject()

    def forward(self) -> torch.Tensor:
        """Q[:, :columns] in the dtype of the parameters."""
        skew = self.A - self.A.T
        if self.orthogonal_map == "matrix_exp":
            rot = _expm(skew)
        else:
            eye = torch.eye(self.n, dtype=skew.dtype, device=skew.device)
            rot = torch.linalg.solve(eye + skew / 2, eye - skew / 2)
        return (self.base.to(rot.dtype) @ rot)[:, : self.columns]


def _expm(skew: torch.Tensor) -> torch.Tensor:
    """expm of a skew matrix. In float64, torch.linalg.matrix_exp's low-degree branch for
    small norms leaves Q^T Q - I at up to 1e-11 (measured: norm 0.02, 3 x 3); exp(S + I) / e
    takes the high-degree branch (worst 7e-14 over sizes 2-64, norms 1e-4 to 24). Other dtypes
    use matrix_exp directly (float32: about 1e-6, the dtype's precision)."""
    if skew.dtype != torch.float64:
        return torch.linalg.matrix_exp(skew)
    eye = torch.eye(skew.shape[-1], dtype=skew.dtype, device=skew.device)
    return torch.linalg.matrix_exp(skew + eye) / math.e


def _polar(m: torch.Tensor) -> torch.Tensor:
    if m.numel() == 0:
        return m
    u, _, vh = torch.linalg.svd(m)
    return u @ vh


class _AxisFactor(nn.Module):
    """The 1D paraunitary factor of one axis: Q0 and L - 1 projectors, alternating right / left."""

    def __init__(
        self, c: int, taps: int, init: str, tie: str, orthogonal_map: str, generator: torch.Generator | None
    ) -> None:
        super().__init__()
        self.c, self.taps = c, taps
        r = c // 2
        if init == "uniform":
            q0 = haar_orthogonal(c, generator)
        elif init == "identical":
            q0 = torch.eye(c, dtype=torch.float64)
        elif init == "reverse":
            q0 = torch.eye(c, dtype=torch.float64).flip(1)
        else:
            q0 = torch.eye(c, dtype=torch.float64)[torch.randperm(c, generator=generator)]
        self.q0 = OrthogonalMatrix(c, base=q0, orthogonal_map=orthogonal_map)
        projections: list[OrthogonalMatrix] = []
        right = torch.eye(c, dtype=torch.float64)  # replaced by factor 2's base before any tie reads it
        for j in range(2, taps + 1):
            if init != "uniform" and j % 2 == 1:
                # Left factor j tied to right factor j - 1 so that the delays cancel and the
                # initial kernel is the single centre tap Q0: U_l = Q0 U_r ("intended");
                # the official code uses Q0^T U_r ("official"), equal only for symmetric Q0.
                base = (q0 if tie == "intended" else q0.T) @ right
            else:
                base = right = haar_orthogonal(c, generator)
            projections.append(OrthogonalMatrix(c, columns=r, base=base, orthogonal_map=orthogonal_map))
        self.projections = nn.ModuleList(projections)

    def forward(self) -> torch.Tensor:
        """Taps F[0..L-1] of H(z) = sum_k F[k] z^{-k}, a tensor (L, C, C)."""
        taps = self.q0()[None]
        eye = torch.eye(self.c, dtype=taps.dtype, device=taps.device)
        zero = torch.zeros_like(taps[:1])
        for j, factor in enumerate(self.projections, start=2):
            u = factor()
            p = u @ u.T
            if j % 2 == 0:  # right factor x (P + (I - P) z^-1)
                taps = torch.cat([taps @ p, zero]) + torch.cat([zero, taps @ (eye - p)])
            else:  # left factor ((I - P) + P z^-1) x
                taps = torch.cat([(eye - p) @ taps, zero]) + torch.cat([zero, p @ taps])
        return taps


class _ParaunitaryConvNd(nn.Module):
    dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        padding_mode: str = "circular",
        bias: bool = False,
        init: str = "permutation",
        orthogonal_map: str = "matrix_exp",
        tie: str = "intended",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        d = self.dims
        k, s, dil = _tuple(kernel_size, d, "kernel_size"), _tuple(stride, d, "stride"), _tuple(dilation, d, "dilation")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            check_int(name, value, low=1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        for a in range(d):
            if k[a] % s[a]:
                raise ValueError(f"stride={s} must divide kernel_size={k} on every axis")
            if s[a] > 1 and dil[a] > 1:
                raise ValueError(f"stride={s} and dilation={dil} cannot both exceed 1 on one axis")
        check_choice("padding_mode", padding_mode, PADDINGS)
        check_choice("init", init, INITS)
        check_choice("tie", tie, TIES)
        taps = tuple(k[a] // s[a] for a in range(d))
        if init != "uniform" and any(t % 2 == 0 for t in taps):
            raise ValueError(f"init={init!r} needs an odd kernel_size/stride on every axis (got {taps}); use 'uniform'")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation, self.taps = k, s, dil, taps
        self.padding_mode, self.init = padding_mode, init
        phases = math.prod(s)
        self.c_out_g, self.c_in_g = out_channels // groups, in_channels * phases // groups
        c = max(self.c_out_g, self.c_in_g)
        self.systems = nn.ModuleList(
            nn.ModuleList(_AxisFactor(c, taps[a], init, tie, orthogonal_map, generator) for a in range(d))
            for _ in range(groups)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._cache: tuple | None = None

    @property
    def orthogonality(self) -> str:
        """``"square"``, ``"column"`` (norm-preserving, C_out > s C_in) or ``"row"`` (C_out < s C_in)."""
        if self.c_out_g == self.c_in_g:
            return "square"
        return "column" if self.c_out_g > self.c_in_g else "row"

    def _polyphase(self, system: nn.Module) -> torch.Tensor:
        factors = [axis() for axis in system.children()]
        if self.dims == 1:
            kernel = factors[0].permute(1, 2, 0)
        else:
            kernel = torch.einsum("wor,hri->oihw", factors[1], factors[0])
        return kernel[: self.c_out_g, : self.c_in_g]

    def _build(self) -> torch.Tensor:
        kernels = []
        for system in self.systems:
            poly = self._polyphase(system)  # (C_out/g, C_in/g * prod(s), L...)
            if self.dims == 1:
                (s,), (taps,) = self.stride, self.taps
                kernel = poly.reshape(self.c_out_g, -1, s, taps).permute(0, 1, 3, 2).reshape(self.c_out_g, -1, taps * s)
            else:
                (s1, s2), (l1, l2) = self.stride, self.taps
                kernel = (
                    poly.reshape(self.c_out_g, -1, s1, s2, l1, l2)
                    .permute(0, 1, 4, 2, 5, 3)
                    .reshape(self.c_out_g, -1, l1 * s1, l2 * s2)
                )
            kernels.append(kernel)
        return torch.cat(kernels, dim=0)

    @property
    def weight(self) -> torch.Tensor:
        """The kernel (C_out, C_in/groups, k...), usable as the weight of ``nn.ConvNd``.

        Rebuilt at every call in training mode; cached in eval mode until a parameter
        changes (its version counter), the dtype or the device changes.
        """
        if self.training:
            self._cache = None
            return self._build()
        params = [p for p in self.parameters() if p is not self.bias]
        key = tuple(p._version for p in params) + (params[0].dtype, params[0].device, torch.is_grad_enabled())
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build())
        return self._cache[1]

    def _pads(self) -> list[tuple[int, int]]:
        pads = []
        for a in range(self.dims):
            kk = self.dilation[a] * (self.kernel_size[a] - 1) + 1
            s = self.stride[a]
            if self.padding_mode == "circular":
                shift = s // 2
                pads.append((kk // 2 - shift, (kk - 1) // 2 + shift - s + 1))
            else:
                pads.append((kk - s, kk - s))
        return pads

    def _conv(self, x: torch.Tensor, w: torch.Tensor, transpose: bool) -> torch.Tensor:
        fn: dict[tuple[int, bool], Callable[..., torch.Tensor]] = {
            (1, False): F.conv1d,
            (2, False): F.conv2d,
            (1, True): F.conv_transpose1d,
            (2, True): F.conv_transpose2d,
        }
        return fn[(self.dims, transpose)](x, w, stride=self.stride, dilation=self.dilation, groups=self.groups)

    def _check_input(self, x: torch.Tensor, channels: int, name: str) -> None:
        if x.ndim != self.dims + 2 or x.shape[1] != channels:
            raise ValueError(f"{name} must have shape (B, {channels}, *{self.dims} spatial dims), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """y = K * x (``reverse=False``) or the adjoint x = K^T * (y - b) (``reverse=True``).

        The adjoint is the exact inverse of a square orthogonal layer (circular padding), the
        exact left inverse of a column-orthogonal one and of the zero-padded (full) convolution.
        """
        w = self.weight
        w = w if w.dtype == x.dtype else w.to(x.dtype)
        pads = self._pads()
        flat = [p for pair in reversed(pads) for p in pair]
        if not reverse:
            self._check_input(x, self.in_channels, "x")
            if self.padding_mode == "circular":
                for a in range(self.dims):
                    n = x.shape[2 + a]
                    if n % self.stride[a] or max(pads[a]) > n:
                        raise ValueError(
                            f"input size {n} on axis {a} must be a multiple of stride {self.stride[a]} "
                            f"and at least the padding {max(pads[a])}"
                        )
                y = self._conv(F.pad(x, flat, mode="circular"), w, False)
            else:
                for a in range(self.dims):
                    if x.shape[2 + a] % self.stride[a]:
                        raise ValueError(f"input size {x.shape[2 + a]} on axis {a} must be a multiple of stride")
                y = self._conv(F.pad(x, flat), w, False)
            if self.bias is not None:
                y = y + self.bias.view(1, -1, *([1] * self.dims))
            return y
        self._check_input(x, self.out_channels, "y")
        if self.bias is not None:
            x = x - self.bias.view(1, -1, *([1] * self.dims))
        g = self._conv(x, w, True)
        for a in range(self.dims):
            front, back = pads[a]
            axis = 2 + a
            size = g.shape[axis] - front - back
            core = g.narrow(axis, front, size)
            if self.padding_mode == "circular":
                core = core.clone()
                if front:
                    core.narrow(axis, size - front, front).add_(g.narrow(axis, 0, front))
                if back:
                    core.narrow(axis, 0, back).add_(g.narrow(axis, front + size, back))
            g = core
        return g

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"dilation={self.dilation}, groups={self.groups}, padding_mode={self.padding_mode!r}, "
            f"init={self.init!r}, orthogonality={self.orthogonality!r}"
        )


_DOC = """Orthogonal {d}D convolution from a separable paraunitary system (SC-Fac).

    Math: per group and axis, H_a(z) = Q0 prod_{{j=2}}^{{L}} V_j(z) with L = k/s taps and
    alternating right factors (P + (I - P) z^-1) and left factors ((I - P) + P z^-1),
    P = U U^T, U in St(C, C/2), C = max(C_out/g, s C_in/g); 2D: K[o,i,h,w] =
    sum_r F_W[w][o,r] F_H[h][r,i]; crop to C_out/g x (s C_in/g) (square: orthogonal;
    C_out larger: column-orthogonal, norm-preserving; smaller: row-orthogonal); the
    polyphase kernel is interleaved into a k-tap strided kernel (tap h = p s + phase).
    ``padding_mode="circular"``: output n/s, orthogonal on circular signals, exact inverse by
    ``forward(y, reverse=True)``; ``"zeros"``: the full linear convolution, output
    (n + d(k-1) + 1 - s)/s, an isometry ("same"-size zero padding is not orthogonal).

    Args:
        in_channels, out_channels: channels (divisible by ``groups``).
        kernel_size, stride, dilation: ints or tuples; stride must divide kernel_size and
            stride and dilation cannot both exceed 1 on one axis.
        groups: independent systems, concatenated along outputs.
        padding_mode: ``"circular"`` (default) or ``"zeros"``.
        bias: add a bias (off by default; the reverse pass subtracts it).
        init: ``"permutation"`` (default: Q0 a random permutation, initial kernel its single
            centre tap), ``"identical"``, ``"reverse"`` (need odd k/s) or ``"uniform"`` (Haar).
        orthogonal_map: ``"matrix_exp"`` (default) or ``"cayley"``.
        tie: ``"intended"`` (U_l = Q0 U_r: centre-tap initial kernel) or ``"official"``
            (U_l = Q0^T U_r, the official code's transpose, equal only for symmetric Q0).
        generator: torch generator of the initial factors.

    Example:
        >>> conv = ParaunitaryConv{d}d(4, 4, 3, generator=torch.Generator().manual_seed(0)).double()
        >>> x = torch.randn(2, 4, *([8] * {d}), dtype=torch.float64)
        >>> bool(torch.allclose(conv(conv(x), reverse=True), x, atol=1e-12))
        True

    References:
        Su, Byeon & Huang, Scaling-up diverse orthogonal convolutional networks by a paraunitary
        framework, ICML 2022, Sec. 3-4 (paraunitary condition, complete 1D factorisation, separable
        2D); official umd-huang-lab/ortho-conv (r_j = C/2, init 'permutation', bias off).
"""


class ParaunitaryConv2d(_ParaunitaryConvNd):
    __doc__ = _DOC.format(d=2)
    dims = 2


class ParaunitaryConv1d(_ParaunitaryConvNd):
    __doc__ = _DOC.format(d=1)
    dims = 1


class _ParaunitaryConvTransposeNd(nn.Module):
    conv_class: type[_ParaunitaryConvNd] = ParaunitaryConv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        padding_mode: str = "circular",
        init: str = "permutation",
        orthogonal_map: str = "matrix_exp",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.conv = self.conv_class(
            out_channels,
            in_channels,
            kernel_size,
            stride,
            dilation,
            groups,
            padding_mode,
            False,
            init,
            orthogonal_map,
            generator=generator,
        )

    @property
    def weight(self) -> torch.Tensor:
        """The kernel (C_in, C_out/groups, k...), usable as the weight of ``nn.ConvTransposeNd``."""
        return self.conv.weight

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return self.conv(x, reverse=not reverse)


class ParaunitaryConvTranspose2d(_ParaunitaryConvTransposeNd):
    """Orthogonal transposed 2D convolution: the adjoint of a :class:`ParaunitaryConv2d`.

    Math: ``forward`` is ``K^T`` of the SC-Fac convolution ``K`` from ``out_channels`` to
    ``in_channels``; it upsamples by ``stride`` and is orthogonal when
    ``in_channels = stride^2 out_channels`` (its inverse is ``forward(y, reverse=True) = K y``).

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, padding_mode, init,
        orthogonal_map, generator: as in :class:`ParaunitaryConv2d` (no bias).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> up = ParaunitaryConvTranspose2d(16, 4, 2, stride=2, init="uniform", generator=g)
        >>> x = torch.randn(1, 16, 4, 4, dtype=torch.float64)
        >>> y = up.double()(x)
        >>> y.shape, bool(torch.allclose(y.norm(), x.norm()))
        (torch.Size([1, 4, 8, 8]), True)

    References:
        Su, Byeon & Huang, ICML 2022, Sec. 4 (transposed and strided orthogonal convolutions
        from the same paraunitary factorisation).
    """

    conv_class = ParaunitaryConv2d


class ParaunitaryConvTranspose1d(_ParaunitaryConvTransposeNd):
    """Orthogonal transposed 1D convolution: the adjoint of a :class:`ParaunitaryConv1d`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> up = ParaunitaryConvTranspose1d(4, 2, 2, stride=2, init="uniform", generator=g)
        >>> up(torch.zeros(1, 4, 5)).shape
        torch.Size([1, 2, 10])

    References:
        Su, Byeon & Huang, ICML 2022, Sec. 4.
    """

    conv_class = ParaunitaryConv1d


class OrthogonalLinear(nn.Module):
    """Linear layer with an orthogonal (or row/column-orthonormal) weight, no geotorch needed.

    Math: W = Q[:out, :in], Q = B expm(A - A^T) of size max(in, out) (see
    :class:`OrthogonalMatrix`): W W^T = I if out <= in, W^T W = I if out >= in.

    Args:
        in_features, out_features: sizes; bias: add a bias; orthogonal_map: ``matrix_exp`` or
        ``cayley``; generator: torch generator of the Haar base.

    Example:
        >>> lin = OrthogonalLinear(6, 4, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(lin.weight @ lin.weight.T, torch.eye(4), atol=1e-5))
        True

    References:
        Su et al., ICML 2022, Sec. 6 (orthogonal linear head); Anil et al. (2019).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        orthogonal_map: str = "matrix_exp",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, low=1)
        check_int("out_features", out_features, low=1)
        self.in_features, self.out_features = in_features, out_features
        self.q = OrthogonalMatrix(max(in_features, out_features), orthogonal_map=orthogonal_map, generator=generator)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        return self.q()[: self.out_features, : self.in_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class GroupSort(nn.Module):
    """GroupSort along ``dim``: sort each group of ``group_size`` entries (descending).

    ``group_size=2`` is MaxMin on the two halves of ``dim`` (official ``MaxMin``): (a, b) ->
    (max(a, b), min(a, b)). A per-sample permutation: norm-preserving and 1-Lipschitz, with a
    gradient-norm-preserving Jacobian.

    Args:
        group_size: entries per group (2 = MaxMin); dim: the channel dimension.

    Example:
        >>> GroupSort()(torch.tensor([[1.0, 5.0, 3.0, 2.0]]))
        tensor([[3., 5., 1., 2.]])

    References:
        Anil, Lucas & Grosse, Sorting out Lipschitz function approximation (ICML 2019); Su et al.,
        ICML 2022, Sec. 6.
    """

    def __init__(self, group_size: int = 2, dim: int = 1) -> None:
        super().__init__()
        check_int("group_size", group_size, low=2)
        self.group_size, self.dim = group_size, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[self.dim]
        if n % self.group_size:
            raise ValueError(f"size {n} of dim {self.dim} must be a multiple of group_size={self.group_size}")
        if self.group_size == 2:
            a, b = x.split(n // 2, dim=self.dim)
            return torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=self.dim)
        dim = self.dim % x.ndim
        shape = (*x.shape[:dim], n // self.group_size, self.group_size, *x.shape[dim + 1 :])
        return x.reshape(shape).sort(dim=dim + 1, descending=True).values.reshape(x.shape)


MaxMin = GroupSort


class LipschitzAvgPool2d(nn.Module):
    """Non-overlapping average pooling rescaled to be 1-Lipschitz: sum over k x k windows / k.

    Math: ``avg_pool2d(x, k, divisor_override=k)``; each output is (1/k) times a sum of k^2
    disjoint inputs, so every singular value of the Jacobian is exactly 1 (row-orthogonal).

    Args:
        kernel_size: k (window and stride).

    Example:
        >>> LipschitzAvgPool2d(2)(torch.ones(1, 1, 2, 2))
        tensor([[[[2.]]]])

    References:
        Su et al., ICML 2022, Sec. 6 (AvgPool2d(k, divisor_override=k) in the official nets).
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        check_int("kernel_size", kernel_size, low=1)
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel_size, divisor_override=self.kernel_size)


class ConvexSkip(nn.Module):
    """1-Lipschitz residual connection y = s x + (1 - s) f(x), s = sigmoid(a).

    Args:
        branch: f (1-Lipschitz, same output shape as input); init: initial a (s = sigmoid(a)).

    Example:
        >>> skip = ConvexSkip(nn.Identity(), init=0.0)  # s = 1/2: y = x/2 + f(x)/2
        >>> skip(torch.tensor([2.0]))
        tensor([2.], grad_fn=<AddBackward0>)

    References:
        Su et al., ICML 2022, Sec. 6 (convex-combination skip of the orthogonal ResNets).
    """

    def __init__(self, branch: nn.Module, init: float = 0.0) -> None:
        super().__init__()
        self.branch = branch
        self.a = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.a)
        return s * x + (1 - s) * self.branch(x)


def multi_margin_hinge(logits: torch.Tensor, target: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """Multi-class hinge loss: mean over the batch of sum_{j != y} max(0, m - f_y + f_j) / C.

    Args:
        logits: (B, C); target: (B,) class indices; margin: m (official default 0.5).

    Returns:
        The scalar loss (equals ``F.multi_margin_loss(logits, target, margin=m)``).

    Example:
        >>> multi_margin_hinge(torch.tensor([[2.0, 1.8, 0.0]]), torch.tensor([0]), margin=0.5)  # (0.3 + 0) / 3
        tensor(0.1000)

    References:
        Su et al., ICML 2022 (official ``train.py``: multi-margin hinge, margin 0.5).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, C), got shape {tuple(logits.shape)}")
    check_number("margin", margin, low=0.0)
    correct = logits.gather(1, target[:, None])
    terms = (margin - correct + logits).clamp_min(0)
    terms = terms.scatter(1, target[:, None], 0.0)
    return terms.sum(dim=1).mean() / logits.shape[1]


def paraunitary_variants(channels: int) -> list[dict[str, Any]]:
    """Keyword arguments of every :class:`ParaunitaryConv2d` variant of the exactness sweep, for ``channels`` inputs.

    The product kernel size 1-5 x stride 1/2 x dilation 1/2 x padding circular/zeros x groups
    1/2 x output ratio, keeping the valid combinations (the stride divides the kernel size,
    stride and dilation not both above 1, no dilation of a 1 x 1 kernel);
    ``out_channels = r s^2 channels`` with ``r`` in {1 (square), 1/2 (row-orthogonal),
    2 (column-orthogonal)}.

    Args:
        channels: in_channels (>= 4 and even, so that groups 2 and ratio 1/2 divide).

    Returns:
        A list of keyword dicts (132 variants).

    Example:
        >>> variants = paraunitary_variants(8)
        >>> len(variants), sorted({v["out_channels"] for v in variants})
        (132, [4, 8, 16, 32, 64])

    References:
        Su, Byeon & Huang, ICML 2022, Sec. 3-4 (every stride, dilation, group and shape variant
        is orthogonal by construction); docs/papers/paraunitary.md#claim-and-thresholds.
    """
    check_int("channels", channels, low=4)
    if channels % 2:
        raise ValueError(f"channels={channels} must be even (the sweep uses groups 2)")
    out = []
    for k, s, d, pad, g, ratio in itertools.product(
        range(1, 6), (1, 2), (1, 2), ("circular", "zeros"), (1, 2), (1.0, 0.5, 2.0)
    ):
        if k % s or (s > 1 and d > 1) or (d > 1 and k == 1):
            continue
        out.append(
            dict(
                kernel_size=k,
                stride=s,
                dilation=d,
                padding_mode=pad,
                groups=g,
                in_channels=channels,
                out_channels=int(channels * s * s * ratio),
            )
        )
    return out


__all__ = [
    "ConvexSkip",
    "GroupSort",
    "LipschitzAvgPool2d",
    "MaxMin",
    "OrthogonalLinear",
    "OrthogonalMatrix",
    "ParaunitaryConv1d",
    "ParaunitaryConv2d",
    "ParaunitaryConvTranspose1d",
    "ParaunitaryConvTranspose2d",
    "multi_margin_hinge",
    "paraunitary_variants",
]
