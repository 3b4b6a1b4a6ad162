"""Exponential Family Langevin Dynamics: SGLD, noisy sign-SGD, quantised SGD (Banerjee et al., ICML 2022)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

import torch
from torch import Tensor

from icml22dl.validation import check_choice, check_int, check_number

__all__ = ["EFLD", "FAMILIES", "NoisySignSGD", "QuantizedSGD", "SGLD", "efld_grid", "sample_efld_noise"]

FAMILIES: tuple[str, ...] = ("gaussian", "sign", "quantized")
_MASK64 = (1 << 63) - 1


def efld_grid(levels: int | Sequence[float]) -> tuple[float, ...]:
    """The finite support of a quantised family: ``k`` gives ``{-k, ..., k} / k``; a sequence is used as given.

    Args:
        levels: ``k >= 1`` (``1``: the grid ``{-1, 0, 1}``), or explicit support values (at least two,
            distinct, finite).

    Returns:
        The support values, sorted.

    Raises:
        ValueError: If ``levels`` is not a positive integer or a valid sequence.

    Example:
        >>> efld_grid(1), efld_grid(2), efld_grid([1, -1])
        ((-1.0, 0.0, 1.0), (-1.0, -0.5, 0.0, 0.5, 1.0), (-1.0, 1.0))

    References:
        Banerjee et al., ICML 2022, the quantised-SGD example of EFLD (a uniform base measure on
        a finite grid); the grid {-1, 0, 1} is this library's default (docs/papers/efld.md#defaults).
    """
    if isinstance(levels, bool):
        raise ValueError(f"levels must be an int >= 1 or a sequence of values, got {levels!r}")
    if isinstance(levels, int):
        check_int("levels", levels, low=1)
        return tuple(j / levels for j in range(-levels, levels + 1))
    values = tuple(sorted(float(v) for v in levels))
    if len(values) < 2 or len(set(values)) != len(values) or not all(math.isfinite(v) for v in values):
        raise ValueError(f"levels must hold at least two distinct finite values, got {levels!r}")
    return values


def sample_efld_noise(
    grad: Tensor, family: str, alpha: float, grid: tuple[float, ...] | None, generator: torch.Generator | None
) -> Tensor:
    r"""Draw :math:`\xi \sim p_\psi(\xi; \theta)`, :math:`\theta = \alpha g`, element-wise.

    * ``gaussian``: base :math:`N(0, I)`, so :math:`\xi = \alpha g + \varepsilon`,
      :math:`\varepsilon \sim N(0, I)`.
    * ``sign``: base uniform on :math:`\{-1, +1\}`: :math:`P(\xi_j = +1) = \sigma(2\alpha g_j)`,
      :math:`E\xi_j = \tanh(\alpha g_j)`.
    * ``quantized``: base uniform on ``grid``: :math:`P(\xi_j = v) \propto e^{\alpha g_j v}`,
      drawn by inverting the cumulative distribution with one uniform per element.

    ``alpha = inf`` gives the deterministic limit :math:`\xi = r\,\mathrm{sign}(g)` for the
    finite families (:math:`r` the grid radius; 0 where :math:`g = 0`): sign-SGD.

    Args:
        grad: The gradient g.
        family: One of :data:`FAMILIES`.
        alpha: :math:`\alpha > 0` (may be ``inf`` for the finite families).
        grid: Support for ``quantized`` (see :func:`efld_grid`); ignored otherwise.
        generator: Source of randomness (None: torch's global generator).

    Returns:
        :math:`\xi`, a tensor shaped like ``grad``.

    Example:
        >>> g = torch.tensor([0.5, -2.0])
        >>> xi = sample_efld_noise(g.expand(20000, 2), "sign", 1.0, None, torch.Generator().manual_seed(0))
        >>> torch.allclose(xi.mean(0), torch.tanh(g), atol=0.03)  # E xi = grad psi(alpha g) = tanh(alpha g)
        True

    References:
        Banerjee et al., ICML 2022, Sec. 3: the EFLD noise :math:`p_\psi(\xi; \alpha g)` and its
        Gaussian, sign and quantised examples.
    """
    if family == "gaussian":
        noise = torch.randn(grad.shape, generator=generator, dtype=grad.dtype, device=grad.device)
        return noise.add_(grad, alpha=alpha)
    if family == "sign":
        if math.isinf(alpha):
            return torch.sign(grad)
        u = torch.rand(grad.shape, generator=generator, dtype=grad.dtype, device=grad.device)
        threshold = torch.mul(grad, 2.0 * alpha).sigmoid_()
        return torch.gt(threshold, u).to(grad.dtype).mul_(2.0).sub_(1.0)  # +1 where u < sigmoid(2 alpha g)
    if family == "quantized":
        assert grid is not None
        radius = max(abs(v) for v in grid)
        if math.isinf(alpha):
            return torch.sign(grad) * radius
        theta = grad * alpha
        if grid[0] == -grid[-1]:  # symmetric grid: the largest logit is |theta| r
            top = theta.abs().mul_(grid[-1])
        else:
            top = torch.maximum(theta * grid[0], theta * grid[-1])  # the largest logit (grid sorted)
        weights = [torch.mul(theta, v).sub_(top).exp_() for v in grid]  # unnormalised probabilities
        total = weights[0].clone()
        for w in weights[1:]:
            total.add_(w)
        u = torch.rand(grad.shape, generator=generator, dtype=grad.dtype, device=grad.device).mul_(total)
        # Inverse CDF: xi = v_0 + sum_j (v_{j+1} - v_j) [u >= w_0 + ... + w_j].
        xi = torch.full_like(grad, grid[0])
        cumulative = weights[0]
        for j in range(len(grid) - 1):
            xi.add_(torch.ge(u, cumulative), alpha=grid[j + 1] - grid[j])
            if j + 1 < len(grid) - 1:
                cumulative.add_(weights[j + 1])
        return xi
    raise ValueError(f"family={family!r} is not allowed: choose one of {list(FAMILIES)}")


class EFLD(torch.optim.Optimizer):
    r"""Exponential Family Langevin Dynamics (Banerjee et al., ICML 2022, Eq. EFLD).

    .. math::
        w_t = w_{t-1} - \eta\,\xi_t,\qquad
        \xi_t \sim p_\psi(\xi;\theta_t) = \pi_0(\xi)\exp(\langle\theta_t,\xi\rangle - \psi(\theta_t)),
        \qquad \theta_t = \alpha_t g_t,

    so :math:`E\xi = \nabla\psi(\alpha g)` (a smooth monotone map of the gradient) and
    :math:`\mathrm{Cov}\,\xi = \nabla^2\psi(\alpha g)`. Families (``family``): ``gaussian``
    (SGLD: mean step :math:`\eta\alpha g`, noise std :math:`\eta`), ``sign`` (noisy sign-SGD),
    ``quantized`` (uniform base on a finite grid, ``levels``). See :func:`sample_efld_noise`.

    Noise: each step draws from a generator re-seeded from ``(seed, group index, step)``, so
    the noise is reproducible and a ``state_dict`` reload continues the same stream; pass
    ``generator`` to draw from your own generator instead (its state is then yours to save).
    Groups share one noise stream (they are not independent optimizers). Schedules of
    :math:`\eta_t, \alpha_t` are set like learning-rate schedules, by writing
    ``group["lr"]`` / ``group["alpha"]`` between steps.

    Args:
        params: Parameters or parameter groups.
        lr: :math:`\eta \ge 0`.
        family: ``"gaussian"``, ``"sign"`` or ``"quantized"``.
        alpha: :math:`\alpha > 0` (``inf`` allowed for ``sign``/``quantized``: deterministic limit).
        levels: For ``quantized``: ``k`` (grid ``{-k..k}/k``, default 1) or support values.
        seed: Seed of the noise stream (None: drawn from torch's global generator once).
        generator: Optional generator to draw from instead of the seeded stream.
        maximize: Ascend instead of descend.

    Example:
        >>> p = torch.nn.Parameter(torch.zeros(1000))
        >>> p.grad = torch.ones(1000)
        >>> EFLD([p], lr=0.1, family="gaussian", alpha=2.0, seed=0).step()
        >>> round(float(p.detach().mean()), 1)  # mean step -lr * alpha * g, noise std lr per coordinate
        -0.2

    References:
        A. Banerjee, T. Chen, X. Li, Y. Zhou. Stability Based Generalization Bounds for
        Exponential Family Langevin Dynamics. ICML 2022 (arXiv 2201.03064), Sec. 3 (EFLD) and
        its examples SGLD, noisy sign-SGD, quantised SGD. No official code.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        family: str = "gaussian",
        alpha: float = 1.0,
        levels: int | Sequence[float] | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        maximize: bool = False,
    ) -> None:
        check_choice("family", family, FAMILIES)
        grid = efld_grid(1 if levels is None else levels) if family == "quantized" else None
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        defaults = dict(lr=lr, family=family, alpha=alpha, levels=grid, seed=int(seed), step=0, maximize=maximize)
        _validate_group(defaults)
        self._generator = generator
        super().__init__(params, defaults)

    def _xi(self, grad: Tensor, group: dict[str, Any], generator: torch.Generator | None) -> Tensor:
        return sample_efld_noise(grad, group["family"], group["alpha"], group["levels"], generator)

    def _generator_for(self, index: int, group: dict[str, Any], device: torch.device) -> torch.Generator:
        if self._generator is not None:
            return self._generator
        generator = torch.Generator(device=device)
        mixed = (group["seed"] * 1_000_003 + index * 7_919 + group["step"] * 2_654_435_761) & _MASK64
        return generator.manual_seed(mixed)

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One EFLD step: ``w <- w - lr * xi``, xi drawn given the gradient.

        Args:
            closure: Optional; re-evaluates the model and returns the loss (grad enabled).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            _validate_group(group)
            group["step"] += 1
            generators: dict[torch.device, torch.Generator] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                if p.device not in generators:
                    generators[p.device] = self._generator_for(index, group, p.device)
                low = p.dtype in (torch.float16, torch.bfloat16)
                grad = p.grad.float() if low else p.grad
                if group["maximize"]:
                    grad = torch.neg(grad)
                xi = self._xi(grad, group, generators[p.device])
                if low:
                    p.copy_(p.float().add_(xi, alpha=-group["lr"]))
                else:
                    p.add_(xi, alpha=-group["lr"])
        return loss


def _validate_group(group: dict[str, Any]) -> None:
    """``lr >= 0``; ``std_coef >= 0`` (SGLD) or ``alpha > 0`` (``inf`` allowed for the finite families)."""
    check_number("lr", group["lr"], low=0.0)
    if "std_coef" in group:
        check_number("std_coef", group["std_coef"], low=0.0)
        return
    finite_family = group["family"] in ("sign", "quantized")
    check_number("alpha", group["alpha"], low=0.0, low_inclusive=False, finite=not finite_family)


class SGLD(EFLD):
    r"""Stochastic gradient Langevin dynamics in the EFLD parameterisation of Banerjee et al.

    .. math:: w \leftarrow w - \eta\, g - \eta\, s\, \varepsilon,\qquad \varepsilon \sim N(0, I),

    with ``std_coef`` :math:`s = \sigma/\eta'`: the Gaussian EFLD member with step :math:`\eta s`
    and :math:`\alpha = 1/s` (so :math:`\eta\alpha = \eta'` is the SGLD step and the noise std is
    :math:`\sigma = \eta s`). ``std_coef = 0`` is plain SGD (no noise; the EFLD bound then has
    :math:`\alpha = \infty` and is undefined, see :class:`icml22dl.analysis.EFLDBound`).

    Args:
        params: Parameters or parameter groups.
        lr: The SGLD step :math:`\eta' \ge 0`.
        std_coef: :math:`s \ge 0`, the noise std per unit step (third-party default 0.1).
        seed, generator, maximize: As in :class:`EFLD`.

    Example:
        >>> p = torch.nn.Parameter(torch.zeros(2))
        >>> p.grad = torch.tensor([1.0, -2.0])
        >>> SGLD([p], lr=0.1, std_coef=0.0, seed=0).step()  # std_coef = 0: plain SGD
        >>> [round(v, 6) for v in p.tolist()]
        [-0.1, 0.2]

    References:
        Banerjee et al., ICML 2022, SGLD as EFLD with Gaussian base; Welling & Teh (2011).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        std_coef: float = 0.1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        maximize: bool = False,
    ) -> None:
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        defaults = dict(lr=lr, std_coef=std_coef, seed=int(seed), step=0, maximize=maximize)
        _validate_group(defaults)
        self._generator = generator
        torch.optim.Optimizer.__init__(self, params, defaults)

    def _xi(self, grad: Tensor, group: dict[str, Any], generator: torch.Generator | None) -> Tensor:
        std = group["std_coef"]
        if std == 0.0:
            return grad.clone()
        noise = torch.randn(grad.shape, generator=generator, dtype=grad.dtype, device=grad.device)
        return noise.mul_(std).add_(grad)


class NoisySignSGD(EFLD):
    r"""Noisy sign-SGD: EFLD with the uniform base on :math:`\{-1,+1\}` per coordinate.

    :math:`w \leftarrow w - \eta\,\xi`, :math:`P(\xi_j=+1) = \sigma(2\alpha g_j)`,
    :math:`E\xi_j = \tanh(\alpha g_j)`, :math:`\mathrm{Var}\,\xi_j = 1-\tanh^2(\alpha g_j)`.
    ``alpha = inf`` is sign-SGD. With :math:`\eta\alpha` fixed it behaves like SGLD with
    ``std_coef = 1/alpha``.

    Args:
        params: Parameters or parameter groups.
        lr: :math:`\eta \ge 0`.
        alpha: :math:`\alpha \in (0, \infty]`.
        seed, generator, maximize: As in :class:`EFLD`.

    Example:
        >>> p = torch.nn.Parameter(torch.zeros(3))
        >>> p.grad = torch.tensor([1.0, -1.0, 0.0])
        >>> NoisySignSGD([p], lr=0.5, alpha=float("inf"), seed=0).step()  # alpha = inf: sign-SGD
        >>> p.tolist()
        [-0.5, 0.5, 0.0]

    References:
        Banerjee et al., ICML 2022, noisy sign-SGD example of EFLD.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        alpha: float = 1.0,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, family="sign", alpha=alpha, seed=seed, generator=generator, maximize=maximize)


class QuantizedSGD(EFLD):
    r"""Quantised SGD: EFLD with the uniform base on a finite grid per coordinate.

    :math:`P(\xi_j = v) \propto \exp(\alpha g_j v)` for :math:`v` in the grid (``levels = k``:
    :math:`\{-k, \dots, k\}/k`; default ``{-1, 0, 1}``); ``alpha = inf`` is the deterministic
    limit :math:`\xi = r\,\mathrm{sign}(g)`.

    Args:
        params: Parameters or parameter groups.
        lr: :math:`\eta \ge 0`.
        alpha: :math:`\alpha \in (0, \infty]`.
        levels: ``k >= 1`` or explicit support values.
        seed, generator, maximize: As in :class:`EFLD`.

    Example:
        >>> p = torch.nn.Parameter(torch.zeros(2))
        >>> p.grad = torch.tensor([3.0, -3.0])
        >>> QuantizedSGD([p], lr=0.1, alpha=2.0, seed=0).step()
        >>> all(round(v, 6) in (-0.1, 0.0, 0.1) for v in p.tolist())  # steps of lr times a grid value
        True

    References:
        Banerjee et al., ICML 2022, quantised SGD example of EFLD.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        alpha: float = 1.0,
        levels: int | Sequence[float] = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            family="quantized",
            alpha=alpha,
            levels=levels,
            seed=seed,
            generator=generator,
            maximize=maximize,
        )
