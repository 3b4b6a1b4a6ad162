"""Loading a results root and writing claims.csv / runs.csv."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from icml22dl.report import load_claims, write_csv
from icml22dl.report.aggregate import CLAIMS_COLUMNS, INCOMPLETE, RUNS_COLUMNS, read_metrics


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_load_claims_reads_both_claims(fake_root: Path) -> None:
    adai, momentum = load_claims(fake_root)
    assert (adai.slug, momentum.slug) == ("adai", "momentum")
    assert momentum.config_hash == "3f9a1c2b7d10" and momentum.scale == "quick"
    assert momentum.title == "GD+M vs GD <script>alert('x')</script>" and momentum.judged
    assert momentum.seeds == (0, 1, 2) and [r.seed for r in momentum.runs] == [0, 1, 2]
    gap, loss = momentum.criteria
    assert gap.per_seed == {"0": 0.42, "1": 0.40, "2": 0.45} and gap.paper_value == 0.43
    assert loss.reduce == "max" and loss.inconclusive == 0.1 and math.isnan(loss.per_seed["2"])
    assert momentum.curves[0].y == ("gd/z2_test_acc", "gdm/z2_test_acc")
    assert momentum.curves[1].logy
    run = momentum.runs[0]
    assert run.status == "ok" and run.wall_time_s == 1.5 and run.torch_version == "2.13.0+cpu"
    assert math.isnan(run.metrics["train_loss"])  # null in result.json is a non-finite value
    assert [r.status for r in adai.runs] == ["ok", INCOMPLETE]
    assert adai.finished_runs == adai.runs[:1] and adai.runs[1].metrics == {}
    assert adai.criteria[0].value is None


def test_write_csv_row_counts_and_values(fake_root: Path) -> None:
    claims_csv, runs_csv = write_csv(fake_root)
    assert (claims_csv, runs_csv) == (fake_root / "claims.csv", fake_root / "runs.csv")
    claims = _rows(claims_csv)
    assert tuple(claims[0]) == CLAIMS_COLUMNS
    assert len(claims) == 2 + 1  # momentum has 2 criteria, adai 1
    gap = next(r for r in claims if r["criterion"] == "z2_gap")
    assert gap["verdict"] == "reproduced" and gap["per_seed"] == "0=0.42;1=0.4;2=0.45"
    assert float(gap["threshold"]) == 0.15 and float(gap["paper_value"]) == 0.43
    acc_gap = next(r for r in claims if r["criterion"] == "acc_gap")
    assert acc_gap["value"] == "" and acc_gap["per_seed"] == "0=0.01;1=nan"
    runs = _rows(runs_csv)
    assert tuple(runs[0]) == RUNS_COLUMNS
    assert len(runs) == 3 * 4 + 2 + 1  # momentum: 3 seeds x 4 metrics; adai: 2 metrics + the unfinished seed
    unfinished = [r for r in runs if r["status"] == INCOMPLETE]
    assert unfinished == [
        {"slug": "adai", "scale": "quick", "config_hash": "a1b2c3d4e5f6", "seed": "1",
         "status": INCOMPLETE, "metric": "", "value": "", "wall_time_s": ""}
    ]  # fmt: skip
    assert not list(fake_root.glob(".*.tmp"))


def test_claim_dir_without_claim_json_is_listed(fake_root: Path) -> None:
    seed_dir = fake_root / "newpaper" / "0123abcd" / "seed_3"
    seed_dir.mkdir(parents=True)
    (seed_dir / "config.json").write_text(json.dumps({"scale": "paper", "seed": 3}))
    claim = next(c for c in load_claims(fake_root) if c.slug == "newpaper")
    assert (claim.verdict, claim.judged, claim.scale, claim.seeds) == (INCOMPLETE, False, "paper", (3,))
    claims_csv, runs_csv = write_csv(fake_root)
    assert [r["verdict"] for r in _rows(claims_csv) if r["slug"] == "newpaper"] == [INCOMPLETE]
    assert [r["status"] for r in _rows(runs_csv) if r["slug"] == "newpaper"] == [INCOMPLETE]


def test_unreadable_files_and_stray_entries_do_not_crash(fake_root: Path) -> None:
    (fake_root / "notes.txt").write_text("not a claim")
    (fake_root / "empty" / "deadbeef").mkdir(parents=True)  # no claim.json, no seed: ignored
    broken = fake_root / "broken" / "cafe"
    (broken / "seed_0").mkdir(parents=True)
    (broken / "seed_x").mkdir()  # not a seed folder
    (broken / "claim.json").write_text('{"slug": "broken", "crit')  # cut short
    (broken / "seed_0" / "result.json").write_text("[1, 2]")  # not an object
    slugs = [c.slug for c in load_claims(fake_root)]
    assert slugs == ["adai", "broken", "momentum"]
    broken_claim = load_claims(fake_root)[1]
    assert broken_claim.verdict == INCOMPLETE and [r.status for r in broken_claim.runs] == [INCOMPLETE]


def test_read_metrics_skips_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 0, "a": 1.5, "b": null, "c": "text"}\n\n[1]\n{"step": 1, "a"')
    (record,) = read_metrics(path)
    assert record["step"] == 0 and record["a"] == 1.5 and math.isnan(record["b"]) and "c" not in record
    assert read_metrics(tmp_path / "missing.jsonl") == []


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_claims(tmp_path / "nowhere")
