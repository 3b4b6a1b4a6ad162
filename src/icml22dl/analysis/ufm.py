"""Unconstrained features models (UFM) with MSE loss: closed forms, GD solvers, saddles.

Two-factor UFM-MSE (Zhou et al., ICML 2022, "On the optimization landscape of neural
collapse under MSE loss"; Tirer & Bruna, ICML 2022 for the bias-free case)::

    f(W, H, b) = 1/(2N) ||W H + b 1^T - Y||_F^2 + lambda_W/2 ||W||_F^2 + lambda_H/2 ||H||_F^2
                 + lambda_b/2 ||b||^2,

with ``Y = I_K kron 1_n^T`` (class-sorted one-hot, K x N, N = nK), W (K x d), H (d x N).

Extended UFM (Tirer & Bruna 2022)::

    f(W2, W1, H) = 1/(2N) ||W2 sigma(W1 H) - Y||_F^2 + lambda_2/2 ||W2||^2 + lambda_1/2 ||W1||^2
                   + lambda_H/2 ||H||^2,

``sigma`` the identity or ReLU, W2 (K x d1), W1 (d1 x d). Every solver uses hand-written
gradients (checked against autograd in the tests) in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from icml22dl.validation import check_choice, check_int, check_positive

ACTIVATIONS = ("identity", "relu")

__all__ = [
    "ACTIVATIONS",
    "ExtendedUFM",
    "ExtendedUFMOptimum",
    "UFMMSE",
    "UFMOptimum",
    "UFMState",
    "etf_rho",
    "extended_ufm_optimum",
    "one_hot_targets",
    "saddle_min_eigenvalue",
    "ufm_mse_optimum",
    "ufm_strict_saddle",
]


def one_hot_targets(K: int, n: int, dtype: torch.dtype = torch.float64, device: Any = None) -> Tensor:
    """``Y = I_K kron 1_n^T`` (K x nK): class k owns columns k n .. (k+1) n - 1.

    Example:
        >>> one_hot_targets(2, 2).tolist()
        [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    check_int("K", K, low=2)
    check_int("n", n, low=1)
    return torch.eye(K, dtype=dtype, device=device).repeat_interleave(n, dim=1)


# ------------------------------------------------------------------ closed forms
@dataclass(frozen=True)
class UFMOptimum:
    """Closed-form global minimum of the UFM-MSE (lambda_b = 0 when ``bias``).

    Attributes:
        c: K sqrt(n lambda_W lambda_H); the minimiser is 0 for c >= 1.
        f_star: the minimum value.
        rho: W W^T = rho (I - 11^T/K) with a bias (simplex ETF), rho I_K without (OF).
        b_star: the optimal bias entry (1/K with a bias, 0 without).
        feature_scale: h_{k,i} = feature_scale * w_k (NC1 and self-duality).
        singular_value: the common nonzero singular value sqrt(n) (1 - c) of Z = W H.
    """

    c: float
    f_star: float
    rho: float
    b_star: float
    feature_scale: float
    singular_value: float

    @property
    def collapsed_to_zero(self) -> bool:
        return self.c >= 1.0


def ufm_mse_optimum(K: int, n: int, lambda_W: float, lambda_H: float, bias: bool = True) -> UFMOptimum:
    """Global minimum of the UFM-MSE by singular-value soft thresholding.

    Math: min over W H = Z of the regularisers is sqrt(lambda_W lambda_H) ||Z||_*. The
    (centred, with a free bias) target has K - 1 (K without bias) singular values sqrt(n);
    each shrinks to s = sqrt(n)(1 - c)_+, c = K sqrt(n lambda_W lambda_H), and contributes
    c (2 - c)/(2K) (1/(2K) when c >= 1) to f. So f* = (K-1)/(2K) c (2 - c) with a bias and
    c (2 - c)/2 without (c < 1); rho = sqrt(n lambda_H/lambda_W)(1 - c).

    Args:
        K: classes (>= 2); n: samples per class; lambda_W, lambda_H: weight decays (> 0).
        bias: an unregularised bias (Zhou et al. 2022 Thm. 3.1) or none (Tirer & Bruna 2022).

    Returns:
        :class:`UFMOptimum`.

    Example:
        >>> round(ufm_mse_optimum(4, 20, 5e-3, 5e-3, bias=False).f_star, 6)
        0.085443

    References: Zhou et al., ICML 2022, Theorem 3.1 (global minimisers); Tirer & Bruna,
    ICML 2022, Theorem 3.1 (bias-free: orthogonal frame).
    """
    check_int("K", K, low=2)
    check_int("n", n, low=1)
    check_positive("lambda_W", lambda_W)
    check_positive("lambda_H", lambda_H)
    c = K * math.sqrt(n * lambda_W * lambda_H)
    count = K - 1 if bias else K
    shrink = max(1.0 - c, 0.0)
    f_star = count / (2 * K) * (c * (2 - c) if c < 1 else 1.0)
    return UFMOptimum(
        c=c,
        f_star=f_star,
        rho=math.sqrt(n * lambda_H / lambda_W) * shrink,
        b_star=1.0 / K if bias else 0.0,
        feature_scale=math.sqrt(lambda_W / (n * lambda_H)),
        singular_value=math.sqrt(n) * shrink,
    )


def saddle_min_eigenvalue(K: int, n: int, lambda_W: float, lambda_H: float) -> float:
    """Predicted smallest Hessian eigenvalue at every rank-r < K-1 critical point (bias case).

    Math: ``(lambda_W + lambda_H)/2 - sqrt(((lambda_W - lambda_H)/2)^2 + 1/(K^2 n))``,
    negative for c < 1 (every such critical point is a strict saddle).

    Example:
        >>> round(saddle_min_eigenvalue(4, 3, 5e-3, 1e-2), 4)
        -0.1369

    References: Zhou et al., ICML 2022, Sec. 3 (strict-saddle theorem, negative-curvature
    direction); the value is checked against the autograd Hessian of :func:`ufm_strict_saddle`.
    """
    return (lambda_W + lambda_H) / 2 - math.sqrt(((lambda_W - lambda_H) / 2) ** 2 + 1.0 / (K * K * n))


def etf_rho(W: Tensor) -> float:
    """Least-squares scale rho of ``W W^T = rho (I_K - 11^T/K)``: ``<W W^T, P> / (K - 1)``, P = I - 11^T/K.

    At the UFM-MSE optimum with a bias, rho = sqrt(n lambda_H/lambda_W)(1 - c)
    (:attr:`UFMOptimum.rho`).

    Example:
        >>> P = torch.eye(3, dtype=torch.float64) - 1 / 3
        >>> round(etf_rho(2.0 * P), 12)  # W W^T = 4 P
        4.0

    References: Zhou et al., ICML 2022, Theorem 3.1 (the classifier of every global minimiser).
    """
    K = W.shape[0]
    P = torch.eye(K, dtype=W.dtype, device=W.device) - 1.0 / K
    return float(((W @ W.T) * P).sum() / (K - 1))


@dataclass(frozen=True)
class ExtendedUFMOptimum:
    """Closed-form minimum of the (linear) extended UFM.

    Attributes:
        s_star: the optimal common singular value of Z = W2 W1 H (0 past the threshold).
        f_star: K times the scalar minimum.
        z_scale: Z* = z_scale * Y (z_scale = s*/sqrt(n)).
        interior: whether the interior stationary point beat s = 0.
    """

    s_star: float
    f_star: float
    z_scale: float
    interior: bool


def _extended_scalar(s: float, n: int, N: int, a: float) -> float:
    return (s - math.sqrt(n)) ** 2 / (2 * N) + 1.5 * a * s ** (2.0 / 3.0)


def extended_ufm_optimum(K: int, n: int, lambda_2: float, lambda_1: float, lambda_H: float) -> ExtendedUFMOptimum:
    """Global minimum of the linear, bias-free extended UFM via its scalar problem.

    Math: min of the three regularisers subject to W2 W1 H = Z is
    (3/2) a sum_i sigma_i(Z)^{2/3}, a = (lambda_2 lambda_1 lambda_H)^{1/3}; each of the K
    singular values sqrt(n) of Y solves s* = argmin_{s >= 0} (s - sqrt(n))^2/(2N)
    + (3/2) a s^{2/3}. With t = s^{1/3} the interior stationary points are the positive
    roots of t^4 - sqrt(n) t + N a = 0; the objective is non-convex, so each is compared
    with s = 0.

    Returns:
        :class:`ExtendedUFMOptimum` with f* = K g(s*).

    Example:
        >>> round(extended_ufm_optimum(4, 10, 5e-3, 5e-3, 5e-3).f_star, 5)
        0.06369

    References: Tirer & Bruna, ICML 2022, extended UFM (linear case).
    """
    check_int("K", K, low=2)
    check_int("n", n, low=1)
    for name, value in (("lambda_2", lambda_2), ("lambda_1", lambda_1), ("lambda_H", lambda_H)):
        check_positive(name, value)
    N = n * K
    a = (lambda_2 * lambda_1 * lambda_H) ** (1.0 / 3.0)
    roots = np.roots([1.0, 0.0, 0.0, -math.sqrt(n), N * a])
    candidates = [0.0] + [float(r.real) ** 3 for r in roots if abs(r.imag) < 1e-10 and r.real > 0]
    values = [_extended_scalar(s, n, N, a) for s in candidates]
    best = int(np.argmin(values))
    s_star = candidates[best]
    return ExtendedUFMOptimum(s_star=s_star, f_star=K * values[best], z_scale=s_star / math.sqrt(n), interior=best > 0)


# ----------------------------------------------------------------------- solvers
@dataclass
class UFMState:
    """Factors of a UFM (``W`` and ``H``; ``W1`` for the extended model) and the run record.

    Attributes:
        W: (K x d) classifier, or W2 (K x d1) in the extended model.
        H: (d x N) features.
        b: (K,) bias or None.
        W1: (d1 x d) hidden layer of the extended model, else None.
        losses: (step, loss) pairs recorded every ``log_every`` steps.
        diverged_step: the first checked step with a non-finite loss, or None.
    """

    W: Tensor
    H: Tensor
    b: Tensor | None = None
    W1: Tensor | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    diverged_step: int | None = None

    @property
    def W2(self) -> Tensor:
        return self.W


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return generator
    return torch.Generator().manual_seed(0 if seed is None else seed)


class UFMMSE:
    """The two-factor unconstrained features model with MSE loss (float64, manual gradient).

    Math: f above; gradients with R = (W H + b 1^T - Y)/N:
    grad_W = R H^T + lambda_W W, grad_H = W^T R + lambda_H H, grad_b = R 1 + lambda_b b.

    Args:
        K: classes (>= 2); n: samples per class; d: feature dimension.
        lambda_W, lambda_H: weight decays (> 0); lambda_b: bias decay (>= 0; 0 for the
            ETF theorem).
        bias: include b (Zhou et al. 2022) or not (Tirer & Bruna 2022: OF optimum).

    Example:
        >>> ufm = UFMMSE(4, 20, 16, 5e-3, 5e-3, bias=False)
        >>> state = ufm.gd(lr=0.5, steps=3000, seed=0)
        >>> f_star = ufm.optimum().f_star  # c (2 - c)/2, bias-free
        >>> abs(float(ufm.loss(state.W, state.H)) - f_star) / f_star < 1e-6
        True

    References: Zhou et al., ICML 2022 (PMLR v162, zhou22c), Eq. (4); official defaults
    none (procedural model).
    """

    def __init__(
        self,
        K: int,
        n: int,
        d: int,
        lambda_W: float,
        lambda_H: float,
        lambda_b: float = 0.0,
        bias: bool = True,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ) -> None:
        check_int("K", K, low=2)
        check_int("n", n, low=1)
        check_int("d", d, low=1)
        check_positive("lambda_W", lambda_W)
        check_positive("lambda_H", lambda_H)
        check_positive("lambda_b", lambda_b, allow_zero=True)
        self.K, self.n, self.d, self.N = K, n, d, n * K
        self.lambda_W, self.lambda_H, self.lambda_b, self.bias = lambda_W, lambda_H, lambda_b, bias
        self.dtype, self.device = dtype, device
        self.Y = one_hot_targets(K, n, dtype, device)
        self.labels = torch.arange(K, device=device).repeat_interleave(n)

    def optimum(self) -> UFMOptimum:
        """The closed form (exact only when lambda_b = 0 or there is no bias)."""
        return ufm_mse_optimum(self.K, self.n, self.lambda_W, self.lambda_H, self.bias)

    def _residual(self, W: Tensor, H: Tensor, b: Tensor | None) -> Tensor:
        Z = W @ H
        if b is not None:
            Z = Z + b[:, None]
        return Z - self.Y

    def loss(self, W: Tensor, H: Tensor, b: Tensor | None = None) -> Tensor:
        """f(W, H, b) as a 0-d tensor (differentiable)."""
        R = self._residual(W, H, b)
        value = (R * R).sum() / (2 * self.N) + self.lambda_W / 2 * (W * W).sum() + self.lambda_H / 2 * (H * H).sum()
        if b is not None:
            value = value + self.lambda_b / 2 * (b * b).sum()
        return value

    def grad(self, W: Tensor, H: Tensor, b: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Manual gradient (grad_W, grad_H, grad_b)."""
        R = self._residual(W, H, b) / self.N
        gW = R @ H.T + self.lambda_W * W
        gH = W.T @ R + self.lambda_H * H
        gb = None if b is None else R.sum(1) + self.lambda_b * b
        return gW, gH, gb

    def init(self, generator: torch.Generator, std: float = 0.1) -> UFMState:
        """i.i.d. N(0, std^2) entries for W, H (and b), drawn from ``generator``."""
        check_positive("std", std, allow_zero=True)

        def draw(*shape: int) -> Tensor:
            return (torch.randn(*shape, generator=generator, dtype=self.dtype) * std).to(self.device)

        W, H = draw(self.K, self.d), draw(self.d, self.N)
        b = draw(self.K) if self.bias else None
        return UFMState(W=W, H=H, b=b)

    @torch.no_grad()
    def gd(
        self,
        lr: float,
        steps: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        init_std: float = 0.1,
        state: UFMState | None = None,
        log_every: int = 100,
    ) -> UFMState:
        """Full-batch gradient descent from ``state`` (or a fresh init) for ``steps`` steps.

        Stops early and sets ``diverged_step`` when a logged loss is not finite (lr must stay
        below 2/L; lr 1.0 works at the sizes of docs/papers/collapse_mse.md#defaults).
        """
        check_positive("lr", lr)
        check_int("steps", steps, low=0)
        state = state or self.init(_generator(seed, generator), init_std)
        W, H, b = state.W.clone(), state.H.clone(), None if state.b is None else state.b.clone()
        out = UFMState(W=W, H=H, b=b, losses=list(state.losses))
        for step in range(1, steps + 1):
            gW, gH, gb = self.grad(W, H, b)
            W -= lr * gW
            H -= lr * gH
            if b is not None and gb is not None:
                b -= lr * gb
            if step % log_every == 0 or step == steps:
                value = float(self.loss(W, H, b))
                out.losses.append((step, value))
                if not math.isfinite(value):
                    out.diverged_step = step
                    break
        return out

    def hessian_min_eigenvalue(self, W: Tensor, H: Tensor, b: Tensor | None = None) -> float:
        """Smallest eigenvalue of the full autograd Hessian over (W, H, b) (small models only)."""
        shapes = [W.shape, H.shape] + ([b.shape] if b is not None else [])
        flat = torch.cat([W.reshape(-1), H.reshape(-1)] + ([b.reshape(-1)] if b is not None else []))

        def f(x: Tensor) -> Tensor:
            parts, offset = [], 0
            for shape in shapes:
                size = int(np.prod(shape))
                parts.append(x[offset : offset + size].reshape(shape))
                offset += size
            return self.loss(*parts)

        hess = torch.autograd.functional.hessian(f, flat.detach().clone())
        return float(torch.linalg.eigvalsh((hess + hess.T) / 2)[0])


def ufm_strict_saddle(
    K: int,
    n: int,
    d: int,
    r: int,
    lambda_W: float,
    lambda_H: float,
    Q: Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[UFMMSE, UFMState]:
    """A rank-r critical point of the UFM-MSE with an unregularised bias (b = 1/K).

    Math: keep r of the K - 1 singular directions (U_r, V_r) of the centred target
    Ybar = (I - 11^T/K) kron 1_n^T; sigma = (1 - c) sqrt(n);
    W = (lambda_H/lambda_W)^{1/4} sqrt(sigma) U_r Q^T, H = (lambda_W/lambda_H)^{1/4} sqrt(sigma) Q V_r^T,
    Q (d x r) with orthonormal columns (default: the first r coordinate axes). For r < K - 1
    it is a strict saddle with smallest Hessian eigenvalue :func:`saddle_min_eigenvalue`;
    r = K - 1 is a global minimiser; r = 0 is W = H = 0.

    Returns:
        ``(ufm, state)``: the model (lambda_b = 0, bias) and the critical point.

    Example:
        >>> ufm, st = ufm_strict_saddle(3, 2, 4, 1, 5e-3, 1e-2)
        >>> max(float(g.abs().max()) for g in ufm.grad(st.W, st.H, st.b)) < 1e-12  # critical
        True
        >>> abs(ufm.hessian_min_eigenvalue(st.W, st.H, st.b) - saddle_min_eigenvalue(3, 2, 5e-3, 1e-2)) < 1e-10
        True

    References: Zhou et al., ICML 2022, strict-saddle theorem (paper assumes d > K).
    """
    check_int("r", r, low=0)
    if r > K - 1:
        raise ValueError(f"r={r} is out of range: must be <= K - 1 = {K - 1}")
    if r > d:
        raise ValueError(f"r={r} is out of range: must be <= d = {d}")
    ufm = UFMMSE(K, n, d, lambda_W, lambda_H, 0.0, bias=True, dtype=dtype)
    opt = ufm.optimum()
    center = torch.eye(K, dtype=dtype) - 1.0 / K
    # Orthonormal basis of 1^perp in R^K (first K - 1 eigenvectors with eigenvalue 1).
    vals, vecs = torch.linalg.eigh(center)
    U = vecs[:, vals > 0.5][:, :r]  # K x r
    V = U.repeat_interleave(n, dim=0) / math.sqrt(n)  # N x r, Ybar = sqrt(n) U V^T
    if Q is None:
        Q = torch.eye(d, r, dtype=dtype)
    Q = Q.to(dtype)
    if Q.shape != (d, r) or not torch.allclose(Q.T @ Q, torch.eye(r, dtype=dtype), atol=1e-12):
        raise ValueError(f"Q must be a ({d}, {r}) matrix with orthonormal columns, got shape {tuple(Q.shape)}")
    sigma = opt.singular_value
    W = (lambda_H / lambda_W) ** 0.25 * math.sqrt(sigma) * U @ Q.T
    H = (lambda_W / lambda_H) ** 0.25 * math.sqrt(sigma) * Q @ V.T
    b = torch.full((K,), 1.0 / K, dtype=dtype)
    return ufm, UFMState(W=W, H=H, b=b)


class ExtendedUFM:
    """The extended UFM: an extra weight layer and an optional ReLU, MSE loss, float64.

    Math: f = 1/(2N)||W2 s(A) + b 1^T - Y||^2 + lambda_2/2||W2||^2 + lambda_1/2||W1||^2
    + lambda_H/2||H||^2 (+ lambda_b/2||b||^2), A = W1 H, s = identity or ReLU. With
    R = (W2 s(A) + b 1^T - Y)/N and G = (W2^T R) * s'(A):
    grad_W2 = R s(A)^T + lambda_2 W2, grad_W1 = G H^T + lambda_1 W1, grad_H = W1^T G + lambda_H H.

    Args:
        K, n: classes and samples per class; d: feature dimension of H; d1: hidden width.
        lambda_2, lambda_1, lambda_H: weight decays (> 0).
        activation: ``"identity"`` (linear extended UFM) or ``"relu"``.
        bias: an output bias (off by default: a bias flips the OF into an ETF).

    Example:
        >>> model = ExtendedUFM(4, 10, 8, 8, 5e-3, 5e-3, 5e-3)
        >>> st = model.gd(lr=0.5, steps=3000, seed=0)
        >>> f_star = model.optimum().f_star  # the scalar problem's minimum
        >>> abs(float(model.loss(st.W, st.W1, st.H)) - f_star) / f_star < 1e-6
        True

    References: Tirer & Bruna, Extended unconstrained features model for exploring deep
    neural collapse, ICML 2022 (PMLR v162, pp. 21478-21505).
    """

    def __init__(
        self,
        K: int,
        n: int,
        d: int,
        d1: int,
        lambda_2: float,
        lambda_1: float,
        lambda_H: float,
        activation: str = "identity",
        bias: bool = False,
        lambda_b: float = 0.0,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ) -> None:
        check_int("K", K, low=2)
        check_int("n", n, low=1)
        check_int("d", d, low=1)
        check_int("d1", d1, low=1)
        for name, value in (("lambda_2", lambda_2), ("lambda_1", lambda_1), ("lambda_H", lambda_H)):
            check_positive(name, value)
        check_positive("lambda_b", lambda_b, allow_zero=True)
        check_choice("activation", activation, ACTIVATIONS)
        self.K, self.n, self.d, self.d1, self.N = K, n, d, d1, n * K
        self.lambda_2, self.lambda_1, self.lambda_H, self.lambda_b = lambda_2, lambda_1, lambda_H, lambda_b
        self.activation, self.bias, self.dtype, self.device = activation, bias, dtype, device
        self.Y = one_hot_targets(K, n, dtype, device)
        self.labels = torch.arange(K, device=device).repeat_interleave(n)

    def optimum(self) -> ExtendedUFMOptimum:
        """The linear model's closed form (the ReLU model reaches the same value, see
        docs/papers/extended_ufm.md#claim-and-thresholds)."""
        return extended_ufm_optimum(self.K, self.n, self.lambda_2, self.lambda_1, self.lambda_H)

    def hidden(self, W1: Tensor, H: Tensor) -> Tensor:
        """s(W1 H): the second-layer features (d1 x N)."""
        A = W1 @ H
        return A.clamp_min(0.0) if self.activation == "relu" else A

    def loss(self, W2: Tensor, W1: Tensor, H: Tensor, b: Tensor | None = None) -> Tensor:
        Z = W2 @ self.hidden(W1, H)
        if b is not None:
            Z = Z + b[:, None]
        R = Z - self.Y
        value = (
            (R * R).sum() / (2 * self.N)
            + self.lambda_2 / 2 * (W2 * W2).sum()
            + self.lambda_1 / 2 * (W1 * W1).sum()
            + self.lambda_H / 2 * (H * H).sum()
        )
        if b is not None:
            value = value + self.lambda_b / 2 * (b * b).sum()
        return value

    def grad(
        self, W2: Tensor, W1: Tensor, H: Tensor, b: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Manual gradient (grad_W2, grad_W1, grad_H, grad_b); ReLU'(0) taken as 0."""
        A = W1 @ H
        S = A.clamp_min(0.0) if self.activation == "relu" else A
        Z = W2 @ S
        if b is not None:
            Z = Z + b[:, None]
        R = (Z - self.Y) / self.N
        G = W2.T @ R
        if self.activation == "relu":
            G = G * (A > 0)
        gW2 = R @ S.T + self.lambda_2 * W2
        gW1 = G @ H.T + self.lambda_1 * W1
        gH = W1.T @ G + self.lambda_H * H
        gb = None if b is None else R.sum(1) + self.lambda_b * b
        return gW2, gW1, gH, gb

    def init(self, generator: torch.Generator, std: float = 0.1) -> UFMState:
        check_positive("std", std, allow_zero=True)

        def draw(*shape: int) -> Tensor:
            return (torch.randn(*shape, generator=generator, dtype=self.dtype) * std).to(self.device)

        W2, W1, H = draw(self.K, self.d1), draw(self.d1, self.d), draw(self.d, self.N)
        return UFMState(W=W2, H=H, W1=W1, b=draw(self.K) if self.bias else None)

    @torch.no_grad()
    def gd(
        self,
        lr: float,
        steps: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        init_std: float = 0.1,
        state: UFMState | None = None,
        log_every: int = 100,
    ) -> UFMState:
        """Full-batch GD; ``state.W`` is W2, ``state.W1`` the hidden layer (lr 0.5 at the sizes of
        docs/papers/extended_ufm.md#defaults; lr 1.0 diverges on this three-factor model)."""
        check_positive("lr", lr)
        check_int("steps", steps, low=0)
        state = state or self.init(_generator(seed, generator), init_std)
        if state.W1 is None:
            raise ValueError("ExtendedUFM.gd needs a state with W1 (the hidden layer)")
        W2, W1, H = state.W.clone(), state.W1.clone(), state.H.clone()
        b = None if state.b is None else state.b.clone()
        out = UFMState(W=W2, H=H, W1=W1, b=b, losses=list(state.losses))
        for step in range(1, steps + 1):
            gW2, gW1, gH, gb = self.grad(W2, W1, H, b)
            W2 -= lr * gW2
            W1 -= lr * gW1
            H -= lr * gH
            if b is not None and gb is not None:
                b -= lr * gb
            if step % log_every == 0 or step == steps:
                value = float(self.loss(W2, W1, H, b))
                out.losses.append((step, value))
                if not math.isfinite(value):
                    out.diverged_step = step
                    break
        return out
