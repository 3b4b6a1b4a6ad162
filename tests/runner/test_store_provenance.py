"""Provenance in run records (git commit, -dirty, None outside a checkout) and no partial result.json."""

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from icml22dl.runner.runs import RunTask, git_commit, run_claim, run_one
from icml22dl.runner.store import write_json_atomic
from tests.runner import toy_paper

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", "-C", str(repo), *env_args, *args], capture_output=True, text=True, check=True).stdout


@needs_git
def test_git_commit_of_a_checkout_with_dirty_flag(tmp_path):
    package = tmp_path / "src" / "icml22dl"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0"\n')
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD").strip()
    assert git_commit(package) == head and len(head) == 40
    (tmp_path / "notes.txt").write_text("untracked files do not make the tree dirty")
    assert git_commit(package) == head
    (package / "__init__.py").write_text('__version__ = "1"\n')
    assert git_commit(package) == f"{head}-dirty"


@needs_git
def test_git_commit_is_none_for_a_copy_that_is_not_the_checkouts_source(tmp_path):
    # an installed copy inside some other repository (a venv in a project) is not that repository's code
    package = tmp_path / "venv" / "site-packages" / "icml22dl"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    assert git_commit(package) is None
    assert git_commit(tmp_path / "elsewhere") is None  # not even a folder


def test_git_commit_is_none_without_git_and_never_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable on PATH
    assert git_commit() is None


def test_this_checkout_is_recorded():
    repo = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    commit = git_commit()
    assert commit is not None and commit.removesuffix("-dirty") == _git(repo, "rev-parse", "HEAD").strip()


def test_result_is_written_atomically_and_an_interrupted_run_writes_none(tmp_path):
    def interrupted(config, seed, log):
        log.metrics(0, loss=1.0)
        raise KeyboardInterrupt

    paper = dataclasses.replace(toy_paper.PAPER, run=interrupted)
    task = RunTask(paper, paper.preset("quick"), 0, tmp_path, "quick")
    with pytest.raises(KeyboardInterrupt):
        run_one(task)
    assert not task.run_dir.is_done()
    names = {p.name for p in task.run_dir.path.iterdir()}
    assert "result.json" not in names and {"config.json", "metrics.jsonl"} <= names
    assert not [name for name in names if name.endswith(".tmp")]
    # an interrupted write leaves the old file (or none) and no temp file
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(task.run_dir.result_file, {"x": _Interrupting()})
    assert not task.run_dir.is_done()
    assert not [p for p in task.run_dir.path.iterdir() if p.suffix == ".tmp"]
    record = run_claim(toy_paper.PAPER, paper.preset("quick"), [0], tmp_path, "quick", quiet=True)
    assert record["computed_seeds"] == [0] and json.loads(task.run_dir.result_file.read_text())["status"] == "ok"


class _Interrupting:
    """A value whose serialisation is interrupted (Ctrl-C in the middle of json.dump)."""

    def item(self):
        raise KeyboardInterrupt
