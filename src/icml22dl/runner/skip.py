"""A claim that could not run (its data missing, an extra not installed) is recorded as skipped.

``icml22dl reproduce`` never stops at the first claim that cannot run: it writes a
``claim.json`` with verdict ``skipped`` and the reason, runs the others, writes the report
and exits non-zero. The report lists the skipped claim with its reason; the README table
keeps the last real verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import icml22dl
from icml22dl.runner.config import ExperimentConfig
from icml22dl.runner.experiment import Paper
from icml22dl.runner.store import write_json_atomic

SKIPPED = "skipped"


def record_skipped(
    paper: Paper,
    config: ExperimentConfig,
    seeds: Sequence[int],
    root: str | Path,
    scale: str,
    reason: str,
) -> dict[str, Any]:
    """Write ``<root>/<slug>/<config hash>/claim.json`` with verdict ``skipped`` and return the record.

    Args:
        paper: The claim's paper.
        config: The config it would have run.
        seeds: The seeds it would have run.
        root: The results root.
        scale: The preset name.
        reason: Why it did not run (one line, e.g. the missing files and the command that fetches them).

    Returns:
        The record: the claim's identity, ``verdict: "skipped"``, ``reason``, no criteria.

    References:
        The run directory layout of ``docs/architecture.md``.

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Claim, Criterion, ExperimentConfig, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config()}, lambda c, s, log: {}, claim)
        >>> root = Path(tempfile.mkdtemp())
        >>> record = record_skipped(paper, Config(), [0, 1], root, "quick", "data missing")
        >>> record["verdict"], record["reason"], (root / "toy" / Config().config_hash() / "claim.json").exists()
        ('skipped', 'data missing', True)
    """
    config_hash = config.config_hash()
    claim = paper.claim
    record: dict[str, Any] = {
        "slug": paper.slug,
        "title": claim.title,
        "paper": claim.paper,
        "statement": claim.statement,
        "deviations": claim.deviations,
        "scale": scale,
        "seeds": sorted(seeds),
        "criteria": [],
        "verdict": SKIPPED,
        "reason": reason,
        "config_hash": config_hash,
        "config": config.to_dict(),
        "computed_seeds": [],
        "statuses": {},
        "wall_time_s": 0.0,
        "curves": [c.to_dict() for c in paper.curves],
        "library_version": icml22dl.__version__,
    }
    write_json_atomic(Path(root) / paper.slug / config_hash / "claim.json", record)
    return record
