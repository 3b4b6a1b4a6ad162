"""Executors: where the runs of a sweep are computed.

An executor maps a picklable function over tasks and yields the results as they finish.

- ``serial``: in this process.
- ``process``: a stdlib process pool (spawned workers, so no forked torch thread pools).
- ``submitit``: Slurm job arrays through submitit (extra ``slurm``); option
  ``cluster=local`` runs the same jobs as local processes on a machine without Slurm; other
  options go to ``update_parameters`` (``slurm_partition=gpu``, ``timeout_min=60``...).
- ``ray``: Ray tasks (extra ``ray``) on an existing cluster (option ``address=auto`` or
  ``ray://host:10001``, else ``$RAY_ADDRESS``) or, with neither, a local Ray runtime started
  and stopped here; option ``num_gpus`` per task.

The run directory stays the unit of work whatever the executor: a job that dies leaves no
``result.json`` and a rerun picks it up. Cluster executors are imported lazily; a missing
extra raises :class:`MissingExtraError` naming it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from icml22dl.validation import check_int

EXECUTORS = ("serial", "process", "submitit", "ray")

Options = Mapping[str, str]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as error:
        raise MissingExtraError(
            f"the {module!r} package is needed for this: pip install 'icml22dl[{extra}]' ({error})"
        ) from None


EXTRAS = {"submitit": ("submitit", "slurm"), "ray": ("ray", "ray")}


def check_executor(name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless it is a known executor, and
    :class:`MissingExtraError` when its optional extra is not installed."""
    if name not in EXECUTORS:
        raise ValueError(f"executor={name!r} is unknown: choose one of {list(EXECUTORS)}")
    if name in EXTRAS:
        _require(*EXTRAS[name])


def parse_options(assignments: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> dict; a part without ``=`` raises ``ValueError`` naming it."""
    options = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ValueError(f"executor option {assignment!r}: expected key=value")
        options[key.strip()] = value.strip()
    return options


def map_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    executor: str = "serial",
    workers: int | None = None,
    options: Options | None = None,
) -> Iterator[Any]:
    """Apply ``fn`` to every task with the named executor, yielding results as they finish.

    Args:
        fn: a module-level (picklable) function of one task.
        tasks: the tasks.
        executor: one of :data:`EXECUTORS`.
        workers: parallelism for ``process`` and ``ray`` (default: one per task, at most
            the CPU count).
        options: executor-specific settings (see the module docstring).

    References:
        :class:`concurrent.futures.ProcessPoolExecutor` (``process``), submitit job arrays
        (``submitit``) and Ray remote tasks (``ray``).

    Example:
        >>> list(map_tasks(abs, [-1, -2, 3]))
        [1, 2, 3]
        >>> sorted(map_tasks(abs, [-1, -2], executor="process", workers=1))  # doctest: +SKIP
        [1, 2]
    """
    check_executor(executor)
    if workers is not None:
        check_int("workers", workers, low=1)
    options = dict(options or {})
    if not tasks:
        return iter(())
    backend = {"serial": _serial, "process": _process, "submitit": _submitit, "ray": _ray}[executor]
    return backend(fn, tasks, workers or min(len(tasks), os.cpu_count() or 1), options)


def _serial(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int, options: dict[str, str]) -> Iterator[Any]:
    for task in tasks:
        yield fn(task)


def _process(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int, options: dict[str, str]) -> Iterator[Any]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(fn, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _submitit(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int, options: dict[str, str]) -> Iterator[Any]:
    submitit = _require(*EXTRAS["submitit"])
    folder = Path(options.pop("folder", Path(getattr(tasks[0], "root", ".")) / ".submitit"))
    executor = submitit.AutoExecutor(folder=folder, cluster=options.pop("cluster", None))
    parameters: dict[str, Any] = {"name": "icml22dl", "slurm_array_parallelism": workers}
    parameters.update({key: _number_or_text(value) for key, value in options.items()})
    executor.update_parameters(**parameters)
    import submitit.helpers

    for job in submitit.helpers.as_completed(executor.map_array(fn, list(tasks)), poll_frequency=0.2):
        yield job.result()


def _ray(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int, options: dict[str, str]) -> Iterator[Any]:
    ray = _require(*EXTRAS["ray"])
    address = options.pop("address", None) or os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=float(options.pop("num_gpus", 0)))(fn)
        pending = [remote.remote(task) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


def _number_or_text(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value
