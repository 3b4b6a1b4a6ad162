"""Executors: where the runs of a sweep are computed.

An executor maps a picklable function over tasks and yields results as they finish.
``serial`` runs in this process; ``process`` uses a stdlib process pool (spawned
workers, so no forked torch thread pools). Cluster executors arrive as optional extras
and are imported lazily; a missing extra is an error naming it.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence

EXECUTORS = ("serial", "process")


def check_executor(name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless it is a known executor."""
    if name not in EXECUTORS:
        raise ValueError(f"executor={name!r} is unknown: choose one of {list(EXECUTORS)}")


def map_tasks(
    fn: Callable[[Any], Any], tasks: Sequence[Any], executor: str = "serial", workers: int | None = None
) -> Iterator[Any]:
    """Apply ``fn`` to every task with the named executor, yielding results as they finish.

    Args:
        fn: a module-level (picklable) function of one task.
        tasks: the tasks.
        executor: ``serial`` or ``process``.
        workers: process count for ``process`` (default: one per task, at most the CPU count).
    """
    check_executor(executor)
    if executor == "serial" or not tasks:
        for task in tasks:
            yield fn(task)
        return
    workers = workers or min(len(tasks), multiprocessing.cpu_count())
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(fn, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
