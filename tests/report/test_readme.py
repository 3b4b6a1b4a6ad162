"""The README's generated tables: verdicts per scale with generated reasons, and the data sets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from icml22dl.data.catalog import CATALOG
from icml22dl.report.readme import (
    BEGIN,
    DATA_BEGIN,
    DATA_END,
    END,
    NOT_RUN,
    collect_verdicts,
    merge_verdicts,
    not_run_records,
    render_data_table,
    render_table,
    update_readme,
)
from icml22dl.runner import Claim, Criterion
from tests.report.conftest import SKIP_REASON

REPO = Path(__file__).resolve().parents[2]


def _paper(criteria: tuple[Criterion, ...], data: dict[str, tuple[str, ...]] | None = None) -> Any:
    claim = Claim(slug="x", title="t", paper="p", statement="s", criteria=criteria)
    presets = {"quick": None, "paper": None, "gpu_check": None}
    return SimpleNamespace(components=("optim.Thing",), presets=presets, claim=claim, data=data or {})


GAP = Criterion(id="z2_gap", metric="z2_gap", description="small-margin gap", op=">=", threshold=0.15)
WALL = Criterion(
    id="wall_time", metric="run_wall_s", description="wall time", op="<=", threshold=60.0, informational=True
)
REGISTERED = {
    "momentum": _paper((GAP, WALL), {"quick": (), "paper": ("cifar10",), "gpu_check": ()}),
    "sop": _paper((GAP,), {"quick": (), "paper": ("cifar10",)}),
    "adai": _paper((GAP,), {"quick": ("mnist",), "paper": ("cifar10",), "gpu_check": ("cifar10",)}),
}


def _row(table: str, slug: str) -> list[str]:
    (line,) = [line for line in table.splitlines() if f"| `{slug}`:" in line]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_collect_verdicts_per_scale_with_unmet_criteria_and_skipped(scales_root: Path) -> None:
    verdicts = collect_verdicts(scales_root)
    assert sorted(verdicts["momentum"]) == ["gpu_check", "paper", "quick"]
    paper = verdicts["momentum"]["paper"]
    assert paper["verdict"] == "not reproduced" and paper["seeds"] == [0]
    assert paper["informational"] == ["wall_time"]
    assert [u["id"] for u in paper["unmet"]] == ["z2_gap"]  # the informational wall_time failed too: not counted
    assert paper["unmet"][0] == {
        "id": "z2_gap", "value": 0.05, "op": ">=", "threshold": 0.15, "inconclusive": None,
        "verdict": "not reproduced", "description": "small-margin gap",
    }  # fmt: skip
    assert verdicts["momentum"]["quick"]["unmet"] == []  # reproduced
    assert verdicts["sop"]["quick"] == {
        "verdict": "skipped", "seeds": [0, 1, 2], "config_hash": "dddddddddddd", "reason": SKIP_REASON,
    }  # fmt: skip
    json.dumps(verdicts, allow_nan=False)  # docs/verdicts.json stays plain JSON


def test_judged_claim_replaces_a_skipped_one_whatever_their_age(scales_root: Path) -> None:
    judged = scales_root / "sop" / "eeeeeeeeeeee" / "claim.json"
    judged.parent.mkdir()
    criterion = {"id": "z2_gap", "op": ">=", "threshold": 0.15, "value": 0.2, "verdict": "reproduced"}
    judged.write_text(json.dumps({"scale": "quick", "seeds": [0], "verdict": "reproduced", "criteria": [criterion]}))
    os.utime(judged, (1, 1))  # older than the skipped record
    assert collect_verdicts(scales_root)["sop"]["quick"]["verdict"] == "reproduced"


def test_merge_keeps_the_last_real_verdict_over_a_skipped_claim(scales_root: Path) -> None:
    recorded = {"sop": {"quick": {"verdict": "not reproduced", "seeds": [0, 1, 2], "criteria": {}}}}
    merged = merge_verdicts(recorded, collect_verdicts(scales_root))
    assert merged["sop"]["quick"] == recorded["sop"]["quick"]
    assert merged["momentum"]["paper"]["verdict"] == "not reproduced"  # a judged record replaces or adds
    assert merge_verdicts({}, collect_verdicts(scales_root))["sop"]["quick"]["verdict"] == "skipped"
    assert list(merged) == sorted(merged) and list(merged["momentum"]) == ["gpu_check", "paper", "quick"]


def test_table_has_a_column_per_scale_with_generated_reasons(scales_root: Path) -> None:
    table = render_table(REGISTERED, collect_verdicts(scales_root))
    header = table.splitlines()[0]
    assert header == "| # | paper | components | criteria (quick) | quick | paper | gpu_check |"
    number, paper, components, criteria, quick, paper_scale, gpu_check = _row(table, "momentum")
    assert number == "1" and components == "`optim.Thing`"
    assert criteria == "z2_gap >= 0.15; *wall_time <= 60 (informational)*"
    assert quick == "**reproduced** (seeds 0-2)"
    assert paper_scale == (
        "**not reproduced** (seed 0)<br>z2_gap = 0.05, bar >= 0.15: small-margin gap<br>informational: wall_time 900"
    )
    assert gpu_check == "**reproduced** (seeds 0,1)"
    assert _row(table, "sop")[4] == f"skipped (seeds 0-2): {SKIP_REASON}"
    assert _row(table, "adai")[4:] == [
        "**not reproduced** (seeds 0,1)<br>acc_gap = no value (a seed diverged or did not finish), bar >= 0.15: "
        "acc_gap <script>alert('x')</script>",
        "not run yet",
        "not run yet",
    ]
    assert _row(table, "interpolation")[4:] == ["not yet implemented"] * 3  # not in this registry


def test_extra_scale_column_only_for_judged_verdicts(scales_root: Path) -> None:
    verdicts = collect_verdicts(scales_root)
    del verdicts["momentum"]["gpu_check"]
    verdicts["sop"]["gpu_check"] = {"verdict": "skipped", "seeds": [0], "reason": "no GPU"}
    assert render_table(REGISTERED, verdicts).splitlines()[0].endswith("| quick | paper |")


def test_inconclusive_reason_names_the_second_bar() -> None:
    unmet = {"id": "fit", "value": 0.015, "op": "<=", "threshold": 0.01, "inconclusive": 0.02,
             "verdict": "inconclusive", "description": "loss | at the end"}  # fmt: skip
    record = {"verdict": "inconclusive", "seeds": [0, 1, 2], "criteria": {"fit": 0.015}, "unmet": [unmet]}
    cell = _row(render_table(REGISTERED, {"sop": {"quick": record}}), "sop")[4]
    assert (
        cell
        == "**inconclusive** (seeds 0-2)<br>fit = 0.015, bar <= 0.01 (inconclusive up to 0.02): loss \\| at the end"
    )


def test_older_record_without_unmet_gets_reasons_from_values_and_targets() -> None:
    record = {"verdict": "not reproduced", "seeds": [0, 1, 2], "criteria": {"z2_gap": 0.1, "wall_time": 90.0}}
    cell = _row(render_table(REGISTERED, {"momentum": {"quick": record}}), "momentum")[4]
    assert cell == (
        "**not reproduced** (seeds 0-2)<br>z2_gap = 0.1, bar >= 0.15: small-margin gap<br>informational: wall_time 90"
    )
    record = {"verdict": "not reproduced", "seeds": [0], "criteria": {"renamed": 0.1}}
    assert _row(render_table(REGISTERED, {"sop": {"quick": record}}), "sop")[4].endswith("<br>reason not recorded")


def test_table_is_deterministic(scales_root: Path) -> None:
    verdicts = collect_verdicts(scales_root)
    shuffled = {slug: dict(reversed(list(scales.items()))) for slug, scales in reversed(list(verdicts.items()))}
    assert render_table(REGISTERED, verdicts) == render_table(REGISTERED, shuffled)
    assert render_table(REGISTERED, verdicts) == render_table(REGISTERED, json.loads(json.dumps(verdicts)))


def test_data_table_lists_every_data_set_with_its_readers_per_scale() -> None:
    table = render_data_table(REGISTERED)
    lines = table.splitlines()
    assert lines[0] == "| data set | size | source | quick: read by | paper: read by | gpu_check: read by |"
    rows = {line.split("`")[1]: line.strip("| ").split(" | ") for line in lines[2 : 2 + len(CATALOG)]}
    assert list(rows) == list(CATALOG)
    assert rows["mnist"][1:] == [
        "10.7 MiB", "ossci-datasets.s3.amazonaws.com ([page](https://yann.lecun.com/exdb/mnist/))", "`adai`", "-", "-",
    ]  # fmt: skip
    assert rows["cifar10"][3:] == ["-", "`momentum`, `sop`, `adai`", "`adai`"]
    assert rows["cifar10-jpeg"][2].startswith("a mirror or the data pack only")
    assert rows["cifar10-jpeg"][3:] == ["-", "can stand in for `cifar10`", "can stand in for `cifar10`"]
    assert lines[-1].startswith("The quick scale reads `mnist`: about 10.7 MiB in all. Every scale together reads")
    assert render_data_table(REGISTERED) == table


def test_update_readme_replaces_both_blocks(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{BEGIN}\nold\n{END}\ntext\n{DATA_BEGIN}\nold data\n{DATA_END}\nend\n")
    assert update_readme(readme, "NEW", data_table="DATA")
    assert readme.read_text() == f"# x\n{BEGIN}\nNEW\n{END}\ntext\n{DATA_BEGIN}\nDATA\n{DATA_END}\nend\n"
    assert not update_readme(readme, "NEW", data_table="DATA")
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="no table markers"):
        update_readme(readme, "NEW", data_table="DATA")


def test_readme_data_table_is_up_to_date() -> None:
    # `icml22dl readme` writes it; `readme --check` covers the paper table only
    text = (REPO / "README.md").read_text()
    assert f"{DATA_BEGIN}\n{render_data_table()}\n{DATA_END}" in text


def test_a_timed_but_not_run_setting_shows_its_measured_reason_until_a_verdict_exists():
    table = {"toy": {"paper": {"reason": "over an hour per seed", "measured": "3.9 h per seed"}}}
    records = not_run_records(table)
    assert records["toy"]["paper"] == {
        "verdict": NOT_RUN,
        "seeds": [],
        "reason": "over an hour per seed; measured: 3.9 h per seed",
    }
    judged = {"toy": {"paper": {"verdict": "not reproduced", "seeds": [0]}}}
    assert merge_verdicts(judged, records)["toy"]["paper"]["verdict"] == "not reproduced"
    assert merge_verdicts(records, judged)["toy"]["paper"]["verdict"] == "not reproduced"
    with pytest.raises(ValueError, match=r"\[toy.paper\] needs a reason"):
        not_run_records({"toy": {"paper": {"measured": "1 h"}}})
