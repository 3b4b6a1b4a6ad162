"""Langevin posterior sampling through a random expansive ReLU generator (SGILO theory).

The theory part of SGILO extends Hand & Voroninski's landscape analysis of inverting a
random ReLU network from gradient descent to Langevin dynamics: the chain
x_{t+1} = x_t - eta grad f(x_t) + sqrt(2 eta / beta) xi_t, f(x) = 1/2 ||A G(x) - y||^2,
avoids the spurious critical points near 0 and -rho_d x*, enters a strongly convex
neighbourhood of x* and mixes there to a law close to exp(-beta f).

References:
    Daras, Dagan, Dimakis, Daskalakis, "Score-Guided Intermediate Layer Optimization:
    Fast Langevin Mixing for Inverse Problems", ICML 2022, Sec. 3 (theory).
    Hand, Voroninski, "Global Guarantees for Enforcing Deep Generative Priors by Empirical
    Risk", COLT 2018 (the expected gradient field h_{x, x*}).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from icml22dl.validation import check_int, check_number


class ReLUGenerator:
    """G(x) = ReLU(W_d ... ReLU(W_1 x)) with fixed weights (no bias), batched over x.

    Attributes:
        weights: the matrices W_1 .. W_d, W_i of shape (n_i, n_{i-1}).

    Example:
        >>> G = ReLUGenerator([torch.tensor([[1.0, 0.0], [0.0, -1.0]])])
        >>> G(torch.tensor([[2.0, 3.0]])), G.jacobian(torch.tensor([2.0, 3.0]))
        (tensor([[2., 0.]]), tensor([[1., 0.],
                [0., -0.]]))

    References:
        Hand & Voroninski (COLT 2018): the random ReLU generator without biases; SGILO
        (ICML 2022) Sec. 3.
    """

    def __init__(self, weights: Sequence[torch.Tensor]):
        if not weights:
            raise ValueError("weights must hold at least one matrix")
        for i in range(1, len(weights)):
            if weights[i].shape[1] != weights[i - 1].shape[0]:
                raise ValueError(
                    f"weights[{i}].shape={tuple(weights[i].shape)} does not follow "
                    f"weights[{i - 1}].shape={tuple(weights[i - 1].shape)}"
                )
        self.weights = list(weights)

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for w in self.weights:
            x = torch.relu(x @ w.T)
        return x

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """dG/dx at one point x of shape (k,): the (n_d, k) matrix prod_i diag(1[W_i h > 0]) W_i."""
        if x.dim() != 1:
            raise ValueError(f"x.shape={tuple(x.shape)} must be (k,) for the Jacobian")
        jac = torch.eye(x.shape[0], dtype=x.dtype, device=x.device)
        h = x
        for w in self.weights:
            pre = w @ h
            active = (pre > 0).to(x.dtype)
            jac = active[:, None] * (w @ jac)
            h = torch.relu(pre)
        return jac


def random_relu_generator(
    widths: Sequence[int], generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> ReLUGenerator:
    """A random expansive ReLU generator with W_i i.i.d. N(0, 1/n_i).

    Math: G(x) = ReLU(W_d ... ReLU(W_1 x)), W_i in R^{n_i x n_{i-1}}, entries N(0, 1/n_i);
    the theory needs n_i >~ n_{i-1} log n_{i-1}.

    Args:
        widths: (k, n_1, ..., n_d), each >= 1, at least two entries.
        generator: torch generator for the weights.
        dtype: float dtype of the weights.

    Returns:
        A :class:`ReLUGenerator`.

    Example:
        >>> G = random_relu_generator((10, 250, 2000), torch.Generator().manual_seed(0))
        >>> G(torch.ones(3, 10, dtype=torch.float64)).shape
        torch.Size([3, 2000])

    References:
        SGILO (ICML 2022) Sec. 3, random generator model (after Hand & Voroninski 2018).
    """
    widths = tuple(widths)
    if len(widths) < 2:
        raise ValueError(f"widths={widths!r} must be at least two positive integers")
    for i, w in enumerate(widths):
        check_int(f"widths[{i}]", w, low=1)
    weights = [
        torch.randn(n_out, n_in, generator=generator, dtype=torch.float64).div_(math.sqrt(n_out)).to(dtype)
        for n_in, n_out in zip(widths[:-1], widths[1:])
    ]
    return ReLUGenerator(weights)


def hv_field(x: torch.Tensor, x_star: torch.Tensor, depth: int) -> torch.Tensor:
    """Expected gradient h_{x,x*} = 2^-d x - hbar(x, x*) of 1/2 ||G(x) - G(x*)||^2.

    Math: theta_0 = angle(x, x*), theta_i = arccos(((pi - theta_{i-1}) cos theta_{i-1}
    + sin theta_{i-1}) / pi), and
    hbar = 2^-d [ (prod_{i=0}^{d-1} (pi - theta_i)/pi) x*
                 + sum_{i=0}^{d-1} (sin theta_i / pi) (prod_{j=i+1}^{d-1} (pi - theta_j)/pi) ||x*|| x/||x|| ].
    It vanishes only at x*, near 0 and near -rho_d x*.

    Args:
        x: points, shape (..., k), non-zero.
        x_star: the true latent, shape (k,).
        depth: d >= 1.

    Returns:
        The field at each x, shape (..., k).

    Example:
        >>> xs = torch.tensor([1.0, 0.0], dtype=torch.float64)
        >>> hv_field(xs, xs, 2).abs().max().item() < 1e-12
        True

    References:
        Hand & Voroninski (COLT 2018), Eq. of h_{x,x0}; SGILO (ICML 2022) Sec. 3.
    """
    check_int("depth", depth, low=1)
    norm_x = x.norm(dim=-1, keepdim=True)
    norm_s = x_star.norm()
    cos = ((x @ x_star)[..., None] / (norm_x * norm_s)).clamp(-1.0, 1.0)
    thetas = [torch.arccos(cos)]
    for _ in range(depth - 1):
        t = thetas[-1]
        thetas.append(torch.arccos((((math.pi - t) * torch.cos(t) + torch.sin(t)) / math.pi).clamp(-1.0, 1.0)))
    factors = [(math.pi - t) / math.pi for t in thetas]
    prod_all = torch.ones_like(cos)
    for f in factors:
        prod_all = prod_all * f
    radial = torch.zeros_like(cos)
    for i in range(depth):
        tail = torch.ones_like(cos)
        for j in range(i + 1, depth):
            tail = tail * factors[j]
        radial = radial + torch.sin(thetas[i]) / math.pi * tail
    hbar = 2.0 ** (-depth) * (prod_all * x_star + radial * norm_s * x / norm_x)
    return 2.0 ** (-depth) * x - hbar


def langevin(
    grad_fn: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    eta: float,
    beta: float | torch.Tensor,
    steps: int,
    generator: torch.Generator | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Unadjusted Langevin chains x_{t+1} = x_t - eta grad f(x_t) + sqrt(2 eta / beta) xi_t.

    Math: xi_t ~ N(0, I); beta = inf gives gradient descent. The chain targets (up to
    O(eta) bias) the Gibbs law exp(-beta f).

    Args:
        grad_fn: maps a batch of chains (chains, k) to grad f, same shape.
        x0: starting points, shape (chains, k).
        eta: step size > 0.
        beta: inverse temperature > 0 (math.inf for GD), a float or a tensor broadcastable
            to (chains, 1) (one temperature per chain).
        steps: number of steps >= 0.
        generator: torch generator of the noise.
        callback: called as ``callback(t, x)`` after every step t = 1..steps.

    Returns:
        The chains after ``steps`` steps.

    Example:
        >>> x = langevin(lambda x: x, torch.zeros(4, 2), 0.1, math.inf, 10)
        >>> x.abs().max().item()
        0.0

    References:
        SGILO (ICML 2022) Sec. 3, the Langevin algorithm for inverting G.
    """
    check_number("eta", eta, low=0.0, low_inclusive=False)
    check_int("steps", steps, low=0)
    beta_t = torch.as_tensor(beta, dtype=x0.dtype, device=x0.device)
    if bool((beta_t <= 0).any()) or bool(torch.isnan(beta_t).any()):
        raise ValueError(f"beta={beta} must be > 0 (math.inf for gradient descent)")
    scale = torch.sqrt(2.0 * eta / beta_t)  # 0 where beta = inf
    noisy = bool((scale > 0).any())
    x = x0.clone()
    for t in range(1, steps + 1):
        x = x - eta * grad_fn(x)
        if noisy:
            x = x + scale * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        if callback is not None:
            callback(t, x)
    return x


def stationary_covariance(J: torch.Tensor, A: torch.Tensor, beta: float, eta: float) -> torch.Tensor:
    """Stationary covariance of discrete Langevin on the linearised problem near x*.

    Math: H = J^T A^T A J; for f(x) = 1/2 (x - x*)^T H (x - x*) the chain
    x' = x - eta H (x - x*) + sqrt(2 eta / beta) xi has the Gaussian stationary law with
    Sigma = (2 / beta) [H (2 I - eta H)]^-1 (the O(eta) inflation over the continuous
    (beta H)^-1 included); it needs 0 < eta lambda(H) < 2.

    Args:
        J: Jacobian dG/dx at x*, shape (n, k).
        A: measurement matrix, shape (m, n).
        beta: inverse temperature > 0.
        eta: step size > 0.

    Returns:
        Sigma, shape (k, k).

    Example:
        >>> S = stationary_covariance(torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64), 2.0, 1.0)
        >>> torch.allclose(S, torch.eye(2, dtype=torch.float64))
        True

    References:
        SGILO (ICML 2022) Sec. 3 (stationary law localised at x*); the discrete-time
        formula is the project's linearisation (docs/papers/sgilo.md#method).
    """
    check_number("beta", beta, low=0.0, low_inclusive=False, finite=False)
    check_number("eta", eta, low=0.0, low_inclusive=False)
    if J.dim() != 2 or A.dim() != 2 or A.shape[1] != J.shape[0]:
        raise ValueError(f"J.shape={tuple(J.shape)} and A.shape={tuple(A.shape)} must be (n, k) and (m, n)")
    AJ = A @ J
    H = AJ.T @ AJ
    eig = torch.linalg.eigvalsh(H)
    if float(eig.max()) * eta >= 2.0 or float(eig.min()) <= 0.0:
        raise ValueError(
            f"eta={eta}: need 0 < eta * lambda(H) < 2, eigenvalues in [{float(eig.min()):.3g}, {float(eig.max()):.3g}]"
        )
    k = H.shape[0]
    M = H @ (2.0 * torch.eye(k, dtype=H.dtype, device=H.device) - eta * H)
    M = 0.5 * (M + M.T)
    return (2.0 / beta) * torch.linalg.inv(M)
