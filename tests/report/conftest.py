"""A small fake results root, laid out as the runner writes it.

- ``momentum/3f9a1c2b7d10``: judged, 3 finished seeds, 2 criteria, 2 curves; its strings
  carry ``<script>`` and ``$`` to test escaping (HTML and matplotlib mathtext).
- ``adai/a1b2c3d4e5f6``: judged, seed 0 finished, seed 1 still running (no result.json,
  a metrics.jsonl whose last line is cut short).

``add_scales`` adds, for the per-scale tables: ``momentum`` at the paper scale (not
reproduced: one deciding criterion fails, and an informational one that fails too, with a
bar history), ``momentum`` at ``gpu_check`` (reproduced), and ``sop`` at quick, skipped
for want of its data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCRIPT = "<script>alert('x')</script>"


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _criterion(cid: str, metric: str, per_seed: dict[str, float | None], **fields: Any) -> dict[str, Any]:
    values = [v for v in per_seed.values() if v is not None]
    record = {
        "id": cid, "description": f"{cid} {SCRIPT}", "metric": metric, "reduce": "mean", "op": ">=",
        "threshold": 0.15, "inconclusive": None, "paper_value": None, "paper_source": "Table 1",
        "why": "quick scale is smaller", "per_seed": per_seed, "mean": sum(values) / len(values),
        "std": 0.02, "value": sum(values) / len(values), "verdict": "reproduced",
    }  # fmt: skip
    record.update(fields)
    return record


def _seed_result(slug: str, seed: int, metrics: dict[str, float | None], status: str = "ok") -> dict[str, Any]:
    return {
        "slug": slug, "seed": seed, "scale": "quick", "config_hash": "h", "config": {"lr": 0.1},
        "status": status, "metrics": metrics, "wall_time_s": 1.5 + seed, "cpu_time_s": 1.4,
        "torch_version": "2.13.0+cpu", "threads": 1, "device": "cpu", "library_version": "0.1.0",
        "python_version": "3.11.7", "finished_at": "2025-01-01T00:00:00+00:00",
    }  # fmt: skip


def _write_log(path: Path, lines: list[dict[str, Any]], tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)


def make_root(root: Path) -> Path:
    """Write the fake results root described in the module docstring under ``root``."""
    claim_dir = root / "momentum" / "3f9a1c2b7d10"
    gaps = {"0": 0.42, "1": 0.40, "2": 0.45}
    _write(
        claim_dir / "claim.json",
        {
            "slug": "momentum",
            "title": f"GD+M vs GD {SCRIPT}",
            "paper": "Jelassi & Li, ICML 2022",
            "statement": f"Momentum helps on small-margin data {SCRIPT}",
            "scale": "quick",
            "config_hash": "3f9a1c2b7d10",
            "seeds": [0, 1, 2],
            "verdict": "reproduced",
            "deviations": f"smaller data {SCRIPT}",
            "wall_time_s": 12.3,
            "criteria": [
                _criterion("z2_gap", "z2_gap", gaps, paper_value=0.43),
                _criterion(
                    "loss",
                    "train_loss",
                    {"0": 0.01, "1": 0.02, "2": None},
                    reduce="max",
                    op="<=",
                    threshold=0.05,
                    inconclusive=0.1,
                    value=0.02,
                    verdict="inconclusive",
                ),
            ],
            "curves": [
                {
                    "title": f"Small-margin accuracy {SCRIPT}",
                    "x": "step",
                    "y": ["gd/z2_test_acc", "gdm/z2_test_acc"],
                    "ylabel": "accuracy",
                    "logy": False,
                },
                {
                    "title": "Loss in $ (unbalanced $x_",
                    "x": "step",
                    "y": ["gd/train_loss", "missing/key"],
                    "ylabel": "loss",
                    "logy": True,
                },
            ],
        },
    )
    for seed in range(3):
        seed_dir = claim_dir / f"seed_{seed}"
        _write(seed_dir / "config.json", {"slug": "momentum", "scale": "quick", "seed": seed, "config": {}})
        metrics = {"z2_gap": gaps[str(seed)], "gd/z2_test_acc": 0.5, "gdm/z2_test_acc": 0.9, "train_loss": None}
        _write(seed_dir / "result.json", _seed_result("momentum", seed, metrics))
        lines = []
        for step in range(0, 50, 5):
            line: dict[str, Any] = {"step": step, "gd/train_loss": 1.0 / (step + 1 + seed)}
            if step % 10 == 0:
                line.update({"gd/z2_test_acc": 0.5 + 0.001 * step, "gdm/z2_test_acc": 0.5 + 0.008 * step})
            lines.append(line)
        lines.append({"step": 50, "gd/train_loss": None})
        _write_log(seed_dir / "metrics.jsonl", lines)

    claim_dir = root / "adai" / "a1b2c3d4e5f6"
    _write(
        claim_dir / "claim.json",
        {
            "slug": "adai",
            "title": "Adai",
            "paper": "Xie et al., ICML 2022",
            "statement": "Adai generalises.",
            "scale": "quick",
            "config_hash": "a1b2c3d4e5f6",
            "seeds": [0, 1],
            "verdict": "not reproduced",
            "deviations": "",
            "wall_time_s": 3.0,
            "criteria": [
                _criterion("acc_gap", "acc_gap", {"0": 0.01, "1": None}, value=None, verdict="not reproduced")
            ],
            "curves": [{"title": "Adai accuracy", "x": "step", "y": ["adai/test_acc"], "ylabel": "", "logy": False}],
        },
    )
    _write(claim_dir / "seed_0" / "result.json", _seed_result("adai", 0, {"acc_gap": 0.01, "adai/test_acc": 0.8}))
    _write_log(claim_dir / "seed_0" / "metrics.jsonl", [{"step": s, "adai/test_acc": 0.1 * s} for s in range(5)])
    _write(claim_dir / "seed_1" / "config.json", {"slug": "adai", "scale": "quick", "seed": 1, "config": {}})
    _write_log(claim_dir / "seed_1" / "metrics.jsonl", [{"step": 0, "adai/test_acc": 0.2}], tail='{"step": 1, "ada')
    return root


SKIP_REASON = "sop (quick) needs data missing under /data: mnist/x.gz; fetch them with: icml22dl data fetch mnist"


def _judged(slug: str, scale: str, seeds: list[int], verdict: str, criteria: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "slug": slug, "title": f"{slug} claim", "paper": "P", "statement": "S", "scale": scale,
        "seeds": seeds, "verdict": verdict, "deviations": "", "wall_time_s": 1.0, "criteria": criteria,
        "curves": [], "library_version": "0.2.0", "git_commit": "0123456789abcdef",
    }  # fmt: skip


def add_scales(root: Path) -> Path:
    """Add the paper-scale, gpu_check and skipped claims described in the module docstring."""
    failing = _criterion(
        "z2_gap", "z2_gap", {"0": 0.05}, threshold=0.15, value=0.05, verdict="not reproduced",
        description="small-margin gap", paper_value=0.43, paper_source="Table 1 of the paper",
    )  # fmt: skip
    slow = _criterion(
        "wall_time", "run_wall_s", {"0": 900.0}, op="<=", threshold=60.0, value=900.0, reduce="sum",
        verdict="not reproduced", informational=True, description="wall time of the run",
        previous="600 s: a judging bar until wall times became informational",
        pilot="seeds 100-104: 41.0, 40.2, 39.9, 42.3, 40.8",
    )  # fmt: skip
    paper = _judged("momentum", "paper", [0], "not reproduced", [failing, slow])
    _write(root / "momentum" / "bbbbbbbbbbbb" / "claim.json", paper)
    ok = _criterion("z2_gap", "z2_gap", {"0": 0.3, "1": 0.32}, value=0.31)
    gpu_check = _judged("momentum", "gpu_check", [0, 1], "reproduced", [ok])
    _write(root / "momentum" / "cccccccccccc" / "claim.json", gpu_check)
    skipped = {
        "slug": "sop", "title": "SOP", "paper": "P", "statement": "S", "deviations": "", "scale": "quick",
        "seeds": [0, 1, 2], "criteria": [], "verdict": "skipped", "reason": SKIP_REASON,
        "config_hash": "dddddddddddd", "config": {}, "computed_seeds": [], "statuses": {},
        "wall_time_s": 0.0, "curves": [], "library_version": "0.2.0",
    }  # fmt: skip
    _write(root / "sop" / "dddddddddddd" / "claim.json", skipped)
    return root


@pytest.fixture
def scales_root(tmp_path: Path) -> Path:
    """The fake results root with the claims of :func:`add_scales`."""
    return add_scales(make_root(tmp_path / "results"))


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A fresh fake results root (see the module docstring)."""
    return make_root(tmp_path / "results")


@pytest.fixture(scope="session")
def build_fake_root() -> Callable[[Path], Path]:
    """``make_root``, for fixtures of a wider scope than ``fake_root``."""
    return make_root
