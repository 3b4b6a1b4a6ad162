"""Running one seed, and checking a claim over seeds, with resume.

``run_one`` computes one (paper, config, seed) run into its directory; ``run_claim``
computes the unfinished seeds with an executor, then judges the claim from the seeds'
``result.json`` files and writes ``claim.json``.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

import icml22dl
from icml22dl.runner.claims import Diverged
from icml22dl.runner.config import ExperimentConfig
from icml22dl.runner.executors import check_executor, map_tasks
from icml22dl.runner.experiment import Paper
from icml22dl.runner.seeds import check_seed, seed_everything
from icml22dl.runner.store import RunDir, RunLog, write_json_atomic


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to compute one run (picklable)."""

    paper: Paper
    config: ExperimentConfig
    seed: int
    root: Path
    scale: str
    threads: int = 1
    quiet: bool = True

    @property
    def run_dir(self) -> RunDir:
        return RunDir(self.root, self.paper.slug, self.config.config_hash(), self.seed)


def run_one(task: RunTask) -> dict[str, Any]:
    """Compute one run unless its ``result.json`` exists; return the result record.

    The metrics log is rewritten from the start when an unfinished run is recomputed.
    A :class:`Diverged` run is recorded with ``status: "diverged"`` and the metrics it had.
    """
    run_dir = task.run_dir
    if run_dir.is_done():
        return run_dir.load_result()
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        run_dir.config_file,
        {"slug": task.paper.slug, "scale": task.scale, "seed": task.seed, "config": task.config.to_dict()},
    )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    seed_everything(task.seed)
    wall, cpu = time.perf_counter(), time.process_time()
    status, error = "ok", None
    try:
        with RunLog(run_dir.metrics_file, quiet=task.quiet, desc=f"{task.paper.slug} seed {task.seed}") as log:
            metrics = dict(task.paper.run(task.config, task.seed, log))
    except Diverged as diverged:
        status, error, metrics = "diverged", str(diverged), diverged.metrics
    finally:
        torch.set_num_threads(previous_threads)
    result = {
        "slug": task.paper.slug,
        "seed": task.seed,
        "scale": task.scale,
        "config_hash": run_dir.config_hash,
        "config": task.config.to_dict(),
        "status": status,
        "error": error,
        "metrics": metrics,
        "wall_time_s": time.perf_counter() - wall,
        "cpu_time_s": time.process_time() - cpu,
        "torch_version": torch.__version__,
        "threads": task.threads,
        "device": _device_of(task.config),
        "library_version": icml22dl.__version__,
        "python_version": platform.python_version(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(run_dir.result_file, result)
    return result


def _device_of(config: ExperimentConfig) -> str:
    device = getattr(config, "device", "cpu")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def run_claim(
    paper: Paper,
    config: ExperimentConfig,
    seeds: Sequence[int],
    root: Path,
    scale: str,
    executor: str = "serial",
    workers: int | None = None,
    threads: int = 1,
    quiet: bool = False,
) -> dict[str, Any]:
    """Compute the unfinished seeds of a claim, judge it, and write ``claim.json``.

    Args:
        paper: the registered paper.
        config: its config (a preset, possibly with overrides).
        seeds: the seeds; those with a ``result.json`` already are not recomputed.
        root: the results root.
        scale: the scale whose criteria apply (``quick`` or ``paper``).
        executor: ``serial`` or ``process``.
        workers: processes for the ``process`` executor.
        threads: torch intra-op threads per run (1 on a shared CPU).
        quiet: no progress bars.

    Returns:
        The claim record written to ``claim.json`` (verdict, per-criterion records).
    """
    check_executor(executor)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    for seed in seeds:
        check_seed(seed)
    if threads < 1:
        raise ValueError(f"threads={threads} must be >= 1")
    paper.preset(scale)
    root = Path(root)
    tasks = [RunTask(paper, config, seed, root, scale, threads, quiet) for seed in seeds]
    todo = [t for t in tasks if not t.run_dir.is_done()]
    started = time.perf_counter()
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=paper.slug, disable=quiet or None)
    with bar:
        for _ in map_tasks(run_one, todo, executor, workers):
            bar.update(1)
    results = {t.seed: t.run_dir.load_result() for t in tasks}
    record = paper.claim.judge(scale, {seed: r["metrics"] if r["status"] == "ok" else {} for seed, r in results.items()})
    record.update(
        config_hash=config.config_hash(),
        config=config.to_dict(),
        computed_seeds=[t.seed for t in todo],
        statuses={str(seed): r["status"] for seed, r in results.items()},
        wall_time_s=time.perf_counter() - started,
        run_wall_time_s=sum(r["wall_time_s"] for r in results.values()),
        curves=[c.to_dict() for c in paper.curves],
        library_version=icml22dl.__version__,
        torch_version=torch.__version__,
        python_version=sys.version.split()[0],
    )
    write_json_atomic(root / paper.slug / config.config_hash() / "claim.json", record)
    return record

