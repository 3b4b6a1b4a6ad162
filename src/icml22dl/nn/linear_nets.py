"""Deep linear networks with a width-one layer and diagonal linear networks.

Two model families of the ICML 2022 implicit-bias papers:

* :class:`DeepLinearNet`, :func:`balanced_rank_one_init`, :func:`factor_flow`,
  :func:`balance_drift`: gradient flow on the factors of ``W_N ... W_1`` for the quadratic
  loss ``1/2 ||W_N ... W_1 - Z||_F^2`` (Chen, Lin & Zhang, ICML 2022).
* :class:`DiagonalLinearNet`, :func:`diagonal_gd`: ``beta = u*u - v*v`` trained by plain
  gradient descent at a chosen step size (Nacson, Ravichandran, Srebro & Soudry, ICML 2022).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from icml22dl.validation import check_choice, check_int, check_number

__all__ = [
    "DeepLinearNet",
    "DiagonalGDResult",
    "DiagonalLinearNet",
    "FlowResult",
    "balance_drift",
    "balanced_rank_one_init",
    "diagonal_gd",
    "factor_flow",
    "factor_gradients",
]


def _widths(widths: Sequence[int]) -> tuple[int, ...]:
    """``widths`` as a tuple, validated: at least two positive integers ``(d_0, ..., d_N)``."""
    widths = tuple(widths)
    if len(widths) < 2:
        raise ValueError(f"widths={widths!r} must be at least two positive integers (d_0, ..., d_N)")
    for j, w in enumerate(widths):
        check_int(f"widths[{j}]", w, low=1)
    return widths


class DeepLinearNet(nn.Module):
    r"""A deep linear network ``x -> W_N ... W_1 x`` with arbitrary widths.

    .. math::
        f(x) = W_N W_{N-1} \cdots W_1 x, \qquad W_j \in \mathbb{R}^{d_j \times d_{j-1}}

    A hidden width ``d_k = 1`` makes the end-to-end matrix rank <= 1, the setting of Chen,
    Lin & Zhang (2022). Any (possibly unbalanced) initialisation can be loaded with
    :meth:`set_weights`.

    Args:
        widths: ``(d_0, d_1, ..., d_N)``, input width first; ``N = len(widths) - 1 >= 1``.
        bias: add a bias to every layer (the end-to-end matrix then ignores the biases).
        init_std: standard deviation of the Gaussian init of every weight (default
            ``1 / sqrt(d_{j-1})``).
        generator: random source of the init.
        dtype: parameter dtype (float64 by default: the flows are compared at 1e-8).

    Returns:
        ``forward(x)`` maps ``(B, d_0)`` to ``(B, d_N)``.

    Example:
        >>> net = DeepLinearNet((6, 1, 5))
        >>> net.end_to_end().shape
        torch.Size([5, 6])

    References:
        K. Chen, D. Lin, Z. Zhang. On non-local convergence analysis of deep linear networks.
        ICML 2022 (arXiv 2201.02761), Sec. 2: the model and the quadratic loss.
    """

    def __init__(
        self,
        widths: Sequence[int],
        bias: bool = False,
        init_std: float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.widths = _widths(widths)
        if init_std is not None:
            check_number("init_std", init_std, low=0.0)
        self.layers = nn.ModuleList()
        for d_in, d_out in zip(self.widths[:-1], self.widths[1:]):
            layer = nn.Linear(d_in, d_out, bias=bias, dtype=dtype)
            std = init_std if init_std is not None else 1.0 / math.sqrt(d_in)
            with torch.no_grad():
                layer.weight.copy_(torch.randn(d_out, d_in, generator=generator, dtype=dtype) * std)
                if bias:
                    layer.bias.zero_()
            self.layers.append(layer)

    @property
    def depth(self) -> int:
        return len(self.layers)

    def _linears(self) -> list[nn.Linear]:
        return [layer for layer in self.layers if isinstance(layer, nn.Linear)]

    def weights(self) -> list[Tensor]:
        """The factors ``[W_1, ..., W_N]`` (detached copies)."""
        return [layer.weight.detach().clone() for layer in self._linears()]

    @torch.no_grad()
    def set_weights(self, weights: Sequence[Tensor]) -> DeepLinearNet:
        """Load factors ``[W_1, ..., W_N]`` (shapes must match the widths); returns self."""
        if len(weights) != self.depth:
            raise ValueError(f"weights must hold {self.depth} factors, got {len(weights)}")
        for j, (layer, w) in enumerate(zip(self._linears(), weights)):
            if tuple(w.shape) != tuple(layer.weight.shape):
                raise ValueError(f"weights[{j}] has shape {tuple(w.shape)}, expected {tuple(layer.weight.shape)}")
            layer.weight.copy_(w)
        return self

    def end_to_end(self) -> Tensor:
        """The product ``W_N ... W_1`` of shape ``(d_N, d_0)``."""
        linears = self._linears()
        product = linears[0].weight
        for layer in linears[1:]:
            product = layer.weight @ product
        return product

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def balanced_rank_one_init(
    widths: Sequence[int],
    s0: float,
    u: Tensor,
    v: Tensor,
    q: Sequence[Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    r"""Exactly balanced factors whose product is ``s0 * u v^T``.

    .. math::
        W_1 = s_0^{1/N} q_1 v^T,\quad W_j = s_0^{1/N} q_j q_{j-1}^T,\quad
        W_N = s_0^{1/N} u q_{N-1}^T

    with unit ``q_j`` in ``R^{d_j}`` (``q_j = +-1`` on a width-one layer). Then
    ``W_{j+1}^T W_{j+1} = W_j W_j^T = s_0^{2/N} q_j q_j^T`` exactly (balanced), and every
    factor has rank one. With a width-one layer, every balanced init has this form.

    Args:
        widths: ``(d_0, ..., d_N)``.
        s0: end-to-end singular value, > 0.
        u: unit vector in ``R^{d_N}`` (normalised here).
        v: unit vector in ``R^{d_0}`` (normalised here).
        q: the ``N - 1`` hidden unit vectors; drawn uniformly on the spheres when omitted.
        generator: random source of the drawn ``q``.

    Returns:
        ``[W_1, ..., W_N]`` in the dtype of ``u``.

    Example:
        >>> ws = balanced_rank_one_init((6, 1, 5), 0.05, torch.ones(5, dtype=torch.float64),
        ...                             torch.ones(6, dtype=torch.float64))
        >>> round(float(torch.linalg.matrix_norm(ws[1] @ ws[0], ord=2)), 12)
        0.05
        >>> balance_drift(ws) < 1e-15
        True

    References:
        Chen, Lin & Zhang (ICML 2022), balanced initialisation W_{j+1}^T W_{j+1} = W_j W_j^T
        (after Arora et al. 2018); the construction is the project's
        (docs/papers/deep_linear.md#method).
    """
    widths = _widths(widths)
    n = len(widths) - 1
    check_number("s0", s0, low=0.0, low_inclusive=False)
    if u.shape != (widths[-1],) or v.shape != (widths[0],):
        raise ValueError(
            f"u must have shape ({widths[-1]},) and v ({widths[0]},); got {tuple(u.shape)}, {tuple(v.shape)}"
        )
    dtype = u.dtype
    u = u / torch.linalg.vector_norm(u)
    v = (v / torch.linalg.vector_norm(v)).to(dtype)
    if q is None:
        q = []
        for d in widths[1:-1]:
            x = torch.randn(d, generator=generator, dtype=dtype)
            q.append(x / torch.linalg.vector_norm(x))
    q = [qj.to(dtype) / torch.linalg.vector_norm(qj) for qj in q]
    if len(q) != n - 1 or any(qj.shape != (d,) for qj, d in zip(q, widths[1:-1])):
        raise ValueError(f"q must hold {n - 1} unit vectors of lengths {widths[1:-1]}")
    scale = float(s0) ** (1.0 / n)
    vecs = [v, *q, u]  # vecs[j] lives on layer j's output side, vecs[0] the input
    return [scale * torch.outer(vecs[j + 1], vecs[j]) for j in range(n)]


def balance_drift(weights: Sequence[Tensor]) -> float:
    r"""``max_j || W_{j+1}^T W_{j+1} - W_j W_j^T ||_F``, zero for a balanced network.

    Gradient flow conserves each ``W_{j+1}^T W_{j+1} - W_j W_j^T`` exactly (Arora et al.
    2018); discrete GD only up to ``O(eta^2)`` per step.

    Args:
        weights: factors ``[W_1, ..., W_N]``, optionally with a leading batch dimension
            (``(B, d_j, d_{j-1})``: B networks).

    Returns:
        The largest Frobenius norm over ``j = 1 .. N-1`` (and over the batch); 0.0 for ``N = 1``.

    Example:
        >>> balance_drift([torch.ones(1, 2), torch.ones(3, 1)])  # |W_2^T W_2 - W_1 W_1^T| = |3 - 2|
        1.0
        >>> balance_drift([torch.ones(1, 2), torch.ones(2, 1)])  # balanced: 2 = 2
        0.0

    References:
        Arora, Cohen, Hazan (ICML 2018), the conserved quantities of gradient flow on linear
        factors; Chen, Lin & Zhang (ICML 2022), balanced initialisation.
    """
    drift = 0.0
    for w, w_next in zip(weights[:-1], weights[1:]):
        drift = max(drift, float(torch.linalg.matrix_norm(w_next.mT @ w_next - w @ w.mT).max()))
    return drift


def _product(weights: Sequence[Tensor]) -> Tensor:
    product = weights[0]
    for w in weights[1:]:
        product = w @ product
    return product


def _gradients(weights: Sequence[Tensor], target: Tensor) -> tuple[list[Tensor], Tensor, Tensor]:
    """Gradients, end-to-end matrix and residual; every factor may carry a leading batch dimension."""
    n = len(weights)
    prefix = [weights[0]]  # prefix[j] = W_{j+1} ... W_1 (0-based: W_j ... W_0)
    for w in weights[1:]:
        prefix.append(w @ prefix[-1])
    residual = prefix[-1] - target
    grads: list[Tensor] = [None] * n  # type: ignore[list-item]
    left = residual  # (W_N ... W_{j+2})^T residual, built from the top
    for j in range(n - 1, -1, -1):
        grads[j] = left @ prefix[j - 1].mT if j > 0 else left
        if j > 0:
            left = weights[j].mT @ left
    return grads, prefix[-1], residual


def factor_gradients(weights: Sequence[Tensor], target: Tensor) -> tuple[list[Tensor], Tensor, float]:
    r"""Gradients of ``L = 1/2 ||W_N ... W_1 - Z||_F^2`` with respect to every factor.

    .. math::
        \nabla_{W_j} L = (W_N \cdots W_{j+1})^T (W - Z) (W_{j-1} \cdots W_1)^T

    Args:
        weights: ``[W_1, ..., W_N]``.
        target: ``Z`` of shape ``(d_N, d_0)``.

    Returns:
        ``(grads, W, loss)``: the gradients, the end-to-end matrix and the loss.

    Example:
        >>> w1, w2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0], [0.0]])
        >>> grads, W, loss = factor_gradients([w1, w2], torch.zeros(2, 2))
        >>> loss, grads[0].tolist(), grads[1].tolist()  # L = 1/2 ||[[2, 0], [0, 0]]||^2
        (2.0, [[4.0, 0.0]], [[2.0], [0.0]])

    References:
        Arora, Cohen, Hazan (ICML 2018), the gradient of a product of factors; Chen, Lin &
        Zhang (ICML 2022), the quadratic loss.
    """
    grads, product, residual = _gradients(weights, target)
    return grads, product, 0.5 * float(torch.sum(residual * residual))


@dataclass
class FlowResult:
    """Recorded trajectory of :func:`factor_flow` (one row per recorded time).

    For a batch of ``B`` networks (factors with a leading batch dimension) ``loss`` and
    ``top_singular_value`` gain a last dimension ``B``, ``products`` a second one, and
    ``balance_drift`` is the largest over the batch.

    Attributes:
        times: recorded times ``(T,)``.
        loss: ``1/2 ||W(t) - Z||_F^2`` ``(T,)`` or ``(T, B)``.
        top_singular_value: the largest singular value of ``W(t)`` ``(T,)`` or ``(T, B)``.
        balance_drift: :func:`balance_drift` of the factors ``(T,)``.
        products: ``W(t)`` stacked, ``(T, d_N, d_0)`` or ``(T, B, d_N, d_0)``; ``None`` when
            not kept.
        weights: the final factors.

    Example:
        >>> z = torch.eye(2, dtype=torch.float64)
        >>> ws = [torch.eye(2, dtype=torch.float64)]  # already at the target
        >>> flow = factor_flow(ws, z, 1.0, 0.5)
        >>> flow.times.tolist(), flow.loss.tolist()
        ([0.0, 0.5, 1.0], [0.0, 0.0, 0.0])

    References:
        Chen, Lin & Zhang (ICML 2022): the quantities tracked along gradient flow
        (docs/papers/deep_linear.md#method).
    """

    times: Tensor
    loss: Tensor
    top_singular_value: Tensor
    balance_drift: Tensor
    products: Tensor | None
    weights: list[Tensor] = field(default_factory=list)


def _rk4_step(ws: list[Tensor], target: Tensor, dt: float) -> list[Tensor]:
    """One classical RK4 step of gradient flow (``_foreach`` ops: the same arithmetic, fewer kernel calls)."""
    k1 = _gradients(ws, target)[0]
    k2 = _gradients(torch._foreach_add(ws, k1, alpha=-0.5 * dt), target)[0]
    k3 = _gradients(torch._foreach_add(ws, k2, alpha=-0.5 * dt), target)[0]
    k4 = _gradients(torch._foreach_add(ws, k3, alpha=-dt), target)[0]
    increment = torch._foreach_add(k1, k2, alpha=2.0)  # k1 + 2 k2 + 2 k3 + k4, left to right
    torch._foreach_add_(increment, k3, alpha=2.0)
    torch._foreach_add_(increment, k4)
    return list(torch._foreach_add(ws, increment, alpha=-dt / 6.0))


def factor_flow(
    weights: Sequence[Tensor],
    target: Tensor,
    T: float,
    dt: float,
    method: str = "rk4",
    record_every: int = 1,
    stop_loss: float | None = None,
    keep_products: bool = True,
) -> FlowResult:
    r"""Integrate gradient flow ``dW_j/dt = -grad_{W_j} L`` on the factors of a deep linear net.

    .. math::
        L(W_1, \dots, W_N) = \tfrac12 \| W_N \cdots W_1 - Z \|_F^2

    ``method="rk4"`` is the classical fourth-order Runge-Kutta scheme with step ``dt`` (the
    reference integrator of docs/papers/deep_linear.md#method: it conserves balance to
    ``O(dt^4)``); ``method="gd"`` is explicit Euler, i.e. gradient descent with step size ``dt``.
    Factors with a leading batch dimension ``(B, d_j, d_{j-1})`` integrate ``B`` independent
    networks at once (the same arithmetic as ``B`` separate calls, up to float order).

    Args:
        weights: initial factors ``[W_1, ..., W_N]`` (not modified), optionally batched.
        target: ``Z`` of shape ``(d_N, d_0)``.
        T: final time, >= 0; the number of steps is ``round(T / dt)``.
        dt: step, > 0.
        method: ``"rk4"`` or ``"gd"``.
        record_every: record every this many steps (and the final step).
        stop_loss: when given, stop at the first recorded time at which every network's
            loss is ``<= stop_loss`` (``T`` is then a cap).
        keep_products: store ``W(t)`` at every recorded time (off for large batches).

    Returns:
        :class:`FlowResult`: times, loss, top singular value of the product, balance drift,
        the products ``W(t)`` (stacked) and the final factors.

    Example:
        >>> z = torch.diag(torch.tensor([3.0, 2.0], dtype=torch.float64))
        >>> ws = balanced_rank_one_init((2, 1, 2), 0.1, torch.tensor([1.0, 0.0], dtype=torch.float64),
        ...                             torch.tensor([1.0, 0.0], dtype=torch.float64))
        >>> round(float(factor_flow(ws, z, 5.0, 1e-3).loss[-1]), 6)
        2.0
        >>> flow = factor_flow(ws, z, 50.0, 1e-2, record_every=10, stop_loss=2.0 + 1e-9)
        >>> float(flow.times[-1]) < 50.0 and float(flow.loss[-1]) <= 2.0 + 1e-9  # stopped early
        True

    References:
        Chen, Lin & Zhang (ICML 2022): gradient flow on the factors, integrated by RK4 as in
        docs/papers/deep_linear.md#method.
    """
    check_choice("method", method, ("rk4", "gd"))
    check_number("dt", dt, low=0.0, low_inclusive=False)
    check_number("T", T, low=0.0)
    check_int("record_every", record_every, low=1)
    steps = int(round(T / dt))
    ws = [w.detach().clone() for w in weights]
    times: list[float] = []
    losses: list[Tensor] = []
    tops: list[Tensor] = []
    drifts: list[float] = []
    products: list[Tensor] = []

    def record(step: int) -> bool:
        product = _product(ws)
        residual = product - target
        times.append(step * dt)
        losses.append(0.5 * torch.sum(residual * residual, dim=(-2, -1)))
        tops.append(torch.linalg.matrix_norm(product, ord=2))
        drifts.append(balance_drift(ws))
        if keep_products:
            products.append(product)
        return stop_loss is not None and bool((losses[-1] <= stop_loss).all())

    done = record(0)
    with torch.no_grad():
        for step in range(1, steps + 1):
            if done:
                break
            if method == "gd":
                grads = _gradients(ws, target)[0]
                ws = [w - dt * g for w, g in zip(ws, grads)]
            else:
                ws = _rk4_step(ws, target, dt)
            if step % record_every == 0 or step == steps:
                done = record(step)
    return FlowResult(
        times=torch.tensor(times, dtype=torch.float64),
        loss=torch.stack(losses).to(torch.float64),
        top_singular_value=torch.stack(tops).to(torch.float64),
        balance_drift=torch.tensor(drifts, dtype=torch.float64),
        products=torch.stack(products) if keep_products else None,
        weights=ws,
    )


class DiagonalLinearNet(nn.Module):
    r"""Diagonal linear network: ``f(x) = <x, u*u - v*v>``, initialised at ``u = v = alpha 1``.

    .. math::
        \beta = u \odot u - v \odot v, \qquad \beta_0 = 0

    Small ``alpha`` gives the rich (sparse, ``l1``-like) regime of gradient flow, large
    ``alpha`` the kernel (``l2``-like) one (Woodworth et al. 2020).

    Args:
        d: input dimension.
        alpha: initialisation scale, > 0.
        dtype: parameter dtype.

    Returns:
        ``forward(x)`` maps ``(B, d)`` to ``(B,)``.

    Example:
        >>> DiagonalLinearNet(3, 0.1)(torch.ones(2, 3, dtype=torch.float64))
        tensor([0., 0.], dtype=torch.float64, grad_fn=<MvBackward0>)

    References:
        M. S. Nacson, K. Ravichandran, N. Srebro, D. Soudry. Implicit bias of the step size in
        linear diagonal neural networks. ICML 2022, Sec. 2 (model); B. Woodworth et al.,
        Kernel and rich regimes in overparametrized models, COLT 2020.
    """

    def __init__(self, d: int, alpha: float, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        check_int("d", d, low=1)
        check_number("alpha", alpha, low=0.0, low_inclusive=False)
        self.u = nn.Parameter(torch.full((d,), float(alpha), dtype=dtype))
        self.v = nn.Parameter(torch.full((d,), float(alpha), dtype=dtype))

    @property
    def beta(self) -> Tensor:
        return self.u * self.u - self.v * self.v

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.beta


@dataclass
class DiagonalGDResult:
    """Outcome of :func:`diagonal_gd`.

    ``status`` is ``"converged"`` (loss below ``tol``), ``"max_steps"`` or ``"diverged"``
    (loss above ``diverge_at`` or not finite); ``losses`` holds the loss every
    ``record_every`` steps (``losses[0]`` at step 0).

    Example:
        >>> X = torch.eye(2, dtype=torch.float64); y = torch.tensor([1.0, -1.0], dtype=torch.float64)
        >>> r = diagonal_gd(X, y, 0.1, 0.5)
        >>> r.status, torch.allclose(r.beta, r.u * r.u - r.v * r.v), r.final_loss < 1e-8
        ('converged', True, True)

    References:
        Nacson, Ravichandran, Srebro & Soudry (ICML 2022): GD outcomes, divergence included
        (docs/papers/step_size_bias.md#method).
    """

    beta: Tensor
    u: Tensor
    v: Tensor
    steps: int
    status: str
    final_loss: float
    losses: list[float]


def diagonal_gd(
    X: Tensor,
    y: Tensor,
    alpha: float,
    eta: float,
    max_steps: int = 100_000,
    tol: float = 1e-8,
    diverge_at: float = 1e12,
    record_every: int = 100,
) -> DiagonalGDResult:
    r"""Full-batch gradient descent on a diagonal linear network at step size ``eta``.

    .. math::
        L = \tfrac{1}{2N}\|X\beta - y\|^2,\quad g = X^T(X\beta - y)/N,\quad
        u \leftarrow u - 2\eta\, u \odot g,\quad v \leftarrow v + 2\eta\, v \odot g

    (simultaneous updates from ``u = v = alpha 1``). Each step multiplies ``u_i v_i`` by
    ``1 - 4 eta^2 g_i^2`` exactly, so GD acts like gradient flow from a smaller, coordinate-
    wise init: larger steps give sparser solutions. Divergence is an outcome, not an error.

    Args:
        X: design ``(N, d)``.
        y: targets ``(N,)``.
        alpha: initialisation scale, > 0.
        eta: step size, > 0.
        max_steps: step cap.
        tol: stop when ``L < tol``.
        diverge_at: report ``"diverged"`` when ``L > diverge_at`` or ``L`` is not finite.
        record_every: loss trace interval.

    Returns:
        :class:`DiagonalGDResult`.

    Example:
        >>> X = torch.eye(2, dtype=torch.float64); y = torch.tensor([1.0, -1.0], dtype=torch.float64)
        >>> diagonal_gd(X, y, 0.1, 0.5).status
        'converged'

    References:
        Nacson, Ravichandran, Srebro & Soudry, ICML 2022: GD on ``u*u - v*v`` with the square
        loss; the loss normalisation ``1/(2N)`` and the invariant are derived in
        docs/papers/step_size_bias.md#method.
    """
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (N, d) and y (N,), got {tuple(X.shape)} and {tuple(y.shape)}")
    check_number("alpha", alpha, low=0.0, low_inclusive=False)
    check_number("eta", eta, low=0.0, low_inclusive=False)
    check_int("max_steps", max_steps, low=0)
    check_int("record_every", record_every, low=1)
    n, d = X.shape
    u = torch.full((d,), float(alpha), dtype=X.dtype)
    v = u.clone()
    beta = torch.zeros(d, dtype=X.dtype)
    xt = X.T.contiguous()
    two_eta_over_n = 2.0 * eta / n
    losses: list[float] = []
    status = "max_steps"
    step = 0
    with torch.no_grad():
        while True:
            residual = torch.mv(X, beta) - y
            loss = float(torch.dot(residual, residual)) / (2 * n)
            if step % record_every == 0:
                losses.append(loss)
            if not math.isfinite(loss) or loss > diverge_at:
                status = "diverged"
                break
            if loss < tol:
                status = "converged"
                break
            if step >= max_steps:
                break
            scaled = torch.mv(xt, residual).mul_(two_eta_over_n)  # 2 eta g
            u.mul_(1.0 - scaled)
            v.mul_(1.0 + scaled)
            beta = u * u - v * v
            step += 1
    return DiagonalGDResult(beta=beta, u=u, v=v, steps=step, status=status, final_loss=loss, losses=losses)
