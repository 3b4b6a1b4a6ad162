import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, run_claim
from tests.runner import toy_paper


def metrics_of(root, config, seed):
    return RunDir(Path(root), "toy", config.config_hash(), seed).load_result()["metrics"]


def test_claim_over_seeds_writes_results_and_verdict(tmp_path):
    config = toy_paper.Config()
    record = run_claim(toy_paper.PAPER, config, [0, 1], tmp_path, "quick", quiet=True)
    assert record["verdict"] == REPRODUCED
    assert record["computed_seeds"] == [0, 1]
    claim_dir = tmp_path / "toy" / config.config_hash()
    assert json.loads((claim_dir / "claim.json").read_text())["verdict"] == REPRODUCED
    result = json.loads((claim_dir / "seed_0" / "result.json").read_text())
    assert result["status"] == "ok" and result["threads"] == 1 and result["torch_version"]
    assert {"wall_time_s", "cpu_time_s", "library_version", "device", "config"} <= set(result)
    lines = (claim_dir / "seed_0" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == config.steps


def test_a_failing_claim_is_reported_as_such(tmp_path):
    record = run_claim(toy_paper.PAPER, toy_paper.Config(steps=1, lr=0.01), [0], tmp_path, "quick", quiet=True)
    assert record["verdict"] == NOT_REPRODUCED


def test_same_seed_gives_identical_metrics(tmp_path):
    config = toy_paper.Config()
    run_claim(toy_paper.PAPER, config, [5], tmp_path / "a", "quick", quiet=True)
    run_claim(toy_paper.PAPER, config, [5], tmp_path / "b", "quick", quiet=True)
    a, b = metrics_of(tmp_path / "a", config, 5), metrics_of(tmp_path / "b", config, 5)
    assert a["loss"] == b["loss"] and a["draw"] == b["draw"]
    run_claim(toy_paper.PAPER, config, [6], tmp_path / "a", "quick", quiet=True)
    assert metrics_of(tmp_path / "a", config, 6)["draw"] != a["draw"]


def test_finished_runs_are_never_recomputed(tmp_path):
    config = toy_paper.Config()
    run_claim(toy_paper.PAPER, config, [0], tmp_path, "quick", quiet=True)
    result_file = RunDir(tmp_path, "toy", config.config_hash(), 0).result_file
    before = result_file.read_bytes()
    record = run_claim(toy_paper.PAPER, config, [0, 1], tmp_path, "quick", quiet=True)
    assert record["computed_seeds"] == [1]
    assert result_file.read_bytes() == before


def test_divergence_is_recorded_not_raised(tmp_path):
    record = run_claim(toy_paper.PAPER, toy_paper.Config(mode="diverge"), [0, 1], tmp_path, "quick", quiet=True)
    assert record["statuses"] == {"0": "diverged", "1": "diverged"}
    assert record["verdict"] == "inconclusive"


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_non_finite_training_loss_is_recorded_as_diverged(tmp_path, executor):
    config = toy_paper.Config(mode="nonfinite")
    record = run_claim(toy_paper.PAPER, config, [0, 1], tmp_path, "quick", executor=executor, workers=2, quiet=True)
    assert record["statuses"] == {"0": "diverged", "1": "diverged"}
    assert record["verdict"] == "inconclusive"
    result = RunDir(tmp_path, "toy", config.config_hash(), 0).load_result()
    assert result["status"] == "diverged"
    assert result["error"] == "the training loss is nan at step 3"
    assert result["metrics"] == {"diverged_step": 3.0}
    assert RunDir(tmp_path, "toy", config.config_hash(), 0).is_done()  # never recomputed


def test_result_records_the_device_the_run_used(tmp_path, monkeypatch):
    from icml22dl.runner import runs

    config = toy_paper.Config(steps=2)
    run_claim(toy_paper.PAPER, config, [0], tmp_path / "cpu", "quick", quiet=True)
    result = RunDir(tmp_path / "cpu", "toy", config.config_hash(), 0).load_result()
    assert result["device"] == "cpu" and result["device_requested"] is None  # the toy config has no device field

    # a run that allocates CUDA memory (simulated: the allocation counter grows during the run)
    counter = iter(range(0, 100, 10))
    monkeypatch.setattr(runs, "cuda_allocations", lambda: next(counter))
    run_claim(toy_paper.PAPER, config, [0], tmp_path / "gpu", "quick", quiet=True)
    assert RunDir(tmp_path / "gpu", "toy", config.config_hash(), 0).load_result()["device"] == "cuda"


def test_a_config_asking_for_cuda_but_computing_on_the_cpu_records_cpu(tmp_path):
    import dataclasses

    from icml22dl.runner import DEVICES, Paper, param

    @dataclasses.dataclass(frozen=True)
    class CudaConfig(toy_paper.Config):
        device: str = param("cuda", choices=DEVICES, help="ignored by the toy run")

    paper = Paper("toy", CudaConfig, {"quick": CudaConfig(), "paper": CudaConfig()}, toy_paper.run, toy_paper.CLAIM)
    config = CudaConfig(steps=2)
    run_claim(paper, config, [0], tmp_path, "quick", quiet=True)
    result = RunDir(tmp_path, "toy", config.config_hash(), 0).load_result()
    assert result["device"] == "cpu" and result["device_requested"] == "cuda"


def test_process_executor_matches_serial(tmp_path):
    config = toy_paper.Config()
    run_claim(toy_paper.PAPER, config, [0, 1], tmp_path / "s", "quick", quiet=True)
    run_claim(toy_paper.PAPER, config, [0, 1], tmp_path / "p", "quick", executor="process", workers=2, quiet=True)
    for seed in (0, 1):
        assert metrics_of(tmp_path / "s", config, seed)["loss"] == metrics_of(tmp_path / "p", config, seed)["loss"]
    assert metrics_of(tmp_path / "p", config, 0)["pid"] != os.getpid()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seeds=[-1]), "seed=-1"),
        (dict(seeds=[]), "seeds is empty"),
        (dict(executor="cluster"), "executor='cluster'"),
        (dict(scale="huge"), "scale='huge'"),
        (dict(threads=0), "threads=0"),
    ],
)
def test_bad_arguments_are_rejected_before_any_work(tmp_path, kwargs, message):
    args = dict(seeds=[0], executor="serial", scale="quick")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        run_claim(
            toy_paper.PAPER, toy_paper.Config(), args.pop("seeds"), tmp_path, args.pop("scale"), quiet=True, **args
        )
    assert not (tmp_path / "toy").exists()


SWEEP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from tests.runner import toy_paper
    from icml22dl.runner import run_claim
    run_claim(toy_paper.PAPER, toy_paper.Config(sleep=0.05), [0, 1, 2, 3], {root!r}, "quick", quiet=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_computes_only_unfinished_seeds(tmp_path):
    config = toy_paper.Config(sleep=0.05)  # 20 steps x 0.05 s = 1 s per seed
    script = SWEEP.format(repo=str(Path(__file__).resolve().parents[2]), root=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script])
    first = RunDir(tmp_path, "toy", config.config_hash(), 0)
    deadline = time.time() + 60
    while not first.is_done() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.is_done()
    done_before = {s for s in range(4) if RunDir(tmp_path, "toy", config.config_hash(), s).is_done()}
    assert done_before != {0, 1, 2, 3}, "the sweep finished before the kill"
    kept = {s: RunDir(tmp_path, "toy", config.config_hash(), s).result_file.read_bytes() for s in done_before}

    record = run_claim(toy_paper.PAPER, config, [0, 1, 2, 3], tmp_path, "quick", quiet=True)
    assert set(record["computed_seeds"]) == {0, 1, 2, 3} - done_before
    for seed, data in kept.items():
        assert RunDir(tmp_path, "toy", config.config_hash(), seed).result_file.read_bytes() == data
    assert record["verdict"] == REPRODUCED
