"""Running one seed, and checking a claim over seeds, with resume and exclusive claims.

``run_one`` computes one (paper, config, seed) run into its directory under a
:class:`~icml22dl.runner.lock.RunLock`; ``compute_runs`` sends the unfinished runs of any
set of configs and seeds to an executor; ``judge`` reads the seeds' ``result.json`` files
and writes ``claim.json``; ``run_claim`` is the two for one config.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

import icml22dl
from icml22dl.runner.claims import Diverged
from icml22dl.runner.config import ExperimentConfig
from icml22dl.runner.executors import check_executor, map_tasks
from icml22dl.runner.experiment import Paper
from icml22dl.runner.lock import RunLock
from icml22dl.runner.seeds import check_seed, seed_everything
from icml22dl.runner.store import RunDir, RunLog, write_json_atomic
from icml22dl.train import NonFiniteLossError
from icml22dl.validation import check_int


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to compute one run (picklable).

    References:
        The run directory layout of ``docs/architecture.md``; pickled by the ``process``,
        ``submitit`` and ``ray`` executors.

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config()},
        ...               lambda config, seed, log: {"value": config.value + seed}, claim)
        >>> root = Path(tempfile.mkdtemp())
        >>> task = RunTask(paper, Config(), seed=3, root=root, scale="quick")
        >>> task.run_dir.path.relative_to(root).parts[::2]
        ('toy', 'seed_3')
    """

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


@dataclass(frozen=True)
class Attempt:
    """What a worker did with a task: ``computed`` it, found it ``done``, or found it ``busy``
    (another worker holds its lock)."""

    task: RunTask
    outcome: str


def run_one(task: RunTask, wait: bool = False) -> Attempt:
    """Compute one run unless it is finished or another worker is computing it.

    Args:
        task: the run.
        wait: when another worker holds the run, wait for it to let go (then the run is
            usually ``done``; if that worker died, it is computed here).

    The metrics log is rewritten from the start when an unfinished run is recomputed.
    A :class:`Diverged` run is recorded with ``status: "diverged"`` and the metrics it had.

    References:
        Advisory file locks (:mod:`fcntl`, ``flock(2)``) through
        :class:`~icml22dl.runner.lock.RunLock`; atomic ``result.json`` writes.

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config()},
        ...               lambda config, seed, log: {"value": config.value + seed}, claim)
        >>> root = Path(tempfile.mkdtemp())
        >>> task = RunTask(paper, Config(), seed=0, root=root, scale="quick")
        >>> run_one(task).outcome, run_one(task).outcome
        ('computed', 'done')
        >>> task.run_dir.load_result()["metrics"]
        {'value': 1.0}
    """
    run_dir = task.run_dir
    if run_dir.is_done():
        return Attempt(task, "done")
    with RunLock(run_dir.path, blocking=wait) as lock:
        if not lock.acquired:
            return Attempt(task, "busy")
        if run_dir.is_done():
            return Attempt(task, "done")
        _compute(task)
    return Attempt(task, "computed")


def _compute(task: RunTask) -> None:
    run_dir = task.run_dir
    write_json_atomic(
        run_dir.config_file,
        {"slug": task.paper.slug, "scale": task.scale, "seed": task.seed, "config": task.config.to_dict()},
    )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    seed_everything(task.seed)
    cuda_before = cuda_allocations()
    wall, cpu = time.perf_counter(), time.process_time()
    status, error = "ok", None
    try:
        with RunLog(run_dir.metrics_file, quiet=task.quiet, desc=f"{task.paper.slug} seed {task.seed}") as log:
            metrics = dict(task.paper.run(task.config, task.seed, log))
    except Diverged as diverged:
        status, error, metrics = "diverged", str(diverged), diverged.metrics
    except NonFiniteLossError as diverged:  # raised by icml22dl.train.fit
        status, error, metrics = "diverged", str(diverged), {"diverged_step": float(diverged.step)}
    finally:
        torch.set_num_threads(previous_threads)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    device = "cuda" if cuda_allocations() > cuda_before else "cpu"
    write_json_atomic(
        run_dir.result_file,
        {
            "slug": task.paper.slug,
            "seed": task.seed,
            "scale": task.scale,
            "config_hash": run_dir.config_hash,
            "config": task.config.to_dict(),
            "status": status,
            "error": error,
            "metrics": metrics,
            "wall_time_s": wall,
            "cpu_time_s": cpu,
            "torch_version": torch.__version__,
            "threads": task.threads,
            "device": device,
            "device_requested": getattr(task.config, "device", None),
            "library_version": icml22dl.__version__,
            "git_commit": git_commit(),
            "python_version": platform.python_version(),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def git_commit(source: Path | None = None) -> str | None:
    """The git commit of the source tree the library runs from, ``-dirty`` when it has uncommitted changes.

    ``source`` is the package folder (default: this installed ``icml22dl``); the commit is
    reported only when that folder is the ``src/icml22dl`` of a git checkout, so an
    installed copy (site-packages, even inside some other repository) gives ``None``. So
    does a machine without git: provenance never makes a run fail.

    Returns:
        ``"<40 hex digits>"`` or ``"<40 hex digits>-dirty"`` (tracked files differ from the
        commit; untracked files do not count, as in ``git describe --dirty``), else ``None``.

    References:
        ``git rev-parse HEAD`` and ``git status --porcelain`` (git documentation).

    Example:
        >>> import tempfile
        >>> git_commit(Path(tempfile.mkdtemp())) is None  # not a checkout
        True
        >>> commit = git_commit()  # this checkout's, or None for an installed copy
        >>> commit is None or len(commit.removesuffix("-dirty")) == 40
        True
    """
    package = Path(icml22dl.__file__).parent if source is None else Path(source)

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(package), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):  # no git, or it hung
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or (Path(top) / "src" / "icml22dl").resolve() != package.resolve():
        return None
    commit, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    if not commit or status is None:
        return None
    return f"{commit}-dirty" if status else commit


def cuda_allocations() -> int:
    """How many CUDA memory allocations this process has made so far (0 if it never used CUDA).

    The runner compares the count before and after a run to record the device the run
    actually computed on: ``"cuda"`` only when the run allocated CUDA memory, whatever its
    config asked for, so a paper that computes on the CPU never records ``cuda``.

    References:
        ``torch.cuda.memory_stats()["allocation.all.allocated"]``, the caching allocator's
        cumulative allocation count (PyTorch CUDA semantics, memory management).

    Example:
        >>> import torch
        >>> before = cuda_allocations()
        >>> _ = torch.ones(3) * 2  # a CPU computation
        >>> cuda_allocations() == before
        True
    """
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return 0
    return sum(
        int(torch.cuda.memory_stats(index).get("allocation.all.allocated", 0))
        for index in range(torch.cuda.device_count())
    )


def check_run_arguments(seeds: Sequence[int], executor: str, threads: int) -> None:
    """Validate what every claim run needs, before any work: raises ``ValueError`` naming it."""
    check_executor(executor)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    for seed in seeds:
        check_seed(seed)
    check_int("threads", threads, low=1)


def compute_runs(
    tasks: Sequence[RunTask],
    executor: str = "serial",
    workers: int | None = None,
    options: Mapping[str, str] | None = None,
    quiet: bool = False,
    desc: str = "",
    on_finished: Callable[[RunTask], None] | None = None,
) -> list[RunTask]:
    """Compute the unfinished runs among ``tasks``; return those computed by this call.

    Runs that another worker holds are waited for at the end (and computed here if that
    worker died without finishing them). ``on_finished`` is called in this process for every
    run that ends during the call, whoever computed it.

    References:
        The executors of :mod:`icml22dl.runner.executors`; resume by ``result.json``
        (``docs/architecture.md``, run directory layout).

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config()},
        ...               lambda config, seed, log: {"value": config.value + seed}, claim)
        >>> root = Path(tempfile.mkdtemp())
        >>> tasks = [RunTask(paper, Config(), seed, root, "quick") for seed in (0, 1)]
        >>> [t.seed for t in compute_runs(tasks, quiet=True)]
        [0, 1]
        >>> compute_runs(tasks, quiet=True)  # finished runs are never recomputed
        []
    """
    todo = [t for t in tasks if not t.run_dir.is_done()]
    computed: list[RunTask] = []
    busy: list[RunTask] = []
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=desc, disable=quiet or None)
    with bar:
        for attempt in map_tasks(run_one, todo, executor, workers, options):
            if attempt.outcome == "busy":
                busy.append(attempt.task)
                continue
            if attempt.outcome == "computed":
                computed.append(attempt.task)
            bar.update(1)
            if on_finished is not None:
                on_finished(attempt.task)
        for task in busy:
            attempt = run_one(task, wait=True)
            if attempt.outcome == "computed":
                computed.append(task)
            bar.update(1)
            if on_finished is not None:
                on_finished(task)
    return computed


def judge(
    paper: Paper,
    config: ExperimentConfig,
    seeds: Sequence[int],
    root: Path,
    scale: str,
    computed_seeds: Sequence[int] = (),
    wall_time_s: float = 0.0,
) -> dict[str, Any]:
    """Judge the claim from the seeds' ``result.json`` files and write ``claim.json``.

    References:
        :meth:`icml22dl.runner.claims.Claim.judge`; the verdict rules of ``docs/architecture.md``.

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config()},
        ...               lambda config, seed, log: {"value": config.value + seed}, claim)
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = compute_runs([RunTask(paper, Config(), 0, root, "quick")], quiet=True)
        >>> judge(paper, Config(), [0], root, "quick")["verdict"]
        'reproduced'
        >>> (root / "toy" / Config().config_hash() / "claim.json").exists()
        True
    """
    config_hash = config.config_hash()
    results = {seed: RunDir(root, paper.slug, config_hash, seed).load_result() for seed in seeds}
    record = paper.claim.judge(
        scale, {seed: r["metrics"] if r["status"] == "ok" else {} for seed, r in results.items()}
    )
    record.update(
        config_hash=config_hash,
        config=config.to_dict(),
        computed_seeds=sorted(computed_seeds),
        statuses={str(seed): r["status"] for seed, r in results.items()},
        wall_time_s=wall_time_s,
        run_wall_time_s=sum(r["wall_time_s"] for r in results.values()),
        curves=[c.to_dict() for c in paper.curves],
        library_version=icml22dl.__version__,
        git_commit=git_commit(),
        torch_version=torch.__version__,
        python_version=sys.version.split()[0],
    )
    write_json_atomic(Path(root) / paper.slug / config_hash / "claim.json", record)
    return record


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
    options: Mapping[str, str] | None = None,
    on_finished: Callable[[RunTask], None] | None = None,
) -> dict[str, Any]:
    """Compute the unfinished seeds of a claim, judge it, and write ``claim.json``.

    Args:
        paper: the registered paper.
        config: its config (a preset, possibly with overrides).
        seeds: the seeds; those with a ``result.json`` already are not recomputed.
        root: the results root.
        scale: the scale whose criteria apply (``quick``, ``paper`` or another preset).
        executor: a name from :data:`~icml22dl.runner.executors.EXECUTORS`.
        workers: parallel workers for the executors that take a count.
        threads: torch intra-op threads per run (1 on a shared CPU).
        quiet: no progress bars.
        options: executor options (e.g. ``{"cluster": "local"}`` for submitit).
        on_finished: called for every run that ends during the call.

    Returns:
        The claim record written to ``claim.json`` (verdict, per-criterion records).

    References:
        ``icml22dl run`` (this function behind the command line); the run directory layout
        and verdict rules of ``docs/architecture.md``.

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config()},
        ...               lambda config, seed, log: {"value": config.value + seed}, claim)
        >>> root = Path(tempfile.mkdtemp())
        >>> record = run_claim(paper, Config(), [0, 1], root, "quick", quiet=True)
        >>> record["verdict"], record["computed_seeds"], record["statuses"]
        ('reproduced', [0, 1], {'0': 'ok', '1': 'ok'})
        >>> run_claim(paper, Config(value=-5.0), [0], root, "quick", quiet=True)["verdict"]
        'not reproduced'
    """
    check_run_arguments(seeds, executor, threads)
    paper.preset(scale)
    root = Path(root)
    tasks = [RunTask(paper, config, seed, root, scale, threads, quiet) for seed in seeds]
    started = time.perf_counter()
    computed = compute_runs(tasks, executor, workers, options, quiet, paper.slug, on_finished)
    return judge(paper, config, seeds, root, scale, [t.seed for t in computed], time.perf_counter() - started)
