"""A prepared, time-bounded check of every paper's ``paper`` preset on one machine (``icml22dl gpu-check``).

Each paper's ``paper`` preset (AMP where the preset says so) runs in a forked process for a
fair share of the budget: 60 % of it (``probe_share``) split over the papers, the time a
paper leaves unused (missing data, a quick failure) going to the papers after it. The probe
times the steps of :func:`icml22dl.train.fit` through :data:`icml22dl.train.STEP_HOOK`
(papers that train without ``fit`` are timed by the iterations of their ``log.progress``
loop), stops the run when the next step would pass its share (or after ``max_steps``) and
records the seconds per step, the peak memory (``torch.cuda.max_memory_allocated`` on CUDA,
the process's peak RSS on the CPU) and the projected full run: seconds per step x the steps
of the fit calls it saw (epochs x batches per epoch). A paper may call ``fit`` several
times, so a stopped probe's projection is a lower bound; a paper whose loop the probe cannot
see gets none. A process that overruns its share is killed at the end of it.

What is left of the budget goes to one headline run: Adai vs SGD-M vs Adam (and AdaiW) on
CIFAR-10 ResNet-18 (the ``adai`` paper's ``paper`` preset with as many epochs as the probe's
timing says fit, the learning-rate milestones scaled with them), beside the official
repository's test errors. It is skipped, with the reason, when not one epoch fits.

The whole check finishes inside its budget (less a safety margin for the summaries) and
writes ``gpu_check.json`` and ``gpu_check.md``. It never downloads data: the caller passes
``missing_data``, which only checks the files.

References:
    Xie et al., "Adaptive Inertia" (ICML 2022) and its official repository's README table
    (ResNet-18 on CIFAR-10, test error: Adai 4.74 %, SGD-M 5.01 %, Adam 6.53 %);
    :func:`torch.cuda.max_memory_allocated`; :func:`resource.getrusage` (``ru_maxrss``).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import torch

from icml22dl.runner.experiment import Paper
from icml22dl.runner.seeds import seed_everything
from icml22dl.runner.store import RunLog, write_json_atomic
from icml22dl.train import STEP_HOOK, NonFiniteLossError

__all__ = ["HEADLINE", "GpuCheckResult", "StopProbe", "StepTimer", "render_markdown", "run_gpu_check"]

T = TypeVar("T")

#: The headline comparison: the paper, the config field of its epochs, its optimisers and the
#: official README's ResNet-18 / CIFAR-10 test errors in % (None: not in that table).
HEADLINE: dict[str, Any] = {
    "slug": "adai",
    "epochs_field": "cifar.epochs",
    "methods": ("adai", "adaiw", "sgdm", "adam"),
    "paper_test_err": {"adai": 4.74, "adaiw": None, "sgdm": 5.01, "adam": 6.53},
    "paper_epochs": 200,
    "source": "official repository README (zeke-xie/adaptive-inertia-adai), ResNet-18 on CIFAR-10",
}


class StopProbe(BaseException):
    """Raised inside a probed run when its time (or step count) is up.

    A :class:`BaseException`, so a paper's ``except Exception`` does not swallow it.

    References:
        Like :class:`KeyboardInterrupt`, a stop request that is not an error.

    Example:
        >>> issubclass(StopProbe, Exception)
        False
    """


class StepTimer:
    """The :data:`icml22dl.train.STEP_HOOK` of a probe: times each step and stops the run in time.

    ``timer(steps_done, epochs, batches)`` is called by ``fit`` before every step
    (``steps_done = 0`` opens a new fit call) and after its last one (``batches = 0``). It
    raises :class:`StopProbe` before a step that would pass ``deadline`` (judged by the
    last step's duration) or after ``max_steps`` steps.

    References:
        Wall-clock timing with :func:`time.perf_counter` between consecutive steps (``fit``
        reads each loss with ``.item()``, which waits for the device).

    Example:
        >>> timer = StepTimer(deadline=time.perf_counter() + 60, max_steps=3)
        >>> for done in range(3):
        ...     timer(done, 2, 10)
        >>> timer(3, 2, 10)
        Traceback (most recent call last):
        icml22dl.runner.gpu_check.StopProbe: 3 steps probed
        >>> timer.fits, len(timer.durations)
        ([{'epochs': 2, 'steps_per_epoch': 10, 'steps': 3}], 3)
    """

    def __init__(
        self, deadline: float, max_steps: int | None = None, on_step: Callable[[], None] | None = None
    ) -> None:
        self.deadline = deadline
        self.max_steps = max_steps
        self.on_step = on_step
        self.started = time.perf_counter()
        self.first_step_at: float | None = None
        self.fits: list[dict[str, int]] = []
        self.durations: list[float] = []
        self._last: float | None = None

    @property
    def steps(self) -> int:
        """Steps completed over every fit call."""
        return sum(fit["steps"] for fit in self.fits)

    def __call__(self, steps_done: int, epochs: int, batches: int) -> None:
        now = time.perf_counter()
        if steps_done == 0:
            self.fits.append({"epochs": epochs, "steps_per_epoch": batches, "steps": 0})
            if self.first_step_at is None:
                self.first_step_at = now
        elif self.fits:
            self.fits[-1]["steps"] = steps_done
            if self._last is not None:
                self.durations.append(now - self._last)
        self._last = now
        if self.on_step is not None:
            self.on_step()
        if batches == 0:
            return
        if self.max_steps is not None and self.steps >= self.max_steps:
            raise StopProbe(f"{self.steps} steps probed")
        if now + (self.durations[-1] if self.durations else 0.0) > self.deadline:
            raise StopProbe("the probe's time is up")


class _ProbeLog(RunLog):
    """A log that records nothing and times the outermost ``progress`` loop (for papers without ``fit``)."""

    def __init__(self, timer: StepTimer) -> None:
        super().__init__(None, quiet=True)
        self.timer = timer
        self.loop_total: int | None = None
        self.loop_durations: list[float] = []
        self._depth = 0

    def progress(self, iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        outer = self._depth == 0 and self.loop_total is None
        if outer:
            size = total if total is not None else getattr(iterable, "__len__", lambda: None)()
            self.loop_total = size if isinstance(size, int) else 0
        return self._iterate(iterable, outer)

    def _iterate(self, iterable: Iterable[T], outer: bool) -> Iterator[T]:
        self._depth += 1
        try:
            last = time.perf_counter()
            for item in iterable:
                yield item
                now = time.perf_counter()
                if outer:
                    self.loop_durations.append(now - last)
                    if self.timer.on_step is not None:
                        self.timer.on_step()
                    if not self.timer.fits and now + self.loop_durations[-1] > self.timer.deadline:
                        raise StopProbe("the probe's time is up")
                last = now
        finally:
            self._depth -= 1


@dataclass
class GpuCheckResult:
    """The summary of one check: the probes, the headline run and the paths written.

    References:
        The fields of ``gpu_check.json`` (see :func:`run_gpu_check`).

    Example:
        >>> result = GpuCheckResult(summary={"papers": []}, json_path=Path("a.json"), markdown_path=Path("a.md"))
        >>> result.summary["papers"]
        []
    """

    summary: dict[str, Any]
    json_path: Path
    markdown_path: Path
    papers: list[dict[str, Any]] = field(default_factory=list)


def _config_device(config: Any, device: str) -> tuple[Any, str]:
    """The config on ``device`` (``cpu`` or ``cuda``, when it has a device field) and the device it computes on."""
    if hasattr(config, "device"):
        return config.replace(device=device), device
    return config, "cpu"


def _cuda_device_name() -> str | None:
    """The first CUDA device's name, or None, asked in a forked process.

    The parent never initialises CUDA (``torch.cuda.is_available`` would, through ``cuInit``),
    so the forked probes can.
    """
    if not torch.backends.cuda.is_built():
        return None
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_send_cuda_name, args=(send,), daemon=True)
    process.start()
    send.close()
    name = receive.recv() if receive.poll(120) else None
    process.join(1)
    if process.is_alive():
        process.kill()
    receive.close()
    return name if isinstance(name, str) else None


def _send_cuda_name(conn: Any) -> None:
    conn.send(torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    conn.close()


def _amp(config: Any) -> bool | None:
    """Whether the config asks for autocast (any field named ``amp``), None when it has none."""
    values = [bool(v) for k, v in config.flat_dict().items() if k.split(".")[-1] == "amp"]
    return any(values) if values else None


def _peak_memory(device: str) -> tuple[int | None, str]:
    if device == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated()), "cuda max allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "peak RSS of the process"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__


def _status_of(error: BaseException) -> str:
    if isinstance(error, NonFiniteLossError):
        return "diverged"
    if isinstance(error, FileNotFoundError):
        return "missing data"
    if isinstance(error, ImportError):
        return "missing extra"
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "out of memory"
    return "failed"


def _measure(timer: StepTimer, log: _ProbeLog) -> dict[str, Any]:
    """Seconds per step (median after the first, which holds warm-up) and the projection."""
    state: dict[str, Any] = {"steps": timer.steps, "fit_calls": len(timer.fits), "fits": list(timer.fits)}
    setup = timer.first_step_at - timer.started if timer.first_step_at is not None else None
    state["setup_s"] = setup
    durations, full_steps, unit = timer.durations, sum(f["epochs"] * f["steps_per_epoch"] for f in timer.fits), "step"
    if not timer.fits and log.loop_durations:
        durations, full_steps, unit = log.loop_durations, log.loop_total or 0, "iteration"
        state["steps"] = len(durations)
    state["unit"] = unit
    state["first_step_s"] = durations[0] if durations else None
    steady = durations[1:] if len(durations) > 1 else durations
    state["s_per_step"] = statistics.median(steady) if steady else None
    state["full_steps"] = full_steps or None
    state["projected_s"] = state["s_per_step"] * full_steps if steady and full_steps else None
    return state


def _probe_child(
    paper: Paper, config: Any, device: str, seed: int, deadline: float, max_steps: int | None, conn: Any
) -> None:
    """In the forked process: run the preset under a :class:`StepTimer` and send snapshots and the result."""
    last_sent = [0.0]
    timer = StepTimer(deadline, max_steps)
    log = _ProbeLog(timer)

    def snapshot(status: str = "running", reason: str | None = None) -> dict[str, Any]:
        memory, kind = _peak_memory(device)
        return {"status": status, "reason": reason, "peak_memory_bytes": memory, "memory_kind": kind} | _measure(
            timer, log
        )

    def on_step() -> None:
        now = time.perf_counter()
        if now - last_sent[0] > 0.25:
            last_sent[0] = now
            conn.send(snapshot())

    timer.on_step = on_step
    status, reason = "finished", None
    token = STEP_HOOK.set(timer)
    try:
        seed_everything(seed)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        paper.run(config, seed, log)
    except StopProbe as stop:
        status, reason = "probed", str(stop)
    except Exception as error:  # recorded per paper; the check goes on
        status, reason = _status_of(error), _one_line(error)
    finally:
        STEP_HOOK.reset(token)
    conn.send(snapshot(status, reason))
    conn.close()


def _probe(
    paper: Paper, device: str, seed: int, slot_end: float, max_steps: int | None, missing_data: Callable[[str], Any]
) -> dict[str, Any]:
    """Probe one paper's ``paper`` preset until ``slot_end`` (the process is killed there at the latest)."""
    started = time.perf_counter()
    config, used = _config_device(paper.preset("paper"), device)
    row: dict[str, Any] = {"slug": paper.slug, "preset": "paper", "device": used, "amp": _amp(config)}
    row |= {"cap_s": round(slot_end - started, 2), "status": "not run", "reason": None, "steps": 0}
    reason = missing_data(paper.slug)
    if reason:
        return row | {"status": "missing data", "reason": str(reason), "wall_s": time.perf_counter() - started}
    grace = min(2.0, 0.1 * max(slot_end - time.perf_counter(), 0.0))
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(
        target=_probe_child, args=(paper, config, used, seed, slot_end - grace, max_steps, send), daemon=True
    )
    process.start()
    send.close()
    last: dict[str, Any] | None = None
    try:
        while time.perf_counter() < slot_end:
            if receive.poll(min(0.05, max(slot_end - time.perf_counter(), 0.0))):
                try:
                    last = receive.recv()
                except EOFError:
                    break
                if last is not None and last["status"] != "running":
                    break
            elif not process.is_alive() and not receive.poll():
                break
    finally:
        peak_rss = _peak_rss(process.pid)
        if process.is_alive():
            process.terminate()
            process.join(0.5)
            if process.is_alive():
                process.kill()
        process.join(0.5)
        receive.close()
    if last is None:
        reason = f"no step was reached within its share of the budget ({row['cap_s']:g} s: set-up is longer)"
        last = {"status": "killed", "reason": reason}
        if used == "cpu" and peak_rss is not None:
            last |= {"peak_memory_bytes": peak_rss, "memory_kind": "peak RSS of the process (at the kill)"}
    elif last["status"] == "running":
        last = last | {"status": "killed", "reason": "a step or its set-up ran past its share of the budget"}
    return row | last | {"wall_s": time.perf_counter() - started}


def _peak_rss(pid: int | None) -> int | None:
    """The peak resident set of a live process in bytes (Linux ``/proc/<pid>/status`` VmHWM), else None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _headline_child(paper: Paper, config: Any, seed: int, metrics_file: Path, conn: Any) -> None:
    status, reason, metrics = "finished", None, {}
    try:
        seed_everything(seed)
        with RunLog(metrics_file) as log:
            metrics = dict(paper.run(config, seed, log))
    except Exception as error:
        status, reason = _status_of(error), _one_line(error)
    conn.send({"status": status, "reason": reason, "metrics": metrics})
    conn.close()


def _headline_plan(probe: dict[str, Any] | None, left: float) -> tuple[int, str | None]:
    """How many epochs of the headline fit in ``left`` seconds (from the adai probe), or 0 and why not."""
    if probe is None:
        return 0, "the adai paper is not registered"
    rate, fits = probe.get("s_per_step"), probe.get("fits") or []
    if not rate or not fits or probe.get("unit") != "step":
        return 0, f"the adai probe measured no step time (status {probe.get('status')}: {probe.get('reason')})"
    epoch_s = 1.25 * rate * fits[0]["steps_per_epoch"]  # + about a quarter for the test-set evaluation
    setup = probe.get("setup_s") or 0.0
    methods = len(HEADLINE["methods"])
    epochs = int((0.9 * left - setup) // (methods * epoch_s)) if left > setup else 0
    epochs = min(epochs, HEADLINE["paper_epochs"])
    if epochs < 1:
        return 0, (
            f"one epoch of {methods} optimisers needs about {setup + methods * epoch_s:.0f} s "
            f"(set-up {setup:.0f} s, {epoch_s:.1f} s per epoch each), {left:.0f} s are left"
        )
    return epochs, None


def _headline(
    paper: Paper | None, probe: dict[str, Any] | None, device: str, seed: int, end: float, out: Path
) -> dict[str, Any]:
    started = time.perf_counter()
    epochs, reason = _headline_plan(probe, end - started)
    record: dict[str, Any] = {"slug": HEADLINE["slug"], "source": HEADLINE["source"], "epochs_planned": epochs}
    record["paper_test_err"] = dict(HEADLINE["paper_test_err"])
    if paper is None or reason is not None:
        return record | {"status": "skipped", "reason": reason, "wall_s": 0.0}
    config, used = _config_device(
        paper.preset("paper").with_overrides([f"{HEADLINE['epochs_field']}={epochs}"]), device
    )
    metrics_file = out / "headline_metrics.jsonl"
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(
        target=_headline_child, args=(paper, config, seed, metrics_file, send), daemon=True
    )
    process.start()
    send.close()
    result: dict[str, Any] = {"status": "killed", "reason": "stopped at the end of the budget", "metrics": {}}
    if receive.poll(max(end - time.perf_counter(), 0.0)):
        try:
            result = receive.recv()
        except EOFError:
            pass
    if process.is_alive():
        process.terminate()
        process.join(0.5)
        if process.is_alive():
            process.kill()
    receive.close()
    record |= {"device": used, "amp": _amp(config), "status": result["status"], "reason": result["reason"]}
    record["methods"] = _headline_methods(metrics_file)
    record["wall_s"] = time.perf_counter() - started
    return record


def _headline_methods(metrics_file: Path) -> dict[str, dict[str, Any]]:
    """Per optimiser: epochs reached and the last epoch's test error in %, from the run's metrics log."""
    reached: dict[str, dict[str, Any]] = {}
    lines = metrics_file.read_text().splitlines() if metrics_file.exists() else []
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut by the kill
            continue
        for key, value in row.items():
            name, _, metric = key.partition("/")
            if metric == "test_err" and name in HEADLINE["methods"]:
                reached[name] = {"epochs_reached": int(row["step"]), "test_err": 100.0 * float(value)}
    return {
        name: {
            **reached.get(name, {"epochs_reached": 0, "test_err": None}),
            "paper_test_err": HEADLINE["paper_test_err"][name],
        }
        for name in HEADLINE["methods"]
    }


def _device_name(device: str, cuda_name: str | None) -> str:
    if device == "cuda":
        return f"cuda ({cuda_name})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def run_gpu_check(
    papers: Sequence[Paper],
    *,
    budget: float,
    device: str = "auto",
    out: Path = Path("results/gpu-check"),
    probe_share: float = 0.6,
    max_steps: int | None = 50,
    seed: int = 0,
    missing_data: Callable[[str], Any] = lambda slug: None,
    started: float | None = None,
) -> GpuCheckResult:
    """Probe every paper's ``paper`` preset, run the headline with the time left, write the summaries.

    Args:
        papers: the papers to probe, in order (the headline uses the one whose slug is ``adai``).
        budget: seconds for the whole check, summaries included (from ``started``).
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when there is a device): every config with a
            device field computes there.
        out: folder for ``gpu_check.json``, ``gpu_check.md`` and the headline's metrics log.
        probe_share: the share of the budget for the probes (the rest: the headline run).
        max_steps: steps per probe at most (None: until its share is spent).
        seed: the seed of every run.
        missing_data: ``missing_data(slug) -> reason or None`` for the paper preset's data
            (it must not download).
        started: the :func:`time.perf_counter` the budget counts from (default: now).

    Returns:
        A :class:`GpuCheckResult`.

    Raises:
        ValueError: for a budget or share out of range, or ``cuda`` without a CUDA device.
    """
    started = time.perf_counter() if started is None else started
    if not budget > 0 or not 0 < probe_share <= 1:
        raise ValueError(f"--budget must be > 0 and the probe share in (0, 1]: {budget}, {probe_share}")
    cuda_name = _cuda_device_name() if device != "cpu" else None
    if device == "cuda" and cuda_name is None:
        raise ValueError("--device cuda: no CUDA device is available here (use --device cpu)")
    requested, device = device, ("cuda" if cuda_name else "cpu") if device == "auto" else device
    margin = min(5.0, max(0.5, 0.03 * budget))
    end = started + budget - margin
    probes_end = started + probe_share * (budget - margin)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for k, paper in enumerate(papers):
        now = time.perf_counter()
        share = max(probes_end - now, 0.0) / (len(papers) - k)
        rows.append(_probe(paper, device, seed, now + share, max_steps, missing_data))
    by_slug = {paper.slug: paper for paper in papers}
    probe = next((row for row in rows if row["slug"] == HEADLINE["slug"]), None)
    headline = _headline(by_slug.get(HEADLINE["slug"]), probe, device, seed, end, out)
    summary = {
        "budget_s": budget,
        "wall_s": time.perf_counter() - started,
        "device_requested": requested,
        "device": _device_name(device, cuda_name),
        "probe_share": probe_share,
        "max_steps": max_steps,
        "seed": seed,
        "torch_version": torch.__version__,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "papers": rows,
        "headline": headline,
    }
    json_path, markdown_path = out / "gpu_check.json", out / "gpu_check.md"
    write_json_atomic(json_path, _finite(summary))
    markdown_path.write_text(render_markdown(summary))
    return GpuCheckResult(summary, json_path, markdown_path, rows)


def _finite(value: Any) -> Any:
    """NaN and infinities as None, for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def _memory(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MiB"


def _projection(row: dict[str, Any]) -> str:
    if row.get("projected_s") is None:
        return "no projection"
    bound = "" if row.get("status") == "finished" else ">= "
    calls = row.get("fit_calls") or 0
    where = f" ({calls} fit call{'s' if calls != 1 else ''} seen)" if row.get("unit") == "step" else " (its loop)"
    return f"{bound}{_duration(row['projected_s'])}{where}"


def render_markdown(summary: dict[str, Any]) -> str:
    """The Markdown summary: one row per paper, then the headline run beside the paper's numbers.

    References:
        GitHub-flavoured Markdown tables.

    Example:
        >>> row = {"slug": "momentum", "preset": "paper", "device": "cpu", "amp": None, "steps": 3,
        ...        "s_per_step": 0.5, "peak_memory_bytes": 2**30, "projected_s": 100.0, "fit_calls": 1,
        ...        "unit": "step", "status": "probed", "reason": "3 steps probed"}
        >>> text = render_markdown({"budget_s": 60, "wall_s": 50.0, "device": "cpu", "papers": [row],
        ...                         "headline": {"status": "skipped", "reason": "no time", "paper_test_err": {}}})
        >>> "| 3 | 0.5 | 1024 MiB | >= 100 s (1 fit call seen) | probed: 3 steps probed |" in text
        True
    """
    lines = [
        "# GPU check",
        "",
        f"Device: {summary['device']}; budget {summary['budget_s']:g} s, wall {summary['wall_s']:.1f} s.",
        "",
        "| paper | preset | device | AMP | steps probed | s/step | peak memory | projected full run | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["papers"]:
        amp = "-" if row.get("amp") is None else ("yes" if row["amp"] else "no")
        if row.get("amp") and row.get("device") == "cpu":
            amp += " (no-op on CPU)"
        rate = "-" if row.get("s_per_step") is None else f"{row['s_per_step']:.3g}"
        status = row["status"] + (f": {row['reason']}" if row.get("reason") else "")
        cells = [row["slug"], row["preset"], row["device"], amp, str(row.get("steps", 0)), rate]
        cells += [_memory(row.get("peak_memory_bytes")), _projection(row), status.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    head = summary["headline"]
    lines += ["", "## Headline: Adai vs SGD-M vs Adam, CIFAR-10 ResNet-18", ""]
    reason = f" ({head['reason']})" if head.get("reason") else ""
    lines.append(f"Status: {head['status']}{reason}; epochs planned {head.get('epochs_planned', 0)} of 200.")
    lines.append(f"Paper's numbers: {head.get('source', 'official README')}.")
    if head.get("methods"):
        lines += [
            "",
            "| optimiser | epochs reached | test error % | paper test error % (200 epochs) |",
            "|---|---|---|---|",
        ]
        for name, m in head["methods"].items():
            err = "-" if m["test_err"] is None else f"{m['test_err']:.2f}"
            paper_err = "-" if m["paper_test_err"] is None else f"{m['paper_test_err']:.2f}"
            lines.append(f"| {name} | {m['epochs_reached']} | {err} | {paper_err} |")
    return "\n".join(lines) + "\n"
