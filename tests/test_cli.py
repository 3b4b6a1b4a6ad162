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


# --- clean exits: 2 and one line for input and file-system problems, 130 on Ctrl-C, 3 for a bug ---


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("icml22dl: error: ")
    return lines[0]


def _with_run(paper, run):
    import dataclasses

    return dataclasses.replace(paper, run=run)


def test_parse_errors_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: slug" in _one_error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "momentum", "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tpu'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "toy_blocks", "--set", "lr=-1"],
        ["run", "toy_blocks", "--set", "nonsense"],
        ["run", "nope"],
        ["show", "nope"],
        ["run", "toy_blocks", "--scale", "huge"],
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, capsys, toy, argv):
    assert main([*argv, *(["--root", str(tmp_path)] if argv[0] == "run" else [])]) == 2
    _one_error_line(capsys.readouterr().err)


def test_root_that_is_a_file_exits_2_before_any_work(tmp_path, capsys, toy):
    root = tmp_path / "results.txt"
    root.write_text("a file")
    for target in (root, root / "below"):
        assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(target), "--quiet"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert "is a file, not a directory" in line and str(target) in line
    assert root.read_text() == "a file"
    assert main(["report", str(root)]) == 2
    assert "is a file, not a directory" in _one_error_line(capsys.readouterr().err)
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "does not exist" in _one_error_line(capsys.readouterr().err)


def test_unwritable_root_exits_2_before_any_work(tmp_path, capsys, toy, monkeypatch):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != tmp_path and real_access(path, mode))
    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path / "results"), "--quiet"]) == 2
    assert "is not writable" in _one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0, reason="root writes")
def test_read_only_root_exits_2(tmp_path, capsys, toy):
    tmp_path.chmod(0o500)
    try:
        assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path / "r"), "--quiet"]) == 2
    finally:
        tmp_path.chmod(0o700)
    assert "is not writable" in _one_error_line(capsys.readouterr().err)


def test_file_system_error_during_a_run_exits_2(tmp_path, capsys, toy, monkeypatch):
    # e.g. a full disk or a root made read-only mid-run: the OS error in one line, not a traceback
    def no_space(config, seed, log):
        raise OSError(28, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setitem(PAPERS._items, "toy_blocks", _with_run(toy, no_space))
    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--quiet"]) == 2
    assert "No space left on device" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "flags, module, extra",
    [
        (["--executor", "ray"], "ray", "ray"),
        (["--executor", "submitit"], "submitit", "slurm"),
        (["--track", "mlflow"], "mlflow", "track"),
        (["--track", "tensorboard"], "torch.utils.tensorboard", "track"),
    ],
)
def test_missing_extra_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch, toy, flags, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--quiet", *flags]) == 2
    assert f"pip install 'icml22dl[{extra}]'" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("error", ["checksum", "missing"])
def test_missing_or_corrupt_data_exits_2_in_one_line(tmp_path, capsys, monkeypatch, toy, error):
    from icml22dl.data.checksums import ChecksumError

    def bad_data(config, seed, log):
        if error == "checksum":
            raise ChecksumError("mnist/train-images-idx3-ubyte.gz", ["ab" * 32], "cd" * 32)
        raise FileNotFoundError(2, "No such file or directory", "/data/mnist/train-images-idx3-ubyte.gz")

    monkeypatch.setitem(PAPERS._items, "toy_blocks", _with_run(toy, bad_data))
    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "mnist/train-images-idx3-ubyte.gz" in line
    assert ("checksum mismatch" in line) if error == "checksum" else ("No such file or directory" in line)


def test_ctrl_c_exits_130_in_one_line_and_leaves_no_result(tmp_path, capsys, monkeypatch, toy):
    def interrupted(config, seed, log):
        log.metrics(0, loss=1.0)
        if seed == 1:
            raise KeyboardInterrupt
        return block_run(config, seed, log)

    monkeypatch.setitem(PAPERS._items, "toy_blocks", _with_run(toy, interrupted))
    argv = ["run", "toy_blocks", "--seeds", "0-1", "--root", str(tmp_path), "--quiet"]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interrupted" in err and "Traceback" not in err
    (claim_dir,) = (tmp_path / "toy_blocks").iterdir()
    assert (claim_dir / "seed_0" / "result.json").exists()  # the finished seed is kept
    assert not (claim_dir / "seed_1" / "result.json").exists()
    assert [p.name for p in (claim_dir / "seed_1").iterdir() if p.suffix == ".tmp"] == []
    assert not (claim_dir / "claim.json").exists()
    monkeypatch.setitem(PAPERS._items, "toy_blocks", toy)  # resume: only seed 1 is computed
    assert main(argv) == 0
    assert json.loads((claim_dir / "claim.json").read_text())["computed_seeds"] == [1]


def test_a_bug_exits_3_with_its_traceback_never_1(tmp_path, capsys, monkeypatch, toy):
    def buggy(config, seed, log):
        raise RuntimeError("a bug in the paper's run")

    monkeypatch.setitem(PAPERS._items, "toy_blocks", _with_run(toy, buggy))
    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug in the paper's run" in err and "internal error" in err


# --- fast --help and list: no torch, no paper imported ---


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["run", "--help"], ["--version"]])
def test_help_and_list_import_no_torch(argv):
    code = (
        "import sys\nfrom icml22dl.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('icml22dl.papers'))\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr, out.stderr
    assert out.stdout.strip()


def test_list_shows_every_registered_paper_title_and_presets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for slug in list_papers():
        paper = get_paper(slug)
        (line,) = [line for line in out.splitlines() if line.split()[0] == slug]
        assert paper.title in line and line.endswith(", ".join(paper.presets))


def test_parser_constants_are_the_runners():
    from icml22dl import cli
    from icml22dl.runner import EXECUTORS, SCALES

    assert (cli.SCALES, cli.EXECUTORS, cli.DEVICES) == (SCALES, EXECUTORS, DEVICES)


def _all_parsers(parser):
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action._choices_actions  # the one-line help of each subcommand
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_help_texts_carry_no_restructuredtext_markup():
    from icml22dl.cli import _parser

    texts = []
    for item in _all_parsers(_parser()):
        texts += [getattr(item, "description", None), getattr(item, "help", None), getattr(item, "epilog", None)]
        texts += [action.help for action in getattr(item, "_actions", [])]
    texts = [t for t in texts if isinstance(t, str)]
    assert len(texts) > 40
    for markup in ("``", ":func:", ":class:", ":meth:", ":mod:", ":data:", ":attr:"):
        assert not [t for t in texts if markup in t], markup


@pytest.mark.parametrize("slug", list_papers())
def test_show_prints_the_claim_and_every_criterion(capsys, slug):
    assert main(["show", slug]) == 0
    out = capsys.readouterr().out
    claim = get_paper(slug).claim
    assert " ".join(claim.statement.split()) in " ".join(out.split())
    rows = {line.split()[0]: line.split() for line in out.split("why each bar:")[0].splitlines() if line.strip()}
    whys = out.split("why each bar:")[1]
    for c in claim.criteria:
        row = rows[c.id]
        assert row[1:4] == [c.metric, c.op, f"{c.threshold:.4g}"], row
        assert row[-3:] == [c.reduce, ",".join(c.scales), "yes" if c.informational else "no"], row
        assert f"  {c.id}: {' '.join(c.why.split()) or '-'}" in whys


# --- provenance and version ---


def test_results_and_claims_record_version_and_git_commit_and_the_report_shows_them(tmp_path, toy):
    from icml22dl import __version__
    from icml22dl.runner.runs import git_commit

    assert main(["run", "toy_blocks", "--seeds", "0", "--root", str(tmp_path), "--quiet"]) == 0
    (result_file,) = tmp_path.glob("toy_blocks/*/seed_0/result.json")
    result, claim = json.loads(result_file.read_text()), json.loads((result_file.parents[1] / "claim.json").read_text())
    commit = git_commit()
    for record in (result, claim):
        assert record["library_version"] == __version__ and record["git_commit"] == commit
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert f"judged by icml22dl {__version__}" in page
    assert (f"commit {commit[:12]}" if commit else "no git commit recorded") in page


def test_version_has_one_source():
    import tomllib

    from icml22dl import __version__

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "icml22dl.__version__"}
    assert __version__ == "0.2.0"
    citation = (REPO / "CITATION.cff").read_text()
    assert f"version: {__version__}\n" in citation or f'version: "{__version__}"\n' in citation
    assert f"## {__version__} " in (REPO / "CHANGELOG.md").read_text()
