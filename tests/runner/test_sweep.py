import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from icml22dl.runner import RunDir
from icml22dl.runner.sweep import changed_fields, parse_grid, plan_sweep, run_sweep
from tests.runner import toy_paper
from tests.runner.extras import require

REPO = Path(__file__).resolve().parents[2]


def test_grid_is_the_cartesian_product_and_validated():
    configs = parse_grid(toy_paper.Config(), ["lr=0.1,0.2", "steps=5,6,7"])
    assert len(configs) == 6 and {(c.lr, c.steps) for c in configs} == {(a, b) for a in (0.1, 0.2) for b in (5, 6, 7)}
    assert [c.sizes for c in parse_grid(toy_paper.Config(), ["sizes=1,2;3"])] == [(1, 2), (3,)]
    assert changed_fields(configs[0]) == {"steps": 5}
    with pytest.raises(ValueError, match="Config.lr=-0.2 is out of range"):
        parse_grid(toy_paper.Config(), ["lr=0.1,-0.2"])
    with pytest.raises(ValueError, match="has no field 'nope'"):
        parse_grid(toy_paper.Config(), ["nope=1"])
    with pytest.raises(ValueError, match="names a field twice"):
        parse_grid(toy_paper.Config(), ["lr=0.1", "lr=0.2"])


def sweep_metrics(root, configs, seeds):
    return {
        (c.config_hash(), s): RunDir(root, "toy", c.config_hash(), s).load_result()["metrics"]["loss"]
        for c in configs
        for s in seeds
    }


GRID = ["lr=0.1,0.3"]


def test_serial_sweep_judges_every_point_and_plan_reports_done(tmp_path):
    configs = parse_grid(toy_paper.Config(steps=5), GRID)
    assert len(plan_sweep(toy_paper.PAPER, configs, [0, 1], tmp_path, "quick").todo) == 4
    records = run_sweep(toy_paper.PAPER, configs, [0, 1], tmp_path, "quick", quiet=True)
    assert [r["config_hash"] for r in records] == [c.config_hash() for c in configs]
    assert all(sorted(r["computed_seeds"]) == [0, 1] for r in records)
    assert len(plan_sweep(toy_paper.PAPER, configs, [0, 1], tmp_path, "quick").done) == 4


@pytest.mark.slow
@pytest.mark.parametrize("executor, options", [("submitit", {"cluster": "local"}), ("ray", {})])
def test_cluster_executors_match_serial(tmp_path, executor, options):
    require({"submitit": "submitit", "ray": "ray"}[executor])
    configs = parse_grid(toy_paper.Config(steps=5), GRID)
    run_sweep(toy_paper.PAPER, configs, [0, 1], tmp_path / "serial", "quick", quiet=True)
    started = time.perf_counter()
    records = run_sweep(
        toy_paper.PAPER,
        configs,
        [0, 1],
        tmp_path / executor,
        "quick",
        executor=executor,
        workers=2,
        quiet=True,
        options=options,
    )
    print(f"{executor}: 2 points x 2 seeds in {time.perf_counter() - started:.1f} s")
    assert all(sorted(r["computed_seeds"]) == [0, 1] for r in records)
    assert sweep_metrics(tmp_path / executor, configs, [0, 1]) == sweep_metrics(tmp_path / "serial", configs, [0, 1])
    pids = {
        RunDir(tmp_path / executor, "toy", c.config_hash(), s).load_result()["metrics"]["pid"]
        for c in configs
        for s in (0, 1)
    }
    assert os.getpid() not in pids  # computed elsewhere


SWEEP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    from tests.runner import toy_paper
    from icml22dl.runner.sweep import parse_grid, run_sweep
    configs = parse_grid(toy_paper.Config(sleep={sleep}), {grid!r})
    records = run_sweep(toy_paper.PAPER, configs, [0, 1, 2], {root!r}, "quick", quiet=True)
    json.dump([[r["config_hash"], s] for r in records for s in r["computed_seeds"]], open({out!r}, "w"))
    """
)


def start_sweep(root, out, sleep=0.03):
    script = SWEEP_SCRIPT.format(repo=str(REPO), sleep=sleep, grid=GRID, root=str(root), out=str(out))
    return subprocess.Popen([sys.executable, "-c", script])


@pytest.mark.slow
def test_two_concurrent_sweeps_compute_each_run_once(tmp_path):
    first, second = start_sweep(tmp_path, tmp_path / "a.json"), start_sweep(tmp_path, tmp_path / "b.json")
    assert first.wait(120) == 0 and second.wait(120) == 0
    a = {tuple(x) for x in json.loads((tmp_path / "a.json").read_text())}
    b = {tuple(x) for x in json.loads((tmp_path / "b.json").read_text())}
    assert not a & b, f"computed twice: {a & b}"
    assert len(a | b) == 6


@pytest.mark.slow
def test_killed_sweep_is_finished_by_another_executor(tmp_path):
    proc = start_sweep(tmp_path, tmp_path / "a.json", sleep=0.05)
    configs = parse_grid(toy_paper.Config(sleep=0.05), GRID)
    runs = [RunDir(tmp_path, "toy", c.config_hash(), s) for c in configs for s in (0, 1, 2)]
    deadline = time.time() + 60
    while sum(r.is_done() for r in runs) < 2 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {(r.config_hash, r.seed) for r in runs if r.is_done()}
    assert 2 <= len(done) < 6
    records = run_sweep(
        toy_paper.PAPER, configs, [0, 1, 2], tmp_path, "quick", executor="process", workers=2, quiet=True
    )
    computed = {(r["config_hash"], s) for r in records for s in r["computed_seeds"]}
    assert computed == {(r.config_hash, r.seed) for r in runs} - done
