"""A tiny registered-style paper for the runner's tests (importable by spawned workers)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from icml22dl.runner import (
    Claim,
    Criterion,
    Curve,
    Diverged,
    ExperimentConfig,
    Paper,
    RunLog,
    derive_generator,
    param,
    torch_seeded,
)
from icml22dl.train import Batch, fit


@dataclass(frozen=True)
class Config(ExperimentConfig):
    lr: float = param(0.1, low=0.0, low_inclusive=False, help="step size")
    steps: int = param(20, low=1, help="GD steps")
    sleep: float = param(0.0, low=0.0, help="seconds to sleep per step (for kill tests)")
    mode: str = param(
        "ok", choices=("ok", "diverge", "nonfinite"), help="diverge raises Diverged; nonfinite trains to a NaN loss"
    )
    sizes: tuple[int, ...] = param((2, 3), low=1, help="a tuple field")


def run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    """Gradient descent on a random quadratic; the final loss and a seed-dependent draw."""
    if config.mode == "nonfinite":
        return _train_to_nan(seed)
    gen = derive_generator(seed, 0)
    target = torch.randn(8, generator=gen)
    w = torch.zeros(8)
    for step in log.progress(range(config.steps)):
        w -= config.lr * (w - target)
        loss = 0.5 * float(((w - target) ** 2).sum())
        log.metrics(step, loss=loss)
        if config.sleep:
            time.sleep(config.sleep)
        if config.mode == "diverge" and step == 3:
            raise Diverged(step=step, metrics={"loss": float("nan")})
    return {"loss": loss, "draw": float(target[0]), "pid": float(os.getpid())}


def _train_to_nan(seed: int) -> dict[str, float]:
    """``icml22dl.train.fit`` with a loss that turns NaN at its third step: raises NonFiniteLossError."""
    gen = derive_generator(seed, 1)
    x, y = torch.randn(12, 2, generator=gen), torch.randint(0, 2, (12,), generator=gen)
    with torch_seeded(seed):
        model = torch.nn.Linear(2, 2)
    calls = []

    def loss_fn(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        calls.append(1)
        loss = torch.nn.functional.cross_entropy(model(batch.x), batch.y)
        return loss * float("nan") if len(calls) == 3 else loss

    fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=4, loss_fn=loss_fn, generator=gen
    )
    return {"loss": 0.0}


CLAIM = Claim(
    slug="toy",
    title="GD converges on a quadratic",
    paper="none",
    statement="the loss goes below 1",
    criteria=(Criterion(id="converges", metric="loss", description="final loss", op="<", threshold=1.0, reduce="all"),),
)

PAPER = Paper(
    slug="toy",
    config_class=Config,
    presets={"quick": Config(), "paper": Config(steps=200)},
    run=run,
    claim=CLAIM,
    curves=(Curve("loss", ("loss",), logy=True),),
    summary=("draw",),
)
