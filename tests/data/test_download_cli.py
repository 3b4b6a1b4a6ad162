"""``icml22dl data list / fetch / verify``, the ``--offline`` pre-flight, and ``reproduce`` skipping a claim.

Tiny fake papers and a catalogue of test files are injected; every data root is in
``tmp_path`` (set through a restored ``ICML22DL_DATA``), and the only server is on 127.0.0.1.
"""

import hashlib
import json
from dataclasses import dataclass

import pytest

from icml22dl.cli import main
from icml22dl.data.catalog import CATALOG, DataFile, DataSet
from icml22dl.papers import PAPERS
from icml22dl.report.aggregate import load_claims
from icml22dl.runner import Claim, Criterion, ExperimentConfig, Paper, RunLog, param
from tests.data.local_http import serve_tree

GOOD = b"toy data\n" * 100


@dataclass(frozen=True)
class Config(ExperimentConfig):
    value: float = param(1.0, help="what the run reports")


def _run(config: Config, seed: int, log: RunLog) -> dict[str, float]:
    return {"value": config.value}


def _paper(slug: str, data: tuple[str, ...]) -> Paper:
    criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
    claim = Claim(slug=slug, title=f"{slug} holds", paper="none", statement="s", criteria=(criterion,))
    return Paper(slug, Config, {"quick": Config(), "paper": Config()}, _run, claim, seeds=(0,), data={"quick": data})


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Data set ``toyset`` (two files), papers ``toy_needs`` (needs it) and ``toy_free`` (needs nothing)."""
    files = (
        DataFile("toyset/a.bin", len(GOOD), (hashlib.sha256(GOOD).hexdigest(),), None),
        DataFile("toyset/b.bin", len(GOOD), (hashlib.sha256(GOOD).hexdigest(),), None),
    )
    monkeypatch.setitem(CATALOG, "toyset", DataSet("toyset", "a toy data set", files, "", ""))
    for paper in (_paper("toy_needs", ("toyset",)), _paper("toy_free", ())):
        monkeypatch.setitem(PAPERS._items, paper.slug, paper)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("ICML22DL_DATA", str(data))
    monkeypatch.delenv("ICML22DL_MIRROR", raising=False)
    return data


@pytest.fixture
def mirror(tmp_path):
    """A mirror on 127.0.0.1 serving ``toyset/a.bin`` and ``toyset/b.bin``; yields its URL."""
    tree = tmp_path / "mirror"
    (tree / "toyset").mkdir(parents=True)
    for name in ("a.bin", "b.bin"):
        (tree / "toyset" / name).write_bytes(GOOD)
    with serve_tree(tree) as url:
        yield url


def _lines(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def test_list_and_verify_show_present_missing_and_corrupt(world, capsys):
    (world / "toyset").mkdir()
    (world / "toyset" / "a.bin").write_bytes(GOOD)
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"data root: {world}" in out
    assert "toyset: a toy data set" in out and "needed by: toy_needs (quick)" in out
    assert _lines(out, "toyset/a.bin")[0].split()[-1] == "present"
    assert _lines(out, "toyset/b.bin")[0].split()[-1] == "missing"
    (world / "toyset" / "b.bin").write_bytes(b"corrupted")
    assert main(["data", "list"]) == 0
    assert _lines(capsys.readouterr().out, "toyset/b.bin")[0].split()[-1] == "corrupt"

    assert main(["data", "verify", "toyset"]) == 1
    captured = capsys.readouterr()
    assert _lines(captured.out, "toyset/a.bin") == ["verified    toyset/a.bin"]
    assert _lines(captured.out, "toyset/b.bin") == ["CORRUPT     toyset/b.bin"]
    assert "1 of 2 files present and verified" in captured.out
    assert "icml22dl data fetch toyset" in captured.err
    (world / "toyset" / "b.bin").write_bytes(GOOD)
    assert main(["data", "verify", "toyset"]) == 0
    assert "2 of 2 files present and verified" in capsys.readouterr().out


def test_unknown_data_set_is_an_input_error(world, capsys):
    assert main(["data", "fetch", "imagenet"]) == 2
    assert "unknown data set(s) ['imagenet']" in capsys.readouterr().err


def test_fetch_from_a_mirror_then_nothing_to_do(world, mirror, capsys):
    assert main(["data", "fetch", "toyset", "--mirror", mirror, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"fetching 2 files (1.8 KiB) of toyset into {world} from mirror {mirror}" in err
    assert (world / "toyset" / "a.bin").read_bytes() == GOOD
    assert main(["data", "fetch", "toyset", "--mirror", mirror]) == 0
    assert "present and verified" in capsys.readouterr().err


def test_fetch_without_a_source_fails_clearly(world, capsys):
    assert main(["data", "fetch", "toyset", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "toyset/a.bin has no upstream source" in err and "--mirror" in err
    assert not (world / "toyset").exists() or not any((world / "toyset").iterdir())


def test_run_offline_names_the_missing_files_and_exits_2(world, tmp_path, capsys):
    code = main(["run", "toy_needs", "--offline", "--root", str(tmp_path / "results"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "toyset/a.bin, toyset/b.bin" in line and "icml22dl data fetch toyset" in line
    assert not (tmp_path / "results" / "toy_needs").exists()  # no work started


def test_run_fetches_from_the_mirror_first(world, mirror, tmp_path, capsys):
    code = main(["run", "toy_needs", "--mirror", mirror, "--root", str(tmp_path / "results"), "--quiet"])
    assert code == 0
    assert "toy_needs (quick) needs toyset: fetching 2 files" in capsys.readouterr().err
    assert (world / "toyset" / "b.bin").read_bytes() == GOOD


def test_a_real_paper_offline_on_an_empty_data_root(world, tmp_path, capsys):
    code = main(["run", "adai", "--offline", "--root", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2
    assert "mnist/train-images-idx3-ubyte.gz" in err and "icml22dl data fetch mnist" in err


def test_reproduce_offline_skips_the_claim_without_data_and_runs_the_rest(world, tmp_path, capsys):
    root = tmp_path / "results"
    code = main(["reproduce", "--only", "toy_needs,toy_free", "--offline", "--root", str(root), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1  # not every claim was checked
    assert "skipped toy_needs (quick) needs data missing" in captured.err
    verdicts = {
        line.split()[0]: line.split()[-1]
        for line in captured.out.splitlines()
        if line.startswith("toy_") and ":" not in line.split()[0]
    }
    assert verdicts == {"toy_needs": "skipped", "toy_free": "reproduced"}
    (skipped,) = [c for c in load_claims(root) if c.slug == "toy_needs"]
    assert skipped.verdict == "skipped" and not skipped.judged and "toyset/a.bin" in skipped.reason
    record = json.loads((skipped.path / "claim.json").read_text())
    assert record["criteria"] == [] and record["seeds"] == [0]
    assert (root / "report.html").is_file() and "skipped" in (root / "claims.csv").read_text()


def test_a_set_the_mirror_lacks_comes_as_its_stand_in(world, mirror, tmp_path, monkeypatch, capsys):
    # As the canonical CIFAR-10 archive, absent from a data-pack mirror, whose JPEG pack stands in.
    canonical = DataSet("canon", "c", (DataFile("canon/x.tar", 1, ("0" * 64,), None),), "", "", "", ("toyset",))
    monkeypatch.setitem(CATALOG, "canon", canonical)
    monkeypatch.setitem(PAPERS._items, "toy_canon", _paper("toy_canon", ("canon",)))
    code = main(["run", "toy_canon", "--mirror", mirror, "--root", str(tmp_path / "results"), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "canon is not on the mirror" in err and "fetched its stand-in toyset" in err
    assert (world / "toyset" / "a.bin").read_bytes() == GOOD and not (world / "canon").exists()
    assert main(["data", "fetch", "canon", "--mirror", mirror, "--quiet"]) == 1  # named: no stand-in
    assert "404" in capsys.readouterr().err
