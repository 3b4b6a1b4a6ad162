"""The command line: validation before work, exit codes, the printed verdict, the report."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from icml22dl.cli import main
from icml22dl.papers import PAPERS, get_paper, list_papers
from icml22dl.runner import DEVICES, Claim, ConfigBlock, Criterion, ExperimentConfig, Paper, RunLog, param

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Quadratic(ConfigBlock):
    """A nested block: the problem size and its number of steps."""

    dim: int = param(4, low=1, help="dimension")
    steps: int = param(30, low=1, help="GD steps")


@dataclass(frozen=True)
class BlockConfig(ExperimentConfig):
    lr: float = param(0.5, low=0.0, low_inclusive=False, help="step size")
    mode: str = param("ok", choices=("ok", "slow"), help="a categorical field")
    problem: Quadratic = param(Quadratic(), help="the problem")
    device: str = param("cpu", choices=DEVICES, help="where to compute")


def block_run(config: BlockConfig, seed: int, log: RunLog) -> dict[str, float]:
    target = torch.randn(config.problem.dim, generator=torch.Generator().manual_seed(seed))
    w = torch.zeros_like(target)
    for step in range(config.problem.steps):
        w -= config.lr * (w - target)
        log.metrics(step, loss=0.5 * float(((w - target) ** 2).sum()))
    return {"loss": 0.5 * float(((w - target) ** 2).sum()), "dim": float(config.problem.dim)}


TOY = Paper(
    slug="toy_blocks",
    config_class=BlockConfig,
    presets={"quick": BlockConfig(), "paper": BlockConfig(problem=Quadratic(dim=8, steps=100))},
    run=block_run,
    claim=Claim(
        slug="toy_blocks",
        title="GD converges on a quadratic",
        paper="none",
        statement="the loss goes below 1e-3",
        criteria=(Criterion(id="converges", metric="loss", description="final loss", op="<", threshold=1e-3),),
    ),
    summary=("dim",),
)


@pytest.fixture
def toy(monkeypatch):
    """Register the toy paper with a nested block for one test."""
    monkeypatch.setitem(PAPERS._items, TOY.slug, TOY)
    return TOY


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "toy_blocks", "--set", "lr=-1"], "Config.lr=-1.0 is out of range: must be > 0.0"),
        (["run", "toy_blocks", "--set", "problem.dim=0"], "Config.problem.dim=0 is out of range: must be >= 1"),
        (["run", "toy_blocks", "--set", "problem.depth=2"], "Config.problem has no field 'depth'"),
        (["run", "toy_blocks", "--set", "problem=3"], "Config.problem is a block of fields: set one of"),
        (["run", "toy_blocks", "--set", "mode=fast"], "Config.mode='fast' is not allowed"),
        (["run", "nope"], "unknown paper slug 'nope'"),
        (["run", "toy_blocks", "--seeds", "0-99999999999"], "out of range"),
        (["run", "toy_blocks", "--seeds", "3-1"], "reversed"),
        (["run", "toy_blocks", "--executor", "mpi"], "executor='mpi' is unknown"),
        (["run", "toy_blocks", "--scale", "huge"], "scale='huge' is unknown"),
        (["sweep", "toy_blocks", "--grid", "problem.dim=2,0"], "Config.problem.dim=0 is out of range"),
        (["sweep", "toy_blocks", "--grid", "problem.nope=2"], "Config.problem has no field 'nope'"),
        (["reproduce", "--only", "momentum,nope"], "unknown paper slug 'nope'"),
    ],
)
def test_bad_input_is_rejected_before_any_work(tmp_path, capsys, toy, argv, message):
    assert main([*argv, "--root", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_list_and_show(capsys, toy):
    assert main(["list"]) == 0
    assert "momentum" in capsys.readouterr().out
    assert main(["show", "toy_blocks"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["problem.dim"][1:4] == ["int", "4", ">="]
    assert rows["problem.steps"][1:3] == ["int", "30"]
    assert "lr" in rows and "problem" not in rows
    assert "preset quick (config" in out and "the defaults" in out
    assert "preset paper" in out and "{'problem.dim': 8, 'problem.steps': 100}" in out


@pytest.mark.parametrize("slug", list_papers())
def test_show_lists_every_field_of_every_paper_by_dotted_name(capsys, slug):
    assert main(["show", slug]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    config = get_paper(slug).config_class()
    assert set(config.flat_dict()) <= names
    for preset in get_paper(slug).presets.values():
        assert preset.config_hash() in out


def test_run_prints_per_seed_values_and_verdict_and_exits_by_it(tmp_path, capsys, toy):
    argv = ["run", "toy_blocks", "--seeds", "0-1", "--root", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "loss" in out and "dim" in out and "seed 0" in out and "seed 1" in out
    assert "verdict: REPRODUCED" in out
    # a nested override: recorded in config.json, and failing -> not reproduced, exit 1, table printed anyway
    assert main([*argv, "--set", "problem.steps=1", "--set", "problem.dim=3"]) == 1
    assert "NOT REPRODUCED" in capsys.readouterr().out
    configs = [json.loads(p.read_text())["config"] for p in tmp_path.glob("toy_blocks/*/seed_0/config.json")]
    assert {"dim": 3, "steps": 1} in [c["problem"] for c in configs]


def test_report_command_writes_html(tmp_path, capsys, toy):
    main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--quiet"])
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists()
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_readme_table_is_up_to_date():
    assert main(["readme", "--check", "--repo", str(REPO)]) == 0


def test_readme_commands_name_existing_fields():
    # every `--set FIELD=V` and `--grid FIELD=V1,V2` of the README names a field of that paper's config
    import re
    import shlex

    checked = 0
    for line in (REPO / "README.md").read_text().splitlines():
        if not re.match(r"icml22dl (run|sweep) ", line):
            continue
        words = shlex.split(line.split("#")[0])
        config = get_paper(words[2]).preset("quick")
        for flag, value in zip(words, words[1:]):
            if flag in ("--set", "--grid"):
                config.field_type(value.partition("=")[0])
                checked += 1
            if flag == "--set":
                config.with_overrides([value])
    assert checked >= 4


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "icml22dl.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "icml22dl" in out.stdout


def test_sweep_dry_run_lists_runs_then_sweep_runs_them(tmp_path, capsys, toy):
    argv = ["sweep", "toy_blocks", "--grid", "problem.dim=2,3", "--seeds", "0-1", "--root", str(tmp_path), "--quiet"]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "problem.dim=2" in out and "4 to run, 0 done" in out
    assert not (tmp_path / "toy_blocks").exists()
    main(argv)
    out = capsys.readouterr().out
    assert out.count("verdict: ") == 2 and (tmp_path / "claims.csv").exists()
    assert main([*argv, "--dry-run"]) == 0
    assert "0 to run, 4 done" in capsys.readouterr().out


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_flag_sets_the_device_of_configs_that_have_one(tmp_path, toy, device):
    main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--device", device, "--quiet"])
    (result,) = tmp_path.glob("toy_blocks/*/seed_0/result.json")
    data = json.loads(result.read_text())
    assert data["config"]["device"] == device and data["device_requested"] == device
    assert data["device"] == "cpu"  # the toy computes on the CPU whatever it asks for


def test_device_flag_leaves_cpu_only_papers_alone_and_says_so(tmp_path, capsys, monkeypatch):
    from tests.runner import toy_paper

    monkeypatch.setitem(PAPERS._items, "toy", toy_paper.PAPER)
    argv = ["run", "toy", "--seeds", "0", "--root", str(tmp_path), "--quiet", "--set", "steps=2"]
    main([*argv, "--device", "cuda"])
    assert "toy computes on the CPU only; --device does not apply" in capsys.readouterr().err
    (result,) = tmp_path.glob("toy/*/seed_0/result.json")
    data = json.loads(result.read_text())
    assert "device" not in data["config"] and data["device"] == "cpu" and data["device_requested"] is None


def test_missing_extra_names_the_pip_extra(tmp_path, capsys, monkeypatch, toy):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--executor", "ray", "--quiet"]) == 2
    assert "pip install 'icml22dl[ray]'" in capsys.readouterr().err


def test_bad_executor_option_is_rejected(tmp_path, capsys):
    assert main(["run", "momentum", "--root", str(tmp_path), "--executor-opt", "cluster"]) == 2
    assert "expected key=value" in capsys.readouterr().err
