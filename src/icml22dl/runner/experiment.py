"""The contract between a paper module and the runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from icml22dl.runner.claims import Claim
from icml22dl.runner.config import ExperimentConfig
from icml22dl.runner.store import RunLog

SCALES = ("quick", "paper")

#: ``run(config, seed, log) -> metrics``; ``config`` is typed ``Any`` because each paper's
#: ``run`` takes its own ``Config`` subclass (a callable of a subclass is not a callable of
#: the base class for the type checker).
RunFn = Callable[[Any, int, RunLog], Mapping[str, float]]


@dataclass(frozen=True)
class Curve:
    """A step-wise plot for the report: ``y`` keys of ``metrics.jsonl`` against ``x``.

    References:
        The report's figures (:mod:`icml22dl.report.plots`), drawn with matplotlib.

    Example:
        >>> Curve("training loss", ("loss",), logy=True).to_dict()["y"]
        ['loss']
    """

    title: str
    y: tuple[str, ...]
    x: str = "step"
    ylabel: str = ""
    logy: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"title": self.title, "x": self.x, "y": list(self.y), "ylabel": self.ylabel, "logy": self.logy}


@dataclass(frozen=True)
class Paper:
    """One paper's experiment: config class, presets, run function and claim.

    Attributes:
        slug: the registry key (``icml22dl run <slug>``).
        config_class: the paper's frozen ``Config`` dataclass.
        presets: at least ``quick`` (CPU, minutes) and ``paper`` (the paper's own setting).
        run: ``run(config, seed, log) -> {metric: value}``, the metrics of one seed.
        claim: the claim and its criteria, from the targets table.
        components: the public components the paper contributes, for the README table.
        curves: step-wise figures for the report.
        summary: per-seed metrics the CLI prints beside the criteria's own.
        seeds: default seeds of a claim check.
        data: per scale (preset name), the data sets it reads (names of
            :data:`icml22dl.data.catalog.CATALOG`); a scale not listed reads none. ``run`` and
            ``reproduce`` check (and fetch) them before any work starts.

    References:
        The paper-module contract of ``docs/architecture.md``; registered in
        :data:`icml22dl.papers.PAPERS`.

    Example:
        >>> from dataclasses import dataclass
        >>> from icml22dl.runner import Criterion, ExperimentConfig, param
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     value: float = param(1.0, help="what the run reports")
        >>> criterion = Criterion(id="c", metric="value", description="the value", op=">=", threshold=0.5)
        >>> claim = Claim(slug="toy", title="t", paper="none", statement="s", criteria=(criterion,))
        >>> paper = Paper("toy", Config, {"quick": Config(), "paper": Config(value=2.0)},
        ...               lambda config, seed, log: {"value": config.value}, claim)
        >>> paper.preset("paper").value
        2.0
        >>> paper.preset("huge")
        Traceback (most recent call last):
        ValueError: scale='huge' is unknown for 'toy': choose one of ['paper', 'quick']
    """

    slug: str
    config_class: type[ExperimentConfig]
    presets: Mapping[str, ExperimentConfig]
    run: RunFn
    claim: Claim
    components: tuple[str, ...] = ()
    curves: tuple[Curve, ...] = ()
    summary: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    data: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [s for s in SCALES if s not in self.presets]
        if missing:
            raise ValueError(f"paper {self.slug!r} lacks presets {missing}")
        for name, preset in self.presets.items():
            if not isinstance(preset, self.config_class):
                raise ValueError(f"paper {self.slug!r}: preset {name!r} is not a {self.config_class.__name__}")
        unknown = [scale for scale in self.data if scale not in self.presets]
        if unknown:
            raise ValueError(f"paper {self.slug!r} declares data for scales {unknown} it has no preset for")
        if self.claim.slug != self.slug:
            raise ValueError(f"paper {self.slug!r} carries the claim of {self.claim.slug!r}")

    def preset(self, scale: str) -> ExperimentConfig:
        """The preset config of ``scale``; unknown scales raise ``ValueError`` naming them."""
        if scale not in self.presets:
            raise ValueError(f"scale={scale!r} is unknown for {self.slug!r}: choose one of {sorted(self.presets)}")
        return self.presets[scale]

    @property
    def title(self) -> str:
        return self.claim.title
