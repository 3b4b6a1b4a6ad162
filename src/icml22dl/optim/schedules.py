"""Learning-rate schedules not in ``torch.optim.lr_scheduler``: a piecewise-linear schedule stepped per step."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from icml22dl.validation import check_int, check_number

__all__ = ["PiecewiseLinearLR"]


class PiecewiseLinearLR(torch.optim.lr_scheduler.LRScheduler):
    """Learning rate interpolated linearly between ``(fraction of the run, learning rate)`` points.

    Math: the k-th optimiser step (k = 1, 2, ...) uses ``lr = f(k / total_steps)``, with ``f``
    the polyline through ``points`` = ``(t_0 = 0, v_0), (t_1, v_1), ...`` (``t`` increasing);
    on ``[t_{j-1}, t_j]``, ``f(t) = v_{j-1} + (v_j - v_{j-1}) (t - t_{j-1}) / (t_j - t_{j-1})``,
    and ``f`` holds its last value beyond the last point. The values are absolute learning
    rates (like ``OneCycleLR``'s ``max_lr``), set on every parameter group; step the scheduler
    once after every optimiser step (``icml22dl.train.fit(..., scheduler_interval="step")``).

    Args:
        optimizer: the optimiser whose groups' ``lr`` is set.
        total_steps: optimiser steps of the whole run (>= 1): t = 1 at the last step.
        points: at least two ``(t, lr)`` pairs, the first at ``t = 0``, ``t`` strictly increasing.
        last_epoch: as in ``torch.optim.lr_scheduler`` (-1: a new run).

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = PiecewiseLinearLR(opt, 10, [(0.0, 0.0), (0.4, 0.1), (0.8, 0.005), (1.0, 0.0)])
        >>> lrs = []
        >>> for _ in range(10):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.025, 0.05, 0.075, 0.1, 0.07625, 0.0525, 0.02875, 0.005, 0.0025, 0.0]

    References:
        Su, Byeon & Huang, ICML 2022, official ``ortho_conv/train.py``: ``np.interp(t, [0, 2E/5,
        4E/5, E], [0, lr_max, lr_max / 20, 0])`` at ``t = epoch + (i + 1) / len(loader)``, i.e. at
        ``k / total_steps`` of the run for the k-th step (docs/papers/paraunitary.md#defaults).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        points: Sequence[tuple[float, float]],
        last_epoch: int = -1,
    ) -> None:
        check_int("total_steps", total_steps, low=1)
        points = [(float(t), float(v)) for t, v in points]
        if len(points) < 2 or points[0][0] != 0.0:
            raise ValueError(f"points={points!r} must hold at least two (t, lr) pairs, the first at t = 0")
        for (t0, _), (t1, _) in zip(points, points[1:]):
            if not t1 > t0:
                raise ValueError(f"points={points!r} must have strictly increasing t")
        for _, value in points:
            check_number("lr", value, low=0.0)
        self.total_steps, self.points = total_steps, points
        super().__init__(optimizer, last_epoch)

    def value(self, t: float) -> float:
        """The polyline's learning rate at fraction ``t`` of the run."""
        for (t0, v0), (t1, v1) in zip(self.points, self.points[1:]):
            if t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return self.points[-1][1]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The learning rate of every group for the next optimiser step (step ``last_epoch + 1``)."""
        lr = self.value((self.last_epoch + 1) / self.total_steps)
        return [lr for _ in self.optimizer.param_groups]
