"""Deep equilibrium layer z* = f(z*, x) with implicit (IFT), phantom or unrolled gradients.

The forward pass solves the fixed point under ``no_grad`` with a solver of
:mod:`icml22dl.nn.solvers`, then applies f once with gradients on to attach z* to the graph.
The IFT backward solves w = J_f(z*)^T w + v (v = dl/dz*) with a fixed-point solver and
returns w through that last application of f, so dl/dtheta = w^T df/dtheta.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from icml22dl.nn.init import KINDS, init_matrix_
from icml22dl.nn.solvers import SolverInfo, get_solver
from icml22dl.validation import check_choice, check_int, check_number

BACKWARDS = ("ift", "phantom", "unrolled")


class DEQ(nn.Module):
    """A deep equilibrium layer around a map ``f(z, x)``.

    Math: z* = f(z*, x). IFT gradient: dl/dtheta = w^T (df/dtheta)(z*, x) with
    w = (I - J_f^T)^{-1} dl/dz*, J_f = df/dz at z*, w found as the fixed point of
    w -> J_f^T w + dl/dz* (one VJP per solver step). ``"phantom"``: the 1-step Jacobian-free
    gradient of z = tau f(z*, x) + (1 - tau) z* (torchdeq's default, grad = 1).
    ``"unrolled"``: backprop through ``f_max_iter`` plain iterations from z0 (for tests).

    Args:
        f: the map ``f(z, x) -> z`` (an ``nn.Module`` whose parameters are trained).
        solver: forward solver, ``"anderson"``, ``"broyden"`` or ``"fixed_point"``.
        backward: ``"ift"``, ``"phantom"`` or ``"unrolled"``.
        b_solver: backward solver (defaults to ``solver``).
        f_tol, b_tol: stop tolerances of the forward and backward solves.
        f_max_iter, b_max_iter: iteration caps of the forward and backward solves.
        stop_mode: ``"rel"`` or ``"abs"`` (see :mod:`icml22dl.nn.solvers`).
        tau: damping of the phantom gradient.
        solver_kwargs: extra keyword arguments of the solvers (e.g. ``m``, ``lam``).

    Attributes (after a forward): ``forward_info`` (:class:`SolverInfo`); after a backward:
    ``backward_info``.

    Example:
        >>> f = lambda z, x: torch.tanh(0.5 * z + x)
        >>> deq = DEQ(f, solver="anderson", f_tol=1e-8)
        >>> z = deq(torch.ones(2, 3))
        >>> bool((z - torch.tanh(0.5 * z + 1)).abs().max() < 1e-6)
        True

    References:
        Bai, Kolter & Koltun, Deep equilibrium models (NeurIPS 2019); torchdeq 0.1.0 (f_tol 1e-3,
        b_tol 1e-6, 40 iterations; phantom grad = 1); Agarwala & Schoenholz, ICML 2022.
    """

    def __init__(
        self,
        f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        solver: str = "anderson",
        backward: str = "ift",
        b_solver: str | None = None,
        f_tol: float = 1e-4,
        b_tol: float = 1e-6,
        f_max_iter: int = 50,
        b_max_iter: int = 50,
        stop_mode: str = "rel",
        tau: float = 1.0,
        solver_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        check_choice("backward", backward, BACKWARDS)
        check_number("tau", tau, low=0.0, high=1.0, low_inclusive=False)
        self.f = f
        self.solver, self.b_solver = get_solver(solver), get_solver(b_solver or solver)
        self.solver_name, self.backward = solver, backward
        self.f_tol, self.b_tol, self.f_max_iter, self.b_max_iter = f_tol, b_tol, f_max_iter, b_max_iter
        self.stop_mode, self.tau = stop_mode, tau
        self.solver_kwargs = dict(solver_kwargs or {})
        self.forward_info: SolverInfo | None = None
        self.backward_info: SolverInfo | None = None

    def _kwargs(self, name: Callable) -> dict:
        kwargs = dict(self.solver_kwargs)
        if name is not get_solver("anderson"):
            kwargs = {k: v for k, v in kwargs.items() if k not in ("m", "lam", "beta")}
        return kwargs

    def forward(self, x: torch.Tensor, z0: torch.Tensor | None = None) -> torch.Tensor:
        """The fixed point z* for input ``x`` (start ``z0``, zeros by default)."""
        if z0 is None:
            z0 = self._zeros_like_output(x)
        if self.backward == "unrolled" and torch.is_grad_enabled():
            z = z0
            for _ in range(self.f_max_iter):
                z = self.f(z, x)
            return z
        with torch.no_grad():
            z_star, self.forward_info = self.solver(
                lambda z: self.f(z, x),
                z0,
                max_iter=self.f_max_iter,
                tol=self.f_tol,
                stop_mode=self.stop_mode,
                **self._kwargs(self.solver),
            )
        if not torch.is_grad_enabled():
            return z_star
        if self.backward == "phantom":
            z_in = z_star.detach()
            return self.tau * self.f(z_in, x) + (1 - self.tau) * z_in
        z = self.f(z_star.detach(), x)  # attaches z* to the graph of theta and x
        if not z.requires_grad:
            return z
        z_leaf = z_star.detach().requires_grad_()
        with torch.enable_grad():
            f_leaf = self.f(z_leaf, x)

        def implicit(grad: torch.Tensor) -> torch.Tensor:
            def vjp(w: torch.Tensor) -> torch.Tensor:
                return torch.autograd.grad(f_leaf, z_leaf, w, retain_graph=True)[0] + grad

            w, self.backward_info = self.b_solver(
                vjp,
                grad,
                max_iter=self.b_max_iter,
                tol=self.b_tol,
                stop_mode=self.stop_mode,
                **self._kwargs(self.b_solver),
            )
            return w

        z.register_hook(implicit)
        return z

    def _zeros_like_output(self, x: torch.Tensor) -> torch.Tensor:
        shape = getattr(self.f, "state_shape", None)
        return torch.zeros_like(x) if shape is None else x.new_zeros((x.shape[0], *shape))


class TanhCell(nn.Module):
    """f(z, u) = tanh(W z + u) with the injection u = U x + b: the fully connected DEQ cell.

    Args:
        d_in: input size; width: N; init: family of W (``gaussian``, ``orthogonal``, ``symmetric``);
        sigma_w: scale of W; sigma_u: U_ij ~ N(0, sigma_u^2 / d_in); normalize: see
        :func:`icml22dl.nn.init.matrix_family`; generator: torch generator.

    Example:
        >>> cell = TanhCell(3, 4, "orthogonal", 0.5, generator=torch.Generator().manual_seed(0))
        >>> u = cell.inject(torch.randn(2, 3))
        >>> torch.allclose(cell(torch.zeros(2, 4), u), torch.tanh(u))
        True

    References: Agarwala & Schoenholz, ICML 2022 (fully connected DEQ); the input scaling and
    b = 0 are ours (docs/papers/deq_init.md#method).
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        init: str = "orthogonal",
        sigma_w: float = 1.0,
        sigma_u: float = 1.0,
        normalize: str = "frobenius",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_choice("init", init, KINDS)
        check_int("d_in", d_in, low=1)
        check_int("width", width, low=1)
        self.state_shape = (width,)
        self.weight = nn.Parameter(torch.empty(width, width))
        init_matrix_(self.weight, init, sigma_w, normalize, generator)
        self.input_weight = nn.Parameter(torch.randn(width, d_in, generator=generator) * (sigma_u / math.sqrt(d_in)))
        self.bias = nn.Parameter(torch.zeros(width))

    def inject(self, x: torch.Tensor) -> torch.Tensor:
        """u = U x + b."""
        return x @ self.input_weight.T + self.bias

    def forward(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """tanh(W z + u) for the injected input u = U x + b."""
        return torch.tanh(z @ self.weight.T + u)


class FCDEQ(nn.Module):
    """Fully connected tanh DEQ classifier: z* = tanh(W z* + U x + b), logits = R z* + c.

    Args:
        d_in: input size; width: N; n_out: classes; init: family of W; sigma_w: its scale;
        sigma_u: input-weight scale; normalize: GOE normalisation; generator: torch generator
        (the readout uses it too); **deq_kwargs: passed to :class:`DEQ` (solver, backward,
        tolerances, iteration caps, solver_kwargs).

    Example:
        >>> net = FCDEQ(4, 8, 3, init="symmetric", sigma_w=0.5, generator=torch.Generator().manual_seed(0))
        >>> net(torch.randn(5, 4)).shape
        torch.Size([5, 3])

    References:
        Agarwala & Schoenholz, ICML 2022 (the fully connected DEQ the paper is recalled to
        analyse); U_ij ~ N(0, sigma_u^2/d_in), b = 0 and the linear readout are ours
        (docs/papers/deq_init.md#method).
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        n_out: int,
        init: str = "orthogonal",
        sigma_w: float = 1.0,
        sigma_u: float = 1.0,
        normalize: str = "frobenius",
        generator: torch.Generator | None = None,
        **deq_kwargs,
    ) -> None:
        super().__init__()
        for name, value in (("d_in", d_in), ("width", width), ("n_out", n_out)):
            check_int(name, value, low=1)
        self.cell = TanhCell(d_in, width, init, sigma_w, sigma_u, normalize, generator)
        self.deq = DEQ(self.cell, **deq_kwargs)
        self.readout = nn.Linear(width, n_out)
        with torch.no_grad():
            bound = 1 / math.sqrt(width)
            self.readout.weight.copy_(torch.rand(n_out, width, generator=generator) * 2 * bound - bound)
            self.readout.bias.zero_()

    def equilibrium(self, x: torch.Tensor) -> torch.Tensor:
        """z* for a batch x (B, d_in)."""
        u = self.cell.inject(x)
        return self.deq(u, z0=u.new_zeros(u.shape[0], self.cell.state_shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.equilibrium(x))


__all__ = ["BACKWARDS", "DEQ", "FCDEQ", "TanhCell"]
