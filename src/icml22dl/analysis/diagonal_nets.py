"""Implicit bias and stability of diagonal linear networks ``beta = u*u - v*v``.

Gradient flow from ``u = v = alpha 1`` converges to the minimiser of the Woodworth potential
``Q_alpha`` among interpolators; GD with step ``eta`` can only settle at minima whose sharpness
is at most ``2/eta``, which for non-centred data bounds a weighted l1 norm of ``beta``.

References:
    M. S. Nacson, K. Ravichandran, N. Srebro, D. Soudry. Implicit bias of the step size in
    linear diagonal neural networks. ICML 2022. The constants below are derived for the loss
    ``1/(2N)||X beta - y||^2`` (docs/papers/step_size_bias.md#method), not transcribed from
    the paper.
    B. Woodworth et al. Kernel and rich regimes in overparametrized models. COLT 2020.
"""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_number

__all__ = [
    "gaussian_test_error",
    "gf_solution",
    "gn_sharpness",
    "init_sharpness",
    "kkt_residual",
    "q_alpha",
    "stability_bound",
    "weighted_l1",
]


def q_alpha(beta: Tensor, alpha: float) -> Tensor:
    r"""Woodworth et al.'s potential of gradient flow on ``u*u - v*v`` from ``u = v = alpha 1``.

    .. math::
        Q_\alpha(\beta) = \alpha^2 \sum_i q(\beta_i/\alpha^2),\quad
        q(z) = 2 - \sqrt{4 + z^2} + z\,\mathrm{arcsinh}(z/2)

    ``grad Q_alpha(beta) = arcsinh(beta / (2 alpha^2))``. Small alpha: about
    ``ln(1/alpha^2) ||beta||_1``; large alpha: about ``||beta||_2^2 / (4 alpha^2)``.

    Args:
        beta: vector ``(d,)``.
        alpha: init scale, > 0.

    Returns:
        The scalar ``Q_alpha(beta)``.

    Example:
        >>> float(q_alpha(torch.zeros(3, dtype=torch.float64), 0.1))  # q(0) = 0
        0.0
        >>> round(float(q_alpha(torch.tensor([1.0], dtype=torch.float64), 1e-3)), 2)  # ~ ln(1/alpha^2)|beta|
        12.82

    References:
        B. Woodworth et al. Kernel and rich regimes in overparametrized models. COLT 2020, Thm 1.
    """
    check_number("alpha", alpha, low=0.0, low_inclusive=False)
    z = beta / alpha**2
    return alpha**2 * torch.sum(2.0 - torch.sqrt(4.0 + z * z) + z * torch.asinh(z / 2.0))


def gf_solution(X: Tensor, y: Tensor, alpha: float, tol: float = 1e-12, max_iter: int = 500) -> Tensor:
    r"""The gradient-flow limit: ``argmin Q_alpha(beta)`` subject to ``X beta = y``.

    Solved through the dual: the KKT conditions ``arcsinh(beta/(2 alpha^2)) = X^T lam`` give
    ``beta = 2 alpha^2 sinh(X^T lam)``, and ``lam`` minimises the convex
    ``f(lam) = 2 alpha^2 sum_i cosh((X^T lam)_i) - lam^T y`` (damped Newton with
    backtracking, float64).

    Args:
        X: design ``(N, d)`` of full row rank.
        y: targets ``(N,)``.
        alpha: init scale, > 0.
        tol: stop when ``||X beta - y||_inf <= tol * max(1, ||y||_inf)``.
        max_iter: Newton iterations.

    Returns:
        ``beta`` ``(d,)``.

    Raises:
        RuntimeError: when Newton does not reach ``tol``.

    Example:
        >>> X = torch.tensor([[1.0, 1.0]], dtype=torch.float64); y = torch.tensor([2.0], dtype=torch.float64)
        >>> gf_solution(X, y, 0.1)  # symmetric: the potential splits the target evenly
        tensor([1., 1.], dtype=torch.float64)

    References:
        Woodworth et al. (COLT 2020), Thm 1 (the gradient-flow limit); the dual Newton solver
        is the project's (docs/papers/step_size_bias.md#method).
    """
    check_number("alpha", alpha, low=0.0, low_inclusive=False)
    check_int("max_iter", max_iter, low=1)
    X = X.to(torch.float64)
    y = y.to(torch.float64)
    c = 2.0 * alpha**2
    lam = torch.zeros(X.shape[0], dtype=torch.float64)

    def objective(lam: Tensor) -> float:
        return float(c * torch.cosh(X.T @ lam).sum() - lam @ y)

    scale = max(1.0, float(y.abs().max()))
    for _ in range(max_iter):
        w = X.T @ lam
        grad = X @ (c * torch.sinh(w)) - y
        if float(grad.abs().max()) <= tol * scale:
            return c * torch.sinh(w)
        hessian = (X * (c * torch.cosh(w))[None, :]) @ X.T
        step = torch.linalg.solve(hessian, grad)
        f0, t = objective(lam), 1.0
        slope = float(grad @ step)
        while objective(lam - t * step) > f0 - 0.25 * t * slope and t > 1e-12:
            t *= 0.5
        lam = lam - t * step
    w = X.T @ lam
    residual = float((X @ (c * torch.sinh(w)) - y).abs().max())
    if residual > tol * scale * 1e3:
        raise RuntimeError(f"gf_solution: Newton stopped at residual {residual:.3e} after {max_iter} iterations")
    return c * torch.sinh(w)


def kkt_residual(X: Tensor, beta: Tensor, alpha: float) -> float:
    r"""Relative part of ``arcsinh(beta / (2 alpha^2))`` outside ``range(X^T)``.

    .. math::
        r = \frac{\|(I - P)\,\mathrm{arcsinh}(\beta/2\alpha^2)\|}{\|\mathrm{arcsinh}(\beta/2\alpha^2)\|},
        \quad P = X^T (X X^T)^{-1} X

    Zero exactly at the gradient-flow solution (``gf_solution``); GD at step ``eta`` leaves
    ``O(eta^3)`` per step (its exact identity is ``ln(u/v) = -2 sum_t artanh(2 eta g_t)``).

    Args:
        X: design ``(N, d)``.
        beta: candidate ``(d,)``.
        alpha: init scale, > 0.

    Returns:
        ``r`` in [0, 1] (0.0 when beta = 0).

    Example:
        >>> X = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
        >>> kkt_residual(X, torch.tensor([1.0, 1.0], dtype=torch.float64), 0.1) < 1e-12  # in range(X^T)
        True
        >>> round(kkt_residual(X, torch.tensor([2.0, 0.0], dtype=torch.float64), 0.1), 6)
        0.707107

    References:
        Woodworth et al. (COLT 2020): the KKT conditions of the gradient-flow limit,
        ``arcsinh(beta / (2 alpha^2)) in range(X^T)``; the test is described in
        docs/papers/step_size_bias.md#method.
    """
    check_number("alpha", alpha, low=0.0, low_inclusive=False)
    w = torch.asinh(beta / (2.0 * alpha**2))
    norm = float(torch.linalg.vector_norm(w))
    if norm == 0.0:
        return 0.0
    coef = torch.linalg.lstsq(X.T, w[:, None]).solution
    outside = w - (X.T @ coef)[:, 0]
    return float(torch.linalg.vector_norm(outside)) / norm


def gn_sharpness(X: Tensor, u: Tensor, v: Tensor) -> float:
    r"""Gauss-Newton sharpness of ``L = 1/(2N)||X(u*u - v*v) - y||^2`` at ``(u, v)``.

    .. math::
        \lambda_{\max}\big(\tfrac1N J^T J\big) = \tfrac4N\,\lambda_{\max}\big(X\,\mathrm{diag}(u^2+v^2)\,X^T\big),
        \quad J = [X\,\mathrm{diag}(2u),\; -X\,\mathrm{diag}(2v)]

    Equal to the Hessian's top eigenvalue at an interpolating minimum (the residual term
    vanishes); elsewhere the residual term is ignored.

    Args:
        X: design ``(N, d)``.
        u, v: the two factors ``(d,)``.

    Returns:
        The top eigenvalue.

    Example:
        >>> X = torch.eye(2, dtype=torch.float64)
        >>> gn_sharpness(X, torch.tensor([1.0, 0.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
        2.0

    References:
        Nacson et al. (ICML 2022): sharpness at a minimum and GD's stability condition
        ``lambda_max <= 2 / eta``; the Gauss-Newton form for this loss is derived in
        docs/papers/step_size_bias.md#method.
    """
    n = X.shape[0]
    gram = (X * (u * u + v * v)[None, :]) @ X.T
    return 4.0 / n * float(torch.linalg.eigvalsh(gram)[-1])


def init_sharpness(X: Tensor, alpha: float) -> float:
    r"""``s0 = (8 alpha^2 / N) lambda_max(X X^T)``, the Gauss-Newton sharpness at ``u = v = alpha 1``.

    Step sizes are quoted relative to it: ``eta = f * 2 / s0``.

    Args:
        X: design ``(N, d)``.
        alpha: init scale, > 0.

    Returns:
        ``s0``.

    Example:
        >>> init_sharpness(torch.eye(2, dtype=torch.float64), 0.5)  # (8 * 0.25 / 2) * 1
        1.0

    References:
        Nacson et al. (ICML 2022): step sizes relative to the sharpness at initialisation;
        the residual term is ignored (docs/papers/step_size_bias.md#method).
    """
    check_number("alpha", alpha, low=0.0, low_inclusive=False)
    ones = torch.full((X.shape[1],), float(alpha), dtype=X.dtype)
    return gn_sharpness(X, ones, ones)


def weighted_l1(X: Tensor, beta: Tensor) -> float:
    r"""``sum_i xbar_i^2 |beta_i|`` with ``xbar`` the column means of X.

    Linear stability of GD (``lambda_max <= 2/eta``) at an interpolating minimum implies
    ``weighted_l1 <= 1/(2 eta)`` (see :func:`stability_bound`).

    Args:
        X: design ``(N, d)``.
        beta: ``(d,)``.

    Returns:
        The weighted l1 norm.

    Example:
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64)  # column means 2, 1
        >>> weighted_l1(X, torch.tensor([1.0, -3.0], dtype=torch.float64))  # 4 * 1 + 1 * 3
        7.0

    References:
        Nacson et al. (ICML 2022): stable minima have a bounded weighted l1 norm (abstract);
        the weights and constant are derived for this loss in
        docs/papers/step_size_bias.md#method.
    """
    xbar = X.mean(dim=0)
    return float(torch.sum(xbar * xbar * beta.abs()))


def stability_bound(eta: float) -> float:
    r"""``1 / (2 eta)``: the largest weighted l1 norm of a minimum GD at step ``eta`` can settle at.

    .. math::
        \lambda_{\max} \ge \tfrac{4}{N}\,\mathbf 1^T X \mathrm{diag}(u^2+v^2) X^T \mathbf 1/N
        \ge 4\textstyle\sum_i \bar x_i^2|\beta_i| \quad\Rightarrow\quad
        \sum_i \bar x_i^2 |\beta_i| \le \frac{1}{2\eta}

    (test vector ``1/sqrt(N)``, and ``|beta_i| <= u_i^2 + v_i^2``). With the loss
    ``1/N||.||^2`` instead of ``1/(2N)``, the bound is ``1/(4 eta)``.

    Args:
        eta: step size, > 0.

    Example:
        >>> stability_bound(0.25)
        2.0

    References:
        Nacson et al. (ICML 2022), the stability bound on a weighted l1 norm; the constant is
        derived for ``L = 1/(2N)||X beta - y||^2`` in docs/papers/step_size_bias.md#method.
    """
    check_number("eta", eta, low=0.0, low_inclusive=False)
    return 1.0 / (2.0 * eta)


def gaussian_test_error(beta: Tensor, beta_star: Tensor, mu: float) -> float:
    r"""Noise-free test error ``E (x^T (beta - beta*))^2`` for ``x ~ N(mu 1, I)``.

    .. math::
        E = \|\beta - \beta^*\|^2 + \mu^2 \big(\mathbf 1^T(\beta - \beta^*)\big)^2

    Args:
        beta: estimate ``(d,)``.
        beta_star: truth ``(d,)``.
        mu: feature mean.

    Returns:
        The expected squared error.

    Example:
        >>> b = torch.tensor([1.0, 0.0], dtype=torch.float64)
        >>> gaussian_test_error(b, torch.zeros(2, dtype=torch.float64), 2.0)  # 1 + 4 * 1
        5.0

    References:
        Closed form of E (x^T d)^2 = d^T (I + mu^2 1 1^T) d for x ~ N(mu 1, I)
        (docs/papers/step_size_bias.md#method).
    """
    diff = beta - beta_star
    return float(diff @ diff) + float(mu) ** 2 * float(diff.sum()) ** 2
