"""The command line: validation before work, exit codes, the printed verdict, the report."""

import subprocess
import sys
from pathlib import Path

import pytest

from icml22dl.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "momentum", "--set", "lr=-1"], "Config.lr=-1.0 is out of range: must be > 0.0"),
        (["run", "nope"], "unknown paper slug 'nope'"),
        (["run", "momentum", "--seeds", "0-99999999999"], "out of range"),
        (["run", "momentum", "--seeds", "3-1"], "reversed"),
        (["run", "momentum", "--executor", "mpi"], "executor='mpi' is unknown"),
        (["run", "momentum", "--scale", "huge"], "scale='huge' is unknown"),
        (["run", "momentum", "--set", "momentum=1.0"], "Config.momentum=1.0 is out of range: must be >= 0.0 and < 1.0"),
        (["run", "momentum", "--set", "task=imagenet"], "Config.task='imagenet' is not allowed"),
        (["reproduce", "--only", "momentum,nope"], "unknown paper slug 'nope'"),
    ],
)
def test_bad_input_is_rejected_before_any_work(tmp_path, capsys, argv, message):
    assert main([*argv, "--root", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_list_and_show(capsys):
    assert main(["list"]) == 0
    assert "momentum" in capsys.readouterr().out
    assert main(["show", "momentum"]) == 0
    out = capsys.readouterr().out
    assert "lr" in out and "preset paper" in out


def test_run_prints_per_seed_values_and_verdict_and_exits_by_it(tmp_path, capsys):
    argv = ["run", "momentum", "--seeds", "0", "--root", str(tmp_path), "--quiet", "--set", "iterations=150"]
    code = main(argv)
    out = capsys.readouterr().out
    assert "gd_z2_test_acc" in out and "gdm_z2_test_acc" in out and "seed 0" in out
    verdict = out.split("verdict: ")[1].split()[0].lower()
    assert code == (0 if verdict == "reproduced" else 1)
    # failing config: no momentum -> not reproduced, exit 1, table printed anyway
    assert main([*argv, "--set", "momentum=0.0"]) == 1
    assert "NOT REPRODUCED" in capsys.readouterr().out


def test_report_command_writes_html(tmp_path, capsys):
    main(["run", "momentum", "--seeds", "0", "--root", str(tmp_path), "--quiet", "--set", "iterations=20"])
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists()
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_readme_table_is_up_to_date():
    assert main(["readme", "--check", "--repo", str(REPO)]) == 0


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "icml22dl.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "icml22dl" in out.stdout


SMALL = ["--quiet", "--set", "iterations=20", "--set", "test_size=200"]


def test_sweep_dry_run_lists_runs_then_sweep_runs_them(tmp_path, capsys):
    argv = ["sweep", "momentum", "--grid", "lr=0.5,1.0", "--seeds", "0-1", "--root", str(tmp_path), *SMALL]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "lr=0.5" in out and "4 to run, 0 done" in out
    assert not (tmp_path / "momentum").exists()
    main(argv)
    out = capsys.readouterr().out
    assert out.count("verdict: ") == 2 and (tmp_path / "claims.csv").exists()
    assert main([*argv, "--dry-run"]) == 0
    assert "0 to run, 4 done" in capsys.readouterr().out


def test_bad_grid_is_rejected_before_work(tmp_path, capsys):
    assert main(["sweep", "momentum", "--grid", "lr=1.0,-1", "--root", str(tmp_path)]) == 2
    assert "Config.lr=-1.0 is out of range" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_flag_sets_every_config_device(tmp_path, device):
    import json

    main(["run", "momentum", "--seeds", "0", "--root", str(tmp_path), "--device", device, *SMALL])
    (result,) = tmp_path.glob("momentum/*/seed_0/result.json")
    data = json.loads(result.read_text())
    assert data["config"]["device"] == device and data["device"] == "cpu"  # no CUDA here


def test_missing_extra_names_the_pip_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["run", "momentum", "--seeds", "0", "--root", str(tmp_path), "--executor", "ray", *SMALL]) == 2
    assert "pip install 'icml22dl[ray]'" in capsys.readouterr().err


def test_bad_executor_option_is_rejected(tmp_path, capsys):
    assert main(["run", "momentum", "--root", str(tmp_path), "--executor-opt", "cluster"]) == 2
    assert "expected key=value" in capsys.readouterr().err
