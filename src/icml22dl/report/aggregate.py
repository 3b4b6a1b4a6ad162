"""Load claim runs from a results root and flatten them into CSV tables.

The report layer reads files only, as the runner writes them::

    <root>/<slug>/<config_hash>/claim.json
    <root>/<slug>/<config_hash>/seed_<k>/{config.json, result.json, metrics.jsonl}

Whatever is missing or unreadable (a seed still running, a claim not yet judged, a line
cut short by a killed run) is loaded as far as it exists and never raises: a seed without
``result.json`` has status ``incomplete``, a claim folder without ``claim.json`` has
verdict ``incomplete`` and no criteria. In metric values ``null`` stands for a non-finite
number and is read as NaN.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INCOMPLETE = "incomplete"
#: The verdict of a claim that could not run (``reason`` says why): not a judgement.
SKIPPED = "skipped"
CLAIMS_CSV = "claims.csv"
RUNS_CSV = "runs.csv"
CLAIMS_COLUMNS = (
    "slug", "scale", "config_hash", "verdict", "criterion", "metric", "reduce", "op", "threshold",
    "inconclusive", "value", "mean", "std", "paper_value", "criterion_verdict", "per_seed", "informational",
)  # fmt: skip
RUNS_COLUMNS = ("slug", "scale", "config_hash", "seed", "status", "metric", "value", "wall_time_s")

_SEED_DIR = re.compile(r"seed_(\d+)")
_SCALE_ORDER = ("quick", "paper")


@dataclass(frozen=True)
class Criterion:
    """One criterion of a claim as judged over seeds (an entry of ``claim.json["criteria"]``).

    ``per_seed`` maps the seed (as written in the file, a string) to the seed's value;
    ``value`` is the reduced value compared with ``threshold`` by ``op``. An
    ``informational`` criterion is measured and shown but never decides the claim's verdict;
    ``previous`` and ``pilot`` are the bar's history (the earlier bar and why it changed; the
    pilot seeds it was calibrated on). Records written before these keys existed read as
    not informational, with no history.
    """

    id: str
    description: str
    metric: str
    reduce: str
    op: str
    threshold: float | None
    inconclusive: float | None
    paper_value: float | None
    paper_source: str
    why: str
    per_seed: dict[str, float]
    mean: float | None
    std: float | None
    value: float | None
    verdict: str
    informational: bool = False
    bounds: tuple[float, float] | None = None
    previous: str = ""
    pilot: str = ""

    @property
    def decides(self) -> bool:
        """Whether the criterion takes part in the claim's verdict (it is not informational)."""
        return not self.informational


@dataclass(frozen=True)
class Curve:
    """A step-wise figure: the ``y`` keys of ``metrics.jsonl`` against the ``x`` key."""

    title: str
    x: str
    y: tuple[str, ...]
    ylabel: str
    logy: bool


@dataclass(frozen=True)
class SeedRun:
    """One seed's run folder; ``status`` is ``incomplete`` while it has no ``result.json``."""

    seed: int
    path: Path
    status: str
    metrics: dict[str, float]
    wall_time_s: float | None
    torch_version: str
    device: str
    threads: int | None
    library_version: str = ""
    git_commit: str = ""  # "<sha>[-dirty]" of the source tree, "" when it was not a git checkout

    @property
    def metrics_file(self) -> Path:
        """The step-wise log ``metrics.jsonl`` of this run (it may not exist)."""
        return self.path / "metrics.jsonl"


@dataclass(frozen=True)
class ClaimRun:
    """One claim at one config hash: the judged claim (when there is one) and its seed runs."""

    slug: str
    config_hash: str
    path: Path
    title: str
    paper: str
    statement: str
    scale: str
    seeds: tuple[int, ...]
    verdict: str
    deviations: str
    wall_time_s: float | None
    criteria: tuple[Criterion, ...]
    curves: tuple[Curve, ...]
    runs: tuple[SeedRun, ...]
    judged: bool
    library_version: str = ""  # of the judging, from claim.json
    git_commit: str = ""  # "<sha>[-dirty]" of the judging's source tree, "" when not a git checkout
    reason: str = ""  # why a skipped claim did not run

    @property
    def finished_runs(self) -> tuple[SeedRun, ...]:
        """The seed runs that have a ``result.json``."""
        return tuple(run for run in self.runs if run.status != INCOMPLETE)


def load_claims(root: str | os.PathLike[str]) -> list[ClaimRun]:
    """Every claim run under a results root, sorted by slug, scale and config hash.

    A folder ``<root>/<slug>/<hash>/`` counts as a claim run when it holds ``claim.json``
    or at least one ``seed_<k>`` folder; other folders and files are ignored.

    Raises:
        FileNotFoundError: when ``root`` is not a directory.

    References:
        The run directory layout of ``docs/architecture.md`` (``claim.json``, ``result.json``,
        ``metrics.jsonl``; JSON, RFC 8259).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> seed_dir = root / "toy" / "0123456789ab" / "seed_0"
        >>> seed_dir.mkdir(parents=True)
        >>> _ = (seed_dir / "result.json").write_text(
        ...     '{"status": "ok", "scale": "quick", "metrics": {"acc": 0.9}, "wall_time_s": 1.5}')
        >>> (claim,) = load_claims(root)
        >>> claim.slug, claim.verdict, [run.metrics for run in claim.runs]
        ('toy', 'incomplete', [{'acc': 0.9}])
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"results root {str(root)!r} is not a directory")
    claims = [
        claim
        for slug_dir in _subdirs(root)
        for run_dir in _subdirs(slug_dir)
        if (claim := _load_claim_run(slug_dir.name, run_dir)) is not None
    ]
    return sorted(claims, key=_sort_key)


def read_metrics(path: Path) -> list[dict[str, float]]:
    """The records of a ``metrics.jsonl`` file, numbers only, ``null`` read as NaN.

    A missing file gives ``[]``; blank, malformed (e.g. a last line cut by a kill) or
    non-object lines are skipped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(_metric_values(record))
    return records


def write_csv(root: str | os.PathLike[str], claims: Sequence[ClaimRun] | None = None) -> list[Path]:
    """Write ``claims.csv`` and ``runs.csv`` into ``root``, atomically; return their paths.

    ``claims.csv`` has one row per claim run and criterion, ``runs.csv`` one row per seed
    run and final metric. A claim run without criteria, or a seed run without metrics
    (unfinished or diverged early), still gets one row with the criterion or metric
    columns empty, so every run on disk is listed. Numbers are written in full precision,
    a missing one as an empty cell; ``per_seed`` reads ``0=0.42;1=0.4``.

    Args:
        root: the results root.
        claims: the claim runs, when already loaded; by default :func:`load_claims`.

    References:
        CSV (RFC 4180, written with :mod:`csv`); the columns are :data:`CLAIMS_COLUMNS` and
        :data:`RUNS_COLUMNS`.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> seed_dir = root / "toy" / "0123456789ab" / "seed_0"
        >>> seed_dir.mkdir(parents=True)
        >>> _ = (seed_dir / "result.json").write_text(
        ...     '{"status": "ok", "scale": "quick", "metrics": {"acc": 0.9}, "wall_time_s": 1.5}')
        >>> [path.name for path in write_csv(root)]
        ['claims.csv', 'runs.csv']
        >>> (root / "runs.csv").read_text().splitlines()[1]
        'toy,quick,0123456789ab,0,ok,acc,0.9,1.5'
    """
    root = Path(root)
    claims = load_claims(root) if claims is None else claims
    claim_rows = []
    run_rows = []
    for claim in claims:
        head = [claim.slug, claim.scale, claim.config_hash]
        for crit in claim.criteria or (None,):
            claim_rows.append([*head, claim.verdict, *(_criterion_cells(crit) if crit else [""] * 13)])
        for run in claim.runs:
            for name, value in run.metrics.items() or [("", None)]:
                run_rows.append([*head, run.seed, run.status, name, _cell(value), _cell(run.wall_time_s)])
    paths = [root / CLAIMS_CSV, root / RUNS_CSV]
    write_text_atomic(paths[0], _csv_text(CLAIMS_COLUMNS, claim_rows))
    write_text_atomic(paths[1], _csv_text(RUNS_COLUMNS, run_rows))
    return paths


def criterion_from_record(data: dict[str, Any]) -> Criterion:
    """A :class:`Criterion` from one entry of ``claim.json["criteria"]`` (missing keys read as empty).

    Example:
        >>> c = criterion_from_record({"id": "gap", "op": ">=", "threshold": 0.1, "value": 0.05,
        ...                            "verdict": "not reproduced", "description": "the gap"})
        >>> c.id, c.value, c.decides
        ('gap', 0.05, True)
    """
    return _criterion(data)


def unmet_criteria(criteria: Sequence[Criterion]) -> list[Criterion]:
    """The criteria that kept a claim from ``reproduced``: deciding ones whose verdict is not ``reproduced``.

    Informational criteria never count. Those ``not reproduced`` come first, then the
    ``inconclusive`` ones, each group in the claim's order.
    """
    unmet = [c for c in criteria if c.decides and c.verdict != "reproduced"]
    return sorted(unmet, key=lambda c: c.verdict != "not reproduced")


def criterion_reason(c: Criterion) -> str:
    """One line saying why a criterion did not pass, from its record: id, measured value, bar, description.

    Example:
        >>> c = criterion_from_record({"id": "gap", "op": ">=", "threshold": 0.1, "value": 0.0512,
        ...                            "verdict": "not reproduced", "description": "test-accuracy gap"})
        >>> criterion_reason(c)
        'gap = 0.0512, bar >= 0.1: test-accuracy gap'
        >>> criterion_reason(criterion_from_record({"id": "fit", "op": "<=", "threshold": 0.01,
        ...     "inconclusive": 0.02, "value": 0.015, "verdict": "inconclusive", "description": "loss"}))
        'fit = 0.015, bar <= 0.01 (inconclusive up to 0.02): loss'
    """
    measured = "no value (a seed diverged or did not finish)" if c.value is None else f"{c.value:.3g}"
    bar = "?" if c.threshold is None else f"{c.threshold:g}"
    text = f"{c.id} = {measured}, bar {c.op} {bar}"
    if c.verdict == "inconclusive" and c.value is not None and c.inconclusive is not None:
        side = "down" if c.op in (">=", ">") else "up"
        text += f" (inconclusive {side} to {c.inconclusive:g})"
    description = " ".join(c.description.split())
    return f"{text}: {description}" if description else text


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` through a temp file beside it and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _sort_key(claim: ClaimRun) -> tuple[str, int, str, str]:
    rank = _SCALE_ORDER.index(claim.scale) if claim.scale in _SCALE_ORDER else len(_SCALE_ORDER)
    return claim.slug, rank, claim.scale, claim.config_hash


def _load_claim_run(slug: str, path: Path) -> ClaimRun | None:
    seed_dirs = sorted((int(m.group(1)), d) for d in _subdirs(path) if (m := _SEED_DIR.fullmatch(d.name)))
    data = _read_json(path / "claim.json")
    if data is None and not seed_dirs:
        return None
    runs = tuple(_load_seed_run(seed, seed_dir) for seed, seed_dir in seed_dirs)
    data = data or {}
    seeds = tuple(s for s in _list(data.get("seeds")) if isinstance(s, int) and not isinstance(s, bool))
    return ClaimRun(
        slug=slug,
        config_hash=path.name,
        path=path,
        title=_text(data.get("title")),
        paper=_text(data.get("paper")),
        statement=_text(data.get("statement")),
        scale=_text(data.get("scale")) or _scale_of_runs(seed_dirs),
        seeds=seeds or tuple(run.seed for run in runs),
        verdict=_text(data.get("verdict")) or INCOMPLETE,
        deviations=_text(data.get("deviations")),
        wall_time_s=_number(data.get("wall_time_s")),
        criteria=tuple(_criterion(c) for c in _list(data.get("criteria")) if isinstance(c, dict)),
        curves=tuple(_curve(c) for c in _list(data.get("curves")) if isinstance(c, dict)),
        runs=runs,
        judged=bool(data) and data.get("verdict") != SKIPPED,
        library_version=_text(data.get("library_version")),
        git_commit=_text(data.get("git_commit")),
        reason=_text(data.get("reason")),
    )


def _load_seed_run(seed: int, path: Path) -> SeedRun:
    result = _read_json(path / "result.json")
    if result is None:
        return SeedRun(seed, path, INCOMPLETE, {}, None, "", "", None)
    metrics = result.get("metrics")
    threads = result.get("threads")
    return SeedRun(
        seed=seed,
        path=path,
        status=_text(result.get("status")) or "unknown",
        metrics=_metric_values(metrics) if isinstance(metrics, dict) else {},
        wall_time_s=_number(result.get("wall_time_s")),
        torch_version=_text(result.get("torch_version")),
        device=_text(result.get("device")),
        threads=threads if isinstance(threads, int) and not isinstance(threads, bool) else None,
        library_version=_text(result.get("library_version")),
        git_commit=_text(result.get("git_commit")),
    )


def _scale_of_runs(seed_dirs: list[tuple[int, Path]]) -> str:
    """The scale recorded by the first seed run that has one (claim.json missing)."""
    for _, seed_dir in seed_dirs:
        for name in ("result.json", "config.json"):
            scale = _text((_read_json(seed_dir / name) or {}).get("scale"))
            if scale:
                return scale
    return ""


def _criterion(data: dict[str, Any]) -> Criterion:
    per_seed = data.get("per_seed")
    return Criterion(
        id=_text(data.get("id")),
        description=_text(data.get("description")),
        metric=_text(data.get("metric")),
        reduce=_text(data.get("reduce")),
        op=_text(data.get("op")),
        threshold=_number(data.get("threshold")),
        inconclusive=_number(data.get("inconclusive")),
        paper_value=_number(data.get("paper_value")),
        paper_source=_text(data.get("paper_source")),
        why=_text(data.get("why")),
        per_seed=_metric_values(per_seed) if isinstance(per_seed, dict) else {},
        mean=_number(data.get("mean")),
        std=_number(data.get("std")),
        value=_number(data.get("value")),
        verdict=_text(data.get("verdict")) or INCOMPLETE,
        informational=data.get("informational") is True,
        bounds=_bounds(data.get("bounds")),
        previous=_text(data.get("previous")),
        pilot=_text(data.get("pilot")),
    )


def _bounds(value: Any) -> tuple[float, float] | None:
    """``[low, high]`` from a record as a pair of floats; None when absent or malformed."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    low, high = (_number(v) for v in value)
    return None if low is None or high is None else (low, high)


def _curve(data: dict[str, Any]) -> Curve:
    return Curve(
        title=_text(data.get("title")),
        x=_text(data.get("x")) or "step",
        y=tuple(_text(key) for key in _list(data.get("y")) if key is not None),
        ylabel=_text(data.get("ylabel")),
        logy=data.get("logy") is True,
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    """A JSON number as float; ``None`` for null or anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _metric_values(data: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics mapping, ``null`` (a non-finite value) as NaN."""
    values = {}
    for key, value in data.items():
        number = math.nan if value is None else _number(value)
        if number is not None:
            values[str(key)] = number
    return values


def _criterion_cells(crit: Criterion) -> list[str]:
    per_seed = ";".join(f"{seed}={_cell(value)}" for seed, value in crit.per_seed.items())
    numbers = (crit.threshold, crit.inconclusive, crit.value, crit.mean, crit.std, crit.paper_value)
    informational = "true" if crit.informational else "false"
    return [crit.id, crit.metric, crit.reduce, crit.op, *map(_cell, numbers), crit.verdict, per_seed, informational]


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _csv_text(columns: Sequence[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()
