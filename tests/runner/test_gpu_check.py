"""Tests of icml22dl.runner.gpu_check: bounded probes, the budget, the summaries and the CLI command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, RunLog, param
from icml22dl.runner.gpu_check import (
    HEADLINE,
    StepTimer,
    StopProbe,
    _headline_methods,
    _headline_plan,
    render_markdown,
    run_gpu_check,
)
from icml22dl.train import STEP_HOOK, fit


@dataclass(frozen=True)
class Config(ExperimentConfig):
    mode: str = param("fit", choices=("fit", "loop", "hang", "fail", "short", "headline"), help="what it does")
    epochs: int = param(1000, low=1, help="epochs of the fit call")
    amp: bool = param(False, help="autocast on CUDA")
    device: str = param("cpu", choices=("cpu", "cuda", "auto"), help="where to compute")


def _run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    if config.mode == "fail":
        raise RuntimeError("a bug in the toy")
    if config.mode == "hang":  # no step the probe can see: killed at the end of its share
        time.sleep(120)
    if config.mode == "loop":
        for _ in log.progress(range(10_000), total=10_000):
            time.sleep(0.01)
        return {"loss": 0.0}
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 4, generator=gen), torch.randint(0, 2, (64,), generator=gen)
    model = torch.nn.Linear(4, 2)
    epochs = 2 if config.mode == "short" else config.epochs

    def on_epoch(epoch: int, result: object) -> None:  # the adai paper's per-epoch record
        if config.mode == "headline":
            log.metrics(epoch, **{f"{name}/test_err": 0.5 / epoch for name in ("adai", "sgdm")})

    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=epochs, batch_size=16, generator=gen,
        on_epoch=on_epoch)  # fmt: skip
    return {"loss": 0.0}


def _paper(slug: str, **paper: object) -> Paper:
    claim = Claim(
        slug=slug,
        title="t",
        paper="none",
        statement="s",
        criteria=(Criterion(id="c", metric="loss", description="d", op="<", threshold=1.0),),
    )
    return Paper(slug, Config, {"quick": Config(), "paper": Config(**paper)}, _run, claim)  # type: ignore[arg-type]


def test_step_timer_stops_before_a_step_that_would_pass_the_deadline() -> None:
    timer = StepTimer(deadline=time.perf_counter() + 0.05)
    with pytest.raises(StopProbe, match="time is up"):
        for done in range(1000):
            timer(done, 1, 1000)
            time.sleep(0.01)
    assert time.perf_counter() <= timer.deadline + 0.02  # stopped before passing it, by about one step
    assert 2 <= len(timer.durations) <= 6


def test_fit_calls_the_step_hook_before_each_step_and_after_the_last() -> None:
    calls: list[tuple[int, int, int]] = []
    token = STEP_HOOK.set(lambda *args: calls.append(args))
    try:
        model = torch.nn.Linear(2, 2)
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.randn(10, 2), torch.zeros(10).long(), epochs=2,
            batch_size=4, generator=torch.Generator())  # fmt: skip
    finally:
        STEP_HOOK.reset(token)
    assert calls == [(0, 2, 3), (1, 2, 3), (2, 2, 3), (3, 2, 3), (4, 2, 3), (5, 2, 3), (6, 2, 0)]


def test_headline_plan_fits_whole_epochs_or_says_why_not() -> None:
    probe = {"s_per_step": 0.01, "unit": "step", "setup_s": 10.0, "fits": [{"epochs": 200, "steps_per_epoch": 391}]}
    epochs, reason = _headline_plan(probe, left=1000.0)
    epoch_s = 1.25 * 0.01 * 391  # each of the four optimisers
    assert reason is None and epochs == int((900 - 10) // (4 * epoch_s))
    assert _headline_plan(probe, left=20.0)[0] == 0
    assert "one epoch of 4 optimisers" in str(_headline_plan(probe, left=20.0)[1])
    assert _headline_plan({"status": "missing data", "reason": "x"}, left=1e6) == (
        0,
        "the adai probe measured no step time (status missing data: x)",
    )
    assert _headline_plan(probe, left=1e9)[0] == HEADLINE["paper_epochs"]


def test_headline_methods_read_epochs_and_errors_from_the_metrics_log(tmp_path: Path) -> None:
    log = tmp_path / "m.jsonl"
    log.write_text('{"step": 1, "adai/test_err": 0.5}\n{"step": 2, "adai/test_err": 0.25}\n{"step": 1, "sgdm/te')
    methods = _headline_methods(log)
    assert methods["adai"] == {"epochs_reached": 2, "test_err": 25.0, "paper_test_err": 4.74}
    assert methods["sgdm"]["epochs_reached"] == 0 and methods["adam"]["paper_test_err"] == 6.53


def test_run_gpu_check_stays_in_its_budget_with_one_row_per_paper(tmp_path: Path) -> None:
    papers = [
        _paper("fits"),
        _paper("loops", mode="loop"),
        _paper("hangs", mode="hang"),
        _paper("fails", mode="fail"),
        _paper("nodata"),
        _paper("short", mode="short", amp=True),
    ]
    started = time.perf_counter()
    result = run_gpu_check(
        papers,
        budget=8.0,
        device="cpu",
        out=tmp_path,
        max_steps=None,
        missing_data=lambda slug: "no files" if slug == "nodata" else None,
    )
    wall = time.perf_counter() - started
    assert wall <= 8.0, wall
    rows = {row["slug"]: row for row in result.papers}
    assert list(rows) == [p.slug for p in papers]
    assert rows["fits"]["status"] == "probed" and rows["fits"]["steps"] > 10
    assert rows["fits"]["full_steps"] == 1000 * 4 and rows["fits"]["projected_s"] > 0
    assert rows["loops"]["unit"] == "iteration" and rows["loops"]["full_steps"] == 10_000
    assert rows["loops"]["s_per_step"] == pytest.approx(0.01, rel=0.5)  # sleep(0.01) per iteration
    assert rows["hangs"]["status"] == "killed" and rows["hangs"].get("projected_s") is None
    assert rows["hangs"]["peak_memory_bytes"] > 0  # read from /proc before the kill
    assert rows["fails"]["status"] == "failed" and "a bug in the toy" in rows["fails"]["reason"]
    assert rows["nodata"]["status"] == "missing data"
    assert rows["short"]["status"] == "finished" and rows["short"]["amp"] is True and rows["short"]["steps"] == 8
    assert rows["fits"]["peak_memory_bytes"] > 0
    assert result.summary["headline"]["status"] == "skipped"  # no adai paper among these
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [row["slug"] for row in summary["papers"]] == list(rows)
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert sum(line.startswith(("| fits ", "| loops ", "| hangs ", "| fails ", "| nodata ", "| short ")) for line
               in markdown.splitlines()) == 6  # fmt: skip
    assert "no projection" in markdown and ">= " in markdown


def test_max_steps_bounds_a_probe(tmp_path: Path) -> None:
    result = run_gpu_check([_paper("fits")], budget=30.0, device="auto", out=tmp_path, max_steps=5)
    assert result.papers[0]["steps"] == 5 and result.papers[0]["reason"] == "5 steps probed"
    assert result.summary["device_requested"] == "auto"  # resolved in a forked process, never in this one
    assert result.papers[0]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert result.summary["wall_s"] < 15  # the probe stopped early; the rest of the share is not waited for


def test_the_headline_runs_the_epochs_that_fit_and_reads_their_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(HEADLINE, "epochs_field", "epochs")  # the toy's field (the adai paper's: cifar.epochs)
    monkeypatch.setitem(HEADLINE, "paper_epochs", 7)  # at most this many epochs
    result = run_gpu_check([_paper("adai", mode="headline")], budget=20.0, device="cpu", out=tmp_path, max_steps=5)
    head = result.summary["headline"]
    assert head["status"] == "finished" and head["epochs_planned"] == 7, head
    assert head["methods"]["adai"] == {"epochs_reached": 7, "test_err": pytest.approx(50 / 7), "paper_test_err": 4.74}
    assert head["methods"]["adam"]["epochs_reached"] == 0  # the toy logs no Adam
    assert "| adai | 7 | 7.14 | 4.74 |" in result.markdown_path.read_text()


def test_render_markdown_reports_the_headline_beside_the_paper() -> None:
    head = {
        "status": "finished",
        "reason": None,
        "epochs_planned": 3,
        "methods": {"adai": {"epochs_reached": 3, "test_err": 20.0, "paper_test_err": 4.74}},
    }
    text = render_markdown({"budget_s": 60, "wall_s": 1.0, "device": "cpu", "papers": [], "headline": head})
    assert "| adai | 3 | 20.00 | 4.74 |" in text and "epochs planned 3 of 200" in text


def test_bad_budget_and_missing_cuda_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="budget"):
        run_gpu_check([], budget=0.0, out=tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            run_gpu_check([], budget=5.0, device="cuda", out=tmp_path)


def test_cli_rejects_a_bad_budget_in_one_line(tmp_path: Path) -> None:
    from icml22dl.cli import main

    assert main(["gpu-check", "--budget", "-1", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
@pytest.mark.requires_data("mnist", "cifar10", "cora", "citeseer", "england-covid")
def test_cli_gpu_check_on_the_cpu_within_budget(tmp_path: Path) -> None:
    budget, start_up = 20, 15  # start-up: the interpreter, torch and the papers' imports
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "icml22dl.cli", "gpu-check", "--device", "cpu", "--budget", str(budget)]
    started = time.perf_counter()
    done = subprocess.run([*command, "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert wall <= budget + start_up, wall
    from icml22dl.paper_index import PRESETS

    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert sorted(row["slug"] for row in summary["papers"]) == sorted(PRESETS)
    assert summary["wall_s"] <= budget
    markdown = (tmp_path / "gpu_check.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith(tuple(f"| {slug} | paper |" for slug in PRESETS))]
    assert len(rows) == len(PRESETS) == 15
