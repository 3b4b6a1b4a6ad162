"""Sweeps: a cartesian grid of config values times seeds, each point its own claim.

Every (point, seed) is one run directory; all of them go to one executor call, so a
cluster sees the whole sweep at once. At the end each point's claim is judged and the
results root's CSV aggregate is rewritten.
"""

from __future__ import annotations

import itertools
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icml22dl.runner.config import ExperimentConfig
from icml22dl.runner.experiment import Paper
from icml22dl.runner.runs import RunTask, check_run_arguments, compute_runs, judge


def parse_grid(config: ExperimentConfig, assignments: Sequence[str]) -> list[ExperimentConfig]:
    """The configs of a grid: ``["lr=0.1,0.2", "sigma=0.3,0.4"]`` -> 4 configs.

    Values are separated by ``,`` (by ``;`` for a tuple-valued field, whose own items take
    ``,``); a nested block's field is named with a dot (``net.epochs=10,20``). Every point is
    validated before any work: a bad value raises ``ValueError`` naming the field.
    """
    axes: list[list[str]] = []
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not text.strip():
            raise ValueError(f"--grid {assignment!r}: expected field=v1,v2,...")
        separator = ";" if typing.get_origin(config.field_type(key)) is tuple else ","
        axes.append([f"{key}={value.strip()}" for value in text.split(separator) if value.strip()])
    keys = [axis[0].partition("=")[0] for axis in axes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"--grid names a field twice: {keys}")
    return [config.with_overrides(point) for point in itertools.product(*axes)]


@dataclass(frozen=True)
class SweepPlan:
    """The runs of a sweep and which of them are finished."""

    tasks: tuple[RunTask, ...]

    @property
    def done(self) -> list[RunTask]:
        return [t for t in self.tasks if t.run_dir.is_done()]

    @property
    def todo(self) -> list[RunTask]:
        return [t for t in self.tasks if not t.run_dir.is_done()]


def changed_fields(config: ExperimentConfig, base: ExperimentConfig | None = None) -> dict[str, Any]:
    """The leaf fields, by dotted name, where ``config`` differs from ``base`` (default: the class defaults)."""
    base = base or type(config)()
    reference = base.flat_dict()
    return {key: value for key, value in config.flat_dict().items() if key not in reference or value != reference[key]}


def plan_sweep(
    paper: Paper,
    configs: Sequence[ExperimentConfig],
    seeds: Sequence[int],
    root: Path,
    scale: str,
    threads: int = 1,
    quiet: bool = True,
) -> SweepPlan:
    """Every (config, seed) run of a sweep."""
    return SweepPlan(tuple(RunTask(paper, c, s, Path(root), scale, threads, quiet) for c in configs for s in seeds))


def run_sweep(
    paper: Paper,
    configs: Sequence[ExperimentConfig],
    seeds: Sequence[int],
    root: Path,
    scale: str,
    executor: str = "serial",
    workers: int | None = None,
    threads: int = 1,
    quiet: bool = False,
    options: Mapping[str, str] | None = None,
    on_finished: Callable[[RunTask], None] | None = None,
) -> list[dict[str, Any]]:
    """Compute every unfinished run of the grid, then judge each point; return the claim records."""
    check_run_arguments(seeds, executor, threads)
    paper.preset(scale)
    plan = plan_sweep(paper, configs, seeds, root, scale, threads, quiet)
    started = time.perf_counter()
    computed = compute_runs(plan.tasks, executor, workers, options, quiet, f"{paper.slug} sweep", on_finished)
    wall = time.perf_counter() - started
    records = []
    for config in configs:
        mine = [t.seed for t in computed if t.config == config]
        records.append(judge(paper, config, seeds, Path(root), scale, mine, wall))
    return records
