"""The step-size-controlled search loop shared by APGD and ACG, and the attack result.

Both attacks maximise a per-sample loss inside the intersection of an L-inf or L2 ball of
radius ``eps`` around ``x`` with the box [0, 1], with APGD's step-size schedule (Croce &
Hein, 2020, Alg. 1): step ``eta = 2 eps``; checkpoints after ``n2 = max(floor(0.22 N), 1)``
iterations, then every ``k <- max(k - sdec, nmin)`` (``sdec = max(floor(0.03 N), 1)``,
``nmin = max(floor(0.06 N), 1)``); at a checkpoint a sample halves its step and returns to
its best point if the loss rose in at most ``rho * k`` of the last ``k`` iterations, or if
its step was not halved at the previous checkpoint and its best loss has not improved since.
They differ only in the search direction (APGD: the gradient with momentum 0.75; ACG: a
conjugate gradient, see :class:`icml22dl.attacks.ACG`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from icml22dl.attacks.checks import check_input_range, check_logits, check_randomized, check_zero_gradients
from icml22dl.attacks.diversity import diversity_index
from icml22dl.attacks.losses import ATTACK_LOSSES, LOSS_FUNCTIONS
from icml22dl.validation import check_choice, check_int, check_positive, check_probability

__all__ = ["INITS", "NORMS", "AttackResult", "StepSizeAttack", "checkpoint_iterations", "random_start"]

NORMS = ("Linf", "L2")
INITS = ("center", "random")


@dataclass
class AttackResult:
    """Everything an attack run produced, for a batch of B inputs.

    Attributes:
        x_adv: (B, ...) a misclassified visited point where one was found, else ``x_best``.
        x_best: (B, ...) the visited point of highest loss (over restarts).
        success: (B,) bool, misclassified (untargeted success) at some visited point or at x.
        clean_correct: (B,) bool, correctly classified at x (only these are attacked).
        loss_best: (B,) the highest loss found (the clean loss for points not attacked).
        loss_history: (n_iter + 1, B) loss at each iterate of the first restart (NaN: not attacked).
        step_history: (n_iter, B) step size used at each iteration of the first restart.
        beta_nan_count: ACG only: number of (sample, iteration) pairs whose raw conjugate
            coefficient was NaN (0/0), over all restarts.
        beta_nan_hit: (B,) bool, ACG only: the raw coefficient was NaN at least once.
        last_move: (B,) last iteration (1-based) at which the first restart's iterate moved
            (0: never moved, -1: not attacked).
        diversity: (n_iter - di_points + 1,) batch-mean Diversity Index of the first restart at
            iterations di_points .. n_iter, when tracked; else None.
        n_forward_backward: forward+backward passes on a batch (n_iter + 1 per restart run).
        checkpoints: 1-based iterations of the step-size checkpoints.

    Example:
        >>> ok = torch.tensor([True, True, False])
        >>> r = AttackResult(*[torch.zeros(3)] * 2, torch.tensor([True, False, True]), ok, *[torch.zeros(3)] * 3)
        >>> r.success_rate  # one of the two clean-correct points broken
        0.5

    References:
        The fields follow AutoAttack's ``APGDAttack.attack_single_run`` outputs (Croce & Hein,
        ICML 2020) plus ACG's Diversity Index and NaN bookkeeping (Yamamura et al., ICML 2022).
    """

    x_adv: Tensor
    x_best: Tensor
    success: Tensor
    clean_correct: Tensor
    loss_best: Tensor
    loss_history: Tensor
    step_history: Tensor
    beta_nan_count: int = 0
    beta_nan_hit: Tensor | None = None
    last_move: Tensor | None = None
    diversity: Tensor | None = None
    n_forward_backward: int = 0
    checkpoints: list[int] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        """Share of the clean-correct points that were broken (ASR on clean-correct points)."""
        attacked = self.clean_correct
        return float((self.success & attacked).sum()) / max(int(attacked.sum()), 1)


def checkpoint_iterations(n_iter: int) -> list[int]:
    """The 1-based iterations after which APGD/ACG check their step size.

    Math: first after ``p_1 N`` iterations, ``p_1 = 0.22``; then the gap shrinks by
    ``floor(0.03 N)`` to at least ``floor(0.06 N)`` (each at least 1).

    Example:
        >>> checkpoint_iterations(100)
        [22, 41, 57, 70, 80, 87, 93, 99]

    References:
        Croce & Hein, ICML 2020, Sec. 3.2 (checkpoints w_j); official ``fra31/auto-attack``
        (``n_iter_2 = max(int(0.22 N), 1)``, ``n_iter_min = max(int(0.06 N), 1)``,
        ``size_decr = max(int(0.03 N), 1)``).
    """
    check_int("n_iter", n_iter, low=1)
    n2, nmin, sdec = max(int(0.22 * n_iter), 1), max(int(0.06 * n_iter), 1), max(int(0.03 * n_iter), 1)
    points, k, at = [], n2, 0
    while at + k <= n_iter:
        at += k
        points.append(at)
        k = max(k - sdec, nmin)
    return points


def _per_sample(v: Tensor, ndim: int) -> Tensor:
    return v.view(-1, *([1] * (ndim - 1)))


def random_start(x: Tensor, eps: float, norm: str, generator: torch.Generator) -> Tensor:
    """AutoAttack's random start: ``clip(x + eps t / ||t||)``, a point on the sphere of radius ``eps``.

    Math: L-inf: ``t ~ U[-1, 1]^d`` scaled to ``||t||_inf = 1``; L2: ``t ~ N(0, I)`` scaled to
    ``||t||_2 = 1``; then clipped to [0, 1]. ``t`` is drawn on the CPU from ``generator`` in
    ``x``'s dtype, then moved to ``x``'s device.

    Args:
        x: (B, ...) inputs in [0, 1].
        eps: radius (> 0).
        norm: ``"Linf"`` or ``"L2"``.
        generator: the seeded generator of ``t``.

    Returns:
        (B, ...) starting points.

    Example:
        >>> x0 = random_start(torch.full((2, 3), 0.5), 0.1, "Linf", torch.Generator().manual_seed(0))
        >>> (x0 - 0.5).abs().amax(dim=1)  # on the sphere of the L-inf ball
        tensor([0.1000, 0.1000])

    References:
        Croce & Hein, ICML 2020; official ``fra31/auto-attack`` ``APGDAttack.attack_single_run``
        (``x + eps * t / t.abs().max()`` for L-inf, ``x + eps * t / ||t||_2`` for L2).
    """
    check_positive("eps", eps)
    check_choice("norm", norm, NORMS)
    if norm == "Linf":
        t = 2 * torch.rand(x.shape, generator=generator, dtype=x.dtype) - 1
        t = t / (_per_sample(t.abs().flatten(1).amax(dim=1), x.ndim) + 1e-12)
    else:
        t = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        t = t / (_per_sample(t.flatten(1).norm(dim=1), x.ndim) + 1e-12)
    return (x + eps * t.to(x.device)).clamp(0.0, 1.0)


class StepSizeAttack:
    """Base class of APGD and ACG (not used directly).

    Args:
        model: maps images in [0, 1] to logits; run in eval mode, its modes restored after.
        eps: radius of the threat model, > 0.
        norm: ``"Linf"`` or ``"L2"``.
        n_iter: iterations N per restart (N + 1 forward+backward passes).
        n_restarts: restarts; restart r >= 1 attacks only the points not yet broken.
        loss: ``"cw"``, ``"ce"`` or ``"dlr"`` (maximised; targeted variants with ``target``).
        rho: oscillation threshold of the checkpoint rule (0.75).
        init: ``"center"``, ``"random"`` (AutoAttack's draw) or a tensor shaped like x.
        seed: seed of every random draw (the attack is deterministic per seed).
        track_di: record the Diversity Index of the last ``di_points`` iterates.
        di_points: n of the Diversity Index (official default 10).
        checks: run the AutoAttack-style sanity checks (warnings only).

    Example:
        >>> class SignAscent(StepSizeAttack):  # APGD without momentum
        ...     _momentum = 1.0
        >>> model = nn.Linear(2, 2)  # logits = inputs: class 1 wins iff x_1 > x_0
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
        >>> SignAscent(model, 0.1, n_iter=5).run(torch.tensor([[0.6, 0.5]]), torch.tensor([0])).success
        tensor([True])

    References:
        Croce & Hein, ICML 2020, Alg. 1 (APGD); Yamamura et al., ICML 2022, Alg. 1 (ACG).
    """

    name = "base"
    _momentum = 0.75
    _conjugate = False

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        *,
        norm: str = "Linf",
        n_iter: int = 100,
        n_restarts: int = 1,
        loss: str = "cw",
        rho: float = 0.75,
        init: str | Tensor = "center",
        seed: int = 0,
        track_di: bool = False,
        di_points: int = 10,
        checks: bool = True,
    ) -> None:
        check_positive("eps", eps)
        check_choice("norm", norm, NORMS)
        check_int("n_iter", n_iter, low=1)
        check_int("n_restarts", n_restarts, low=1)
        check_choice("loss", loss, ATTACK_LOSSES)
        check_probability("rho", rho)
        if not isinstance(init, Tensor):
            check_choice("init", init, INITS)
        check_int("di_points", di_points, low=3)
        if track_di and di_points > n_iter:
            raise ValueError(f"di_points={di_points} must not exceed n_iter={n_iter} when track_di=True")
        self.model = model
        self.eps = float(eps)
        self.norm = norm
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.loss = loss
        self.rho = rho
        self.init = init
        self.seed = seed
        self.track_di = track_di
        self.di_points = di_points
        self.checks = checks
        self._loss_fn = LOSS_FUNCTIONS[loss]

    # ------------------------------------------------------------------ public API
    def __call__(self, x: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """The adversarial batch (see :meth:`run`)."""
        return self.run(x, y, target).x_adv

    def run(self, x: Tensor, y: Tensor, target: Tensor | None = None) -> AttackResult:
        """Attack the batch ``(x, y)``; ``target`` switches the loss to its targeted form.

        Success is always untargeted (a misclassified point), as in AutoAttack's APGD-T.
        Points misclassified at x are not attacked. Returns an :class:`AttackResult`.
        """
        if x.shape[:1] != y.shape:
            raise ValueError(f"x has {x.shape[0]} samples but y has shape {tuple(y.shape)}")
        if target is not None and target.shape != y.shape:
            raise ValueError(f"target must have the shape of y {tuple(y.shape)}, got {tuple(target.shape)}")
        if isinstance(self.init, Tensor) and self.init.shape != x.shape:
            raise ValueError(f"init tensor has shape {tuple(self.init.shape)}, the input {tuple(x.shape)}")
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            return self._run(x.detach().float(), y.detach().long(), None if target is None else target.long())
        finally:
            for module, training in modes:
                module.training = training

    # ------------------------------------------------------------------ internals
    def _bounds(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return (x - self.eps).clamp(0.0, 1.0), (x + self.eps).clamp(0.0, 1.0)

    def _project(self, z: Tensor, x: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
        if self.norm == "Linf":
            return torch.minimum(torch.maximum(z, lo), hi)
        delta = z - x
        length = delta.flatten(1).norm(dim=1)
        scale = torch.minimum(torch.full_like(length, self.eps), length) / (length + 1e-12)
        return (x + delta * _per_sample(scale, x.ndim)).clamp(0.0, 1.0)

    def _ascent(self, s: Tensor) -> Tensor:
        if self.norm == "Linf":
            return torch.sign(s)
        return s / _per_sample(s.flatten(1).norm(dim=1) + 1e-12, s.ndim)

    def _loss_grad(self, x: Tensor, y: Tensor, target: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x)
            loss = self._loss_fn(logits, y, target)
            grad = torch.autograd.grad(loss.sum(), x)[0]
        return loss.detach(), grad.detach(), logits.detach().argmax(dim=1)

    def _random_start(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """AutoAttack's start (see :func:`random_start`)."""
        return random_start(x, self.eps, self.norm, generator)

    def _restart_start(self, x: Tensor, positions: Tensor, restart: int) -> Tensor:
        """Restart r >= 1 of a center/tensor start: uniform in the box, one generator per sample (seed, position, r)."""
        lo, hi = self._bounds(x)
        out = torch.empty_like(x)
        for row, pos in enumerate(positions.tolist()):
            gen = torch.Generator().manual_seed(((self.seed * 1_000_003 + pos) * 1009 + restart) % (2**63))
            if self.norm == "Linf":
                u = torch.rand(x.shape[1:], generator=gen, dtype=x.dtype).to(x.device)
                out[row] = lo[row] + (hi[row] - lo[row]) * u
            else:
                t = torch.randn(x.shape[1:], generator=gen, dtype=x.dtype).to(x.device)
                out[row] = (x[row] + self.eps * t / (t.norm() + 1e-12)).clamp(0.0, 1.0)
        return out

    def _start(self, x: Tensor, restart: int, positions: Tensor, generator: torch.Generator) -> Tensor:
        if isinstance(self.init, str) and self.init == "random":
            return self._random_start(x, generator)
        if restart > 0:
            return self._restart_start(x, positions, restart)
        if isinstance(self.init, Tensor):
            lo, hi = self._bounds(x)
            return self._project(self.init[positions].to(x), x, lo, hi)
        if self.norm == "Linf":
            lo, hi = self._bounds(x)
            return (lo + hi) / 2
        return x.clone()

    def _run(self, x: Tensor, y: Tensor, target: Tensor | None) -> AttackResult:
        if self.checks:
            check_input_range(x)
        with torch.no_grad():
            logits = self.model(x)
        if self.checks:
            check_logits(logits)
            check_randomized(self.model, x[: min(len(x), 64)])
        pred = logits.argmax(dim=1)
        clean_correct = pred == y
        success = ~clean_correct
        with torch.no_grad():
            clean_loss = self._loss_fn(logits, y, target)
        batch = x.shape[0]
        x_best, loss_best, x_adv = x.clone(), clean_loss.clone(), x.clone()
        loss_history = torch.full((self.n_iter + 1, batch), float("nan"), device=x.device)
        step_history = torch.full((self.n_iter, batch), float("nan"), device=x.device)
        nan_hit = torch.zeros(batch, dtype=torch.bool, device=x.device)
        last_move = torch.full((batch,), -1, dtype=torch.long, device=x.device)
        diversity, nan_count, n_fb = None, 0, 0
        generator = torch.Generator().manual_seed(self.seed)
        for restart in range(self.n_restarts):
            todo = (~success).nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            xs, ys = x[todo], y[todo]
            ts = None if target is None else target[todo]
            x0 = self._start(xs, restart, todo, generator)
            out = self._single_run(xs, ys, ts, x0, first=restart == 0)
            n_fb += self.n_iter + 1
            nan_count += out["nan_count"]
            nan_hit[todo] |= out["nan_hit"]
            better = out["loss_best"] > loss_best[todo]
            if restart == 0:
                better = torch.ones_like(better)  # the clean point is not a visited point of the search
                loss_history[:, todo] = out["loss_history"]
                step_history[:, todo] = out["step_history"]
                last_move[todo] = out["last_move"]
                diversity = out["diversity"]
            idx = todo[better]
            x_best[idx], loss_best[idx] = out["x_best"][better], out["loss_best"][better]
            broke = out["success"]
            success[todo[broke]] = True
            x_adv[todo[broke]] = out["x_found"][broke]
        still = ~success
        x_adv[still] = x_best[still]
        return AttackResult(
            x_adv=x_adv,
            x_best=x_best,
            success=success,
            clean_correct=clean_correct,
            loss_best=loss_best,
            loss_history=loss_history,
            step_history=step_history,
            beta_nan_count=nan_count,
            beta_nan_hit=nan_hit if self._conjugate else None,
            last_move=last_move,
            diversity=diversity,
            n_forward_backward=n_fb,
            checkpoints=checkpoint_iterations(self.n_iter),
        )

    def _conjugate_direction(self, g: Tensor, g_prev: Tensor, s_prev: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError  # ACG overrides

    def _single_run(self, x: Tensor, y: Tensor, target: Tensor | None, x0: Tensor, first: bool) -> dict:
        n_iter, batch, nd = self.n_iter, x.shape[0], x.ndim
        lo, hi = self._bounds(x)
        x_k = self._project(x0, x, lo, hi)
        loss, g, pred = self._loss_grad(x_k, y, target)
        if self.checks and first:
            check_zero_gradients(g)
        adv = pred != y
        success, x_found = adv.clone(), x_k.clone()
        x_best, loss_best, g_best = x_k.clone(), loss.clone(), g.clone()
        g_best_prev, s_best_prev = g.clone(), g.clone()
        g_prev, s_prev, x_prev = g.clone(), g.clone(), x_k.clone()
        eta = torch.full((batch,), 2.0 * self.eps, dtype=x.dtype, device=x.device)
        loss_steps = torch.zeros(n_iter, batch, dtype=loss.dtype, device=x.device)
        loss_history = torch.empty(n_iter + 1, batch, dtype=loss.dtype, device=x.device)
        step_history = torch.empty(n_iter, batch, dtype=x.dtype, device=x.device)
        loss_history[0] = loss
        last_move = torch.zeros(batch, dtype=torch.long, device=x.device)
        nan_hit = torch.zeros(batch, dtype=torch.bool, device=x.device)
        nan_count = 0
        k = max(int(0.22 * n_iter), 1)
        nmin, sdec = max(int(0.06 * n_iter), 1), max(int(0.03 * n_iter), 1)
        counter = 0
        reduced_last = torch.ones(batch, dtype=torch.bool, device=x.device)
        loss_best_last = loss_best.clone()
        track = self.track_di and first
        window: list[Tensor] = []
        diversity = []
        for i in range(n_iter):
            if self._conjugate:
                if i == 0:
                    s = g
                else:
                    s, nan = self._conjugate_direction(g, g_prev, s_prev)
                    nan_hit |= nan
                    nan_count += int(nan.sum())
                a = 1.0
            else:
                s = g
                a = self._momentum if i > 0 else 1.0
            step_history[i] = eta
            z = self._project(x_k + _per_sample(eta, nd) * self._ascent(s), x, lo, hi)
            x_new = self._project(x_k + (z - x_k) * a + (x_k - x_prev) * (1 - a), x, lo, hi)
            moved = (x_new != x_k).flatten(1).any(dim=1)
            last_move[moved] = i + 1
            x_prev, x_k = x_k, x_new
            g_prev, s_prev = g, s
            loss, g, pred = self._loss_grad(x_k, y, target)
            adv = pred != y
            x_found[adv & ~success] = x_k[adv & ~success]
            success |= adv
            loss_steps[i] = loss
            loss_history[i + 1] = loss
            improved = loss > loss_best
            x_best[improved], loss_best[improved], g_best[improved] = x_k[improved], loss[improved], g[improved]
            g_best_prev[improved], s_best_prev[improved] = g_prev[improved], s_prev[improved]
            counter += 1
            if counter == k:
                # Index i - c - 1 wraps to the last (still zero) entry at the first checkpoint, as in AutoAttack.
                rises = torch.zeros(batch, dtype=loss.dtype, device=x.device)
                for c in range(k):
                    rises += (loss_steps[i - c] > loss_steps[i - c - 1]).to(loss.dtype)
                reduce = rises <= k * self.rho
                reduce |= ~reduced_last & (loss_best_last >= loss_best)
                reduced_last, loss_best_last = reduce.clone(), loss_best.clone()
                if reduce.any():
                    eta[reduce] /= 2.0
                    x_k, g = x_k.clone(), g.clone()
                    x_k[reduce], g[reduce] = x_best[reduce], g_best[reduce]
                    if self._conjugate:
                        g_prev, s_prev = g_prev.clone(), s_prev.clone()
                        g_prev[reduce], s_prev[reduce] = g_best_prev[reduce], s_best_prev[reduce]
                k = max(k - sdec, nmin)
                counter = 0
            if track:
                window.append(x_k.flatten(1).clone())
                if len(window) > self.di_points:
                    window.pop(0)
                if len(window) == self.di_points:
                    di = diversity_index(torch.stack(window, dim=1), self._theta_max(x))
                    diversity.append(di.mean())
        return {
            "x_best": x_best,
            "loss_best": loss_best,
            "success": success,
            "x_found": x_found,
            "loss_history": loss_history,
            "step_history": step_history,
            "last_move": last_move,
            "nan_hit": nan_hit,
            "nan_count": nan_count,
            "diversity": torch.stack(diversity) if track and diversity else None,
        }

    def _theta_max(self, x: Tensor) -> float:
        """Diameter of the threat ball: 2 eps sqrt(d) for L-inf, 2 eps for L2."""
        d = x[0].numel()
        return 2 * self.eps * math.sqrt(d) if self.norm == "Linf" else 2 * self.eps
