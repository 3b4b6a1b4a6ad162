import json
import math

import pytest

from icml22dl.runner.store import RunDir, RunLog, write_json_atomic


def test_atomic_write_leaves_no_temp_and_replaces(tmp_path):
    path = tmp_path / "a" / "result.json"
    write_json_atomic(path, {"x": 1.0, "bad": math.nan, "nested": [math.inf]})
    write_json_atomic(path, {"x": 2.0})
    assert json.loads(path.read_text()) == {"x": 2.0}
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path):
    path = tmp_path / "result.json"
    write_json_atomic(path, {"x": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_non_finite_values_become_null(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"x": math.nan})
    assert json.loads(path.read_text()) == {"x": None}


def test_run_dir_layout(tmp_path):
    run_dir = RunDir(tmp_path, "momentum", "abc123", 2)
    assert run_dir.path == tmp_path / "momentum" / "abc123" / "seed_2"
    assert not run_dir.is_done()
    write_json_atomic(run_dir.result_file, {"ok": True})
    assert run_dir.is_done()


def test_metrics_log_is_jsonl_and_flushed(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = RunLog(path)
    log.metrics(1, loss=0.5)
    assert json.loads(path.read_text()) == {"step": 1, "loss": 0.5}  # readable before close
    log.metrics(2, loss=math.nan)
    log.close()
    assert [json.loads(line) for line in path.read_text().splitlines()][1] == {"step": 2, "loss": None}
