"""The data-pack helpers of the test suite (``tests/data_pack.py``) and the conftest hooks built on them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_pack import DATA_FILES, compare, missing_files, required_files, snapshot

REPO = Path(__file__).resolve().parents[1]


def test_snapshot_lists_files_and_folders_with_size_and_mtime(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "a.gz").write_bytes(b"abc")
    (tmp_path / "README.md").write_text("x")
    os.utime(tmp_path / "README.md", ns=(1, 2_000_000_000))
    entries = snapshot(tmp_path)
    assert entries.keys() == {"mnist", "mnist/a.gz", "README.md"}
    assert entries["mnist"] is None and entries["mnist/a.gz"][0] == 3
    assert entries["README.md"] == (1, 2_000_000_000)
    assert snapshot(tmp_path / "absent") == {}


def test_compare_reports_added_removed_and_changed_paths(tmp_path):
    (tmp_path / "keep").write_text("same")
    (tmp_path / "edit").write_text("old")
    (tmp_path / "gone").write_text("x")
    before = snapshot(tmp_path)
    assert compare(before, snapshot(tmp_path)) == []
    (tmp_path / "gone").unlink()
    (tmp_path / "edit").write_text("new, longer")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decoded.npy").write_bytes(b"\0")
    lines = compare(before, snapshot(tmp_path))
    assert [line.split(" (")[0] for line in lines] == [
        "added cache",
        "added cache/decoded.npy",
        "changed edit",
        "removed gone",
    ]


def test_compare_sees_a_rewrite_of_the_same_size(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"aaaa")
    os.utime(path, ns=(0, 1_000_000_000))
    before = snapshot(tmp_path)
    path.write_bytes(b"bbbb")
    assert compare(before, snapshot(tmp_path)) == [
        f"changed data.bin (size, mtime_ns: (4, 1000000000) -> {snapshot(tmp_path)['data.bin']})"
    ]


def test_required_and_missing_files(tmp_path):
    assert required_files(["mnist"]) == list(DATA_FILES["mnist"]) and len(DATA_FILES["mnist"]) == 4
    assert required_files(["cora", "cora", "SHA256SUMS"]) == [*DATA_FILES["cora"], "SHA256SUMS"]
    assert DATA_FILES["cifar10"] == ("cifar10-jpeg/test.tar.gz", "cifar10-jpeg/train.tar.gz")
    assert DATA_FILES["england-covid"] == ("england-covid/england_covid.json.gz",)
    assert missing_files(["england-covid"], tmp_path) == ["england-covid/england_covid.json.gz"]
    (tmp_path / "england-covid").mkdir()
    (tmp_path / "england-covid" / "england_covid.json.gz").write_bytes(b"")
    assert missing_files(["england-covid"], tmp_path) == []
    with pytest.raises(ValueError, match="'minst'"):
        required_files(["minst"])


INNER_TESTS = """
import os
from pathlib import Path

import pytest


@pytest.mark.requires_data("mnist")
def test_needs_mnist():
    raise AssertionError("ran without its data")


def test_writes_into_the_data_root():
    (Path(os.environ["ICML22DL_DATA"]) / "new.txt").write_text("written by a test")
"""


def test_the_conftest_skips_missing_data_and_fails_a_run_that_writes_into_the_data_root(tmp_path):
    # The hooks of tests/conftest.py, loaded as a plugin into a separate pytest run.
    (tmp_path / "data").mkdir()
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "ICML22DL_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-p", "no:xdist"]
    command += ["-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), "-rs", str(tmp_path / "test_inner.py")]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 passed, 1 skipped" in output
    assert f"data files missing under the data root {tmp_path / 'data'}: mnist/t10k-images-idx3-ubyte.gz" in output
    assert "data root changed" in output and "added new.txt" in output
