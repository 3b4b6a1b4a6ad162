"""Claims: a paper's statement, the criteria that test it, and the verdict over seeds.

Every criterion's threshold lives in ``papers/targets.toml`` beside the paper's own value
and its source, so that the number a run is held to is written once and fixed before the
run. A criterion reduces one per-seed metric over the seeds (``mean``, ``min``, ``max``,
``sum``, or ``all`` = every seed must pass) and compares it with the threshold.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from icml22dl.train import NonFiniteLossError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
REDUCTIONS = ("mean", "min", "max", "sum", "all")
OPERATORS = (">=", "<=", ">", "<")


@dataclass(frozen=True)
class Criterion:
    """One pass/fail test of a claim on a per-seed metric.

    Attributes:
        id: short name, unique within the claim.
        metric: key of the metric in each seed's ``result.json``.
        description: what is measured, in words.
        op: ``">="``, ``">"``, ``"<="`` or ``"<"``: the comparison that passes.
        threshold: the bar, from the targets table (``papers/targets.toml``), fixed before the run.
        reduce: how seeds are combined: ``mean``, ``min``, ``max``, ``sum`` or ``all``
            (every seed must pass: the worst seed is compared).
        inconclusive: optional second bar: a value that misses ``threshold`` but not this
            bar is ``inconclusive`` rather than ``not reproduced``.
        paper_value: the paper's number for this quantity, when there is one.
        paper_source: where that number (or the claim) comes from.
        why: why the threshold is what it is.
        scales: the scales this criterion applies to.
        informational: when true the criterion is measured and reported but never decides
            the claim's verdict (a speed ratio, a wall time: a slow machine must not flip a
            scientific verdict).
        bounds: the range ``[low, high]`` the metric can take (e.g. ``[0, 1]`` for an
            accuracy), when one is known; the threshold must lie where a value can fall on
            either side of it, so the criterion can fail.
        previous: the earlier bar and why it was replaced, when the bar changed.
        pilot: the pilot seeds a calibrated bar came from and their values (disjoint from
            the judged seeds).

    References:
        One ``[[<slug>.criteria]]`` entry of ``src/icml22dl/papers/targets.toml``; the rules
        are those of ``docs/architecture.md`` (claims and verdicts).

    Example:
        >>> fit = Criterion(id="fit", metric="train_acc", description="train accuracy", op=">=",
        ...                 threshold=0.99, reduce="min")
        >>> fit.evaluate({0: 1.0, 1: 0.995})["verdict"]
        'reproduced'
        >>> fit.evaluate({0: 1.0, 1: 0.9})["verdict"]
        'not reproduced'
        >>> fit.evaluate({0: 1.0, 1: float("nan")})["verdict"]  # a diverged seed decides nothing
        'inconclusive'
        >>> Criterion(id="acc", metric="acc", description="accuracy", op="<=", threshold=1.0, bounds=(0.0, 1.0))
        Traceback (most recent call last):
        ValueError: criterion 'acc': threshold=1.0 with op '<=' passes every value in bounds [0.0, 1.0]; it cannot fail
    """

    id: str
    metric: str
    description: str
    op: str
    threshold: float
    reduce: str = "mean"
    inconclusive: float | None = None
    paper_value: float | None = None
    paper_source: str = ""
    why: str = ""
    scales: tuple[str, ...] = ("quick", "paper")
    informational: bool = False
    bounds: tuple[float, float] | None = None
    previous: str = ""
    pilot: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"criterion {self.id!r}: op={self.op!r} must be one of {OPERATORS}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"criterion {self.id!r}: reduce={self.reduce!r} must be one of {REDUCTIONS}")
        if self.inconclusive is not None and self._passes(self.inconclusive, self.threshold):
            raise ValueError(
                f"criterion {self.id!r}: inconclusive={self.inconclusive} must lie on the failing "
                f"side of threshold={self.threshold} (op {self.op})"
            )
        if self.bounds is not None:
            low, high = self.bounds
            if not low < high:
                raise ValueError(f"criterion {self.id!r}: bounds={list(self.bounds)} must be [low, high], low < high")
            if self._passes(low, self.threshold) and self._passes(high, self.threshold):
                raise ValueError(
                    f"criterion {self.id!r}: threshold={self.threshold} with op {self.op!r} passes every value "
                    f"in bounds [{low}, {high}]; it cannot fail"
                )
            if not self._passes(low, self.threshold) and not self._passes(high, self.threshold):
                raise ValueError(
                    f"criterion {self.id!r}: threshold={self.threshold} with op {self.op!r} fails every value "
                    f"in bounds [{low}, {high}]; it cannot pass"
                )

    def _passes(self, value: float, bar: float) -> bool:
        return {">=": value >= bar, "<=": value <= bar, ">": value > bar, "<": value < bar}[self.op]

    def evaluate(self, per_seed: Mapping[int, float | None]) -> dict[str, Any]:
        """The criterion's record over seeds: values, summary and verdict.

        A seed without a finite value (a diverged or unfinished run) makes the criterion
        ``inconclusive``: a verdict is never drawn from fewer seeds than were asked for.
        """
        values = [per_seed[s] for s in sorted(per_seed)]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        record: dict[str, Any] = {
            "id": self.id,
            "metric": self.metric,
            "description": self.description,
            "op": self.op,
            "threshold": self.threshold,
            "reduce": self.reduce,
            "inconclusive": self.inconclusive,
            "paper_value": self.paper_value,
            "paper_source": self.paper_source,
            "why": self.why,
            "informational": self.informational,
            "bounds": None if self.bounds is None else list(self.bounds),
            "previous": self.previous,
            "pilot": self.pilot,
            "per_seed": {str(s): per_seed[s] for s in sorted(per_seed)},
            "mean": statistics.fmean(finite) if finite else None,
            "std": statistics.stdev(finite) if len(finite) > 1 else (0.0 if finite else None),
            "value": None,
            "verdict": INCONCLUSIVE,
        }
        if not values or len(finite) < len(values):
            return record
        if self.reduce == "mean":
            value = statistics.fmean(finite)
        elif self.reduce == "max":
            value = max(finite)
        elif self.reduce == "min":
            value = min(finite)
        elif self.reduce == "sum":
            value = math.fsum(finite)
        else:  # all: every seed passes iff the worst seed passes
            value = min(finite) if self.op in (">=", ">") else max(finite)
        record["value"] = value
        if self._passes(value, self.threshold):
            record["verdict"] = REPRODUCED
        elif self.inconclusive is not None and self._passes(value, self.inconclusive):
            record["verdict"] = INCONCLUSIVE
        else:
            record["verdict"] = NOT_REPRODUCED
        return record


@dataclass(frozen=True)
class Claim:
    """A paper's main claim as the library tests it.

    Attributes:
        slug: the paper's registry key.
        title: the claim in a few words.
        paper: the paper's citation.
        statement: the paper's statement, in one sentence.
        criteria: the tests of the statement (all must pass).
        deviations: how the experiment departs from the paper's.

    References:
        One ``[<slug>]`` table of ``src/icml22dl/papers/targets.toml``, built by
        :func:`load_claim`; each paper's ``docs/papers/<slug>.md`` explains its thresholds.

    Example:
        >>> fit = Criterion(id="fit", metric="acc", description="accuracy", op=">=", threshold=0.9)
        >>> claim = Claim(slug="toy", title="fits", paper="none", statement="it fits", criteria=(fit,))
        >>> claim.judge("quick", {0: {"acc": 0.95}, 1: {"acc": 0.93}})["verdict"]
        'reproduced'
        >>> claim.judge("quick", {0: {"acc": 0.95}, 1: {"acc": 0.5}})["verdict"]
        'not reproduced'
    """

    slug: str
    title: str
    paper: str
    statement: str
    criteria: tuple[Criterion, ...]
    deviations: str = ""

    def for_scale(self, scale: str) -> tuple[Criterion, ...]:
        """The criteria that apply at ``scale`` (a custom config is judged as its base scale)."""
        return tuple(c for c in self.criteria if scale in c.scales)

    def judge(self, scale: str, per_seed_metrics: Mapping[int, Mapping[str, float | None]]) -> dict[str, Any]:
        """The verdict over seeds: every criterion's record and the overall verdict.

        ``reproduced`` needs every criterion reproduced; any ``not reproduced`` criterion
        makes the claim ``not reproduced``; otherwise it is ``inconclusive``. Informational
        criteria are recorded but take no part.
        """
        records = [
            c.evaluate({seed: metrics.get(c.metric) for seed, metrics in per_seed_metrics.items()})
            for c in self.for_scale(scale)
        ]
        verdicts = {r["verdict"] for r in records if not r["informational"]}
        if not verdicts:
            verdict = INCONCLUSIVE
        elif NOT_REPRODUCED in verdicts:
            verdict = NOT_REPRODUCED
        elif verdicts == {REPRODUCED}:
            verdict = REPRODUCED
        else:
            verdict = INCONCLUSIVE
        return {
            "slug": self.slug,
            "title": self.title,
            "paper": self.paper,
            "statement": self.statement,
            "deviations": self.deviations,
            "scale": scale,
            "seeds": sorted(per_seed_metrics),
            "criteria": records,
            "verdict": verdict,
        }


def load_targets() -> dict[str, Any]:
    """The parsed ``papers/targets.toml`` shipped with the package.

    References:
        TOML v1.0.0 (read with :mod:`tomllib`); one table per paper slug.

    Example:
        >>> targets = load_targets()
        >>> "momentum" in targets and all("op" in c for c in targets["momentum"]["criteria"])
        True
    """
    # read through the top-level package: importing icml22dl.papers would import every paper
    text = resources.files("icml22dl").joinpath("papers").joinpath("targets.toml").read_text()
    return tomllib.loads(text)


def load_claim(slug: str, targets: Mapping[str, Any] | None = None) -> Claim:
    """Build the :class:`Claim` of ``slug`` from its row in the targets table.

    Raises:
        ValueError: naming the slug when the table has no row for it, or naming the
            criterion and key when a row is malformed.

    References:
        The row format of ``src/icml22dl/papers/targets.toml`` (TOML v1.0.0).

    Example:
        >>> row = {"title": "fits", "paper": "none", "statement": "it fits", "criteria": [
        ...     {"id": "fit", "metric": "acc", "description": "accuracy", "op": ">=", "threshold": 0.9}]}
        >>> load_claim("toy", {"toy": row}).criteria[0].threshold
        0.9
        >>> load_claim("nope", {"toy": row})
        Traceback (most recent call last):
        ValueError: targets.toml has no claim for slug 'nope'; it has ['toy']
    """
    targets = load_targets() if targets is None else targets
    if slug not in targets:
        raise ValueError(f"targets.toml has no claim for slug {slug!r}; it has {sorted(targets)}")
    row = targets[slug]
    criteria = []
    for entry in row.get("criteria", []):
        entry = dict(entry)
        entry["scales"] = tuple(entry.get("scales", ("quick", "paper")))
        if "bounds" in entry:
            entry["bounds"] = tuple(entry["bounds"])
        try:
            criteria.append(Criterion(**entry))
        except TypeError as error:
            raise ValueError(f"targets.toml [{slug}] criterion {entry.get('id')!r}: {error}") from None
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        raise ValueError(f"targets.toml [{slug}]: criterion ids repeat: {ids}")
    return Claim(
        slug=slug,
        title=row["title"],
        paper=row["paper"],
        statement=row["statement"],
        deviations=row.get("deviations", ""),
        criteria=tuple(criteria),
    )


def verdict_of(records: Sequence[Mapping[str, Any]]) -> str:
    """The overall verdict of several claim records (all reproduced -> reproduced)."""
    verdicts = {r["verdict"] for r in records}
    if verdicts == {REPRODUCED}:
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


@dataclass
class Diverged(Exception):
    """Raised by a paper's ``run`` when a loss goes NaN/inf; the run is recorded as diverged.

    The runner catches it (and :class:`icml22dl.train.NonFiniteLossError`) and writes the
    run's ``result.json`` with ``status: "diverged"`` and ``metrics``; a claim with a diverged
    seed is ``inconclusive``.

    References:
        IEEE 754 non-finite values (NaN, infinity); the divergence rule of
        ``docs/architecture.md``.

    Example:
        >>> try:
        ...     raise Diverged(step=7, metrics={"loss": 1e30})
        ... except Diverged as error:
        ...     print(error, error.metrics)
        diverged at step 7 {'loss': 1e+30}
    """

    step: int
    metrics: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"diverged at step {self.step}"


@contextmanager
def diverged_as(metric: str, steps_per_unit: int = 1) -> Iterator[None]:
    """Record a :class:`~icml22dl.train.NonFiniteLossError` inside the block as :class:`Diverged`.

    The diverged run's metrics hold ``metric`` = the step at which the loss went non-finite,
    counted in units of ``steps_per_unit`` steps (e.g. the epoch, 1-based).

    References:
        The run-record contract of ``docs/architecture.md``: a diverged run is stored with
        status ``diverged`` and the metrics it had, never crashing a sweep.

    Example:
        >>> from icml22dl.train import NonFiniteLossError
        >>> try:
        ...     with diverged_as("sgd_diverged_epoch", steps_per_unit=10):
        ...         raise NonFiniteLossError(step=25, value=float("nan"))
        ... except Diverged as diverged:
        ...     diverged.metrics
        {'sgd_diverged_epoch': 3.0}
    """
    try:
        yield
    except NonFiniteLossError as error:
        unit = math.ceil(error.step / steps_per_unit)
        raise Diverged(step=error.step, metrics={metric: float(unit)}) from error


def check_finite(value: float, step: int, metrics: Mapping[str, float] | None = None) -> None:
    """Raise :class:`Diverged` when ``value`` is NaN or infinite.

    References:
        IEEE 754 non-finite values, tested with :func:`math.isfinite`.

    Example:
        >>> check_finite(0.5, step=3)  # finite: nothing happens
        >>> check_finite(float("inf"), step=4, metrics={"acc": 0.1})
        Traceback (most recent call last):
        icml22dl.runner.claims.Diverged: diverged at step 4
    """
    if not math.isfinite(value):
        raise Diverged(step=step, metrics=dict(metrics or {}))
