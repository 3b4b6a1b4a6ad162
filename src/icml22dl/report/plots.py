"""Figures of the report as PNG bytes: criterion values over seeds, and training curves.

matplotlib is the optional extra ``plots``. It is imported when a figure is drawn, never
when this module is imported, and only through its object-oriented API on an Agg canvas:
no pyplot, so drawing neither switches the caller's backend nor leaves figures open in
pyplot's registry (a figure is freed once its PNG is written).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from icml22dl.report.aggregate import ClaimRun, Criterion, Curve, read_metrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
GOOD = "#2e7d32"
BAD = "#c62828"
NEUTRAL = "#757575"
PAPER = "#1565c0"
VERDICT_COLOURS = {"reproduced": GOOD, "not reproduced": BAD}
_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def verdict_colour(verdict: str) -> str:
    """Green for ``reproduced``, red for ``not reproduced``, grey for anything else."""
    return VERDICT_COLOURS.get(verdict, NEUTRAL)


def require_matplotlib() -> None:
    """Raise ``ImportError`` naming the ``plots`` extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("the report's figures need matplotlib: pip install icml22dl[plots]") from error


def criterion_figure(claim: ClaimRun) -> bytes | None:
    """One panel per criterion: per-seed values, mean, threshold and paper value.

    Points and mean take the criterion's verdict colour; the threshold is a dashed black
    line, the inconclusive band (between ``inconclusive`` and the threshold) is shaded
    grey, and the paper's value is a dotted blue line. ``None`` when there are no criteria.

    Raises:
        ImportError: naming ``pip install icml22dl[plots]`` when matplotlib is missing.
    """
    if not claim.criteria:
        return None
    count = len(claim.criteria)
    ncols = min(count, 3)
    nrows = math.ceil(count / ncols)
    fig = _new_figure(3.1 * ncols, 2.9 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, crit in zip(axes, claim.criteria, strict=False):
        _draw_criterion(ax, crit)
    for ax in axes[count:]:
        fig.delaxes(ax)
    return _png(fig)


def curve_figures(claim: ClaimRun) -> list[tuple[Curve, bytes | None]]:
    """Each of the claim's curves with its PNG: per y key, mean over seeds and min-max band.

    Every seed folder with a ``metrics.jsonl`` contributes, finished or not. A curve none
    of whose keys has a finite value yet comes with ``None`` instead of a PNG.

    Raises:
        ImportError: naming ``pip install icml22dl[plots]`` when matplotlib is missing.
    """
    if not claim.curves:
        return []
    logs = [read_metrics(run.metrics_file) for run in claim.runs]
    return [(curve, _curve_png(curve, logs)) for curve in claim.curves]


def mean_band(
    logs: Sequence[Sequence[dict[str, float]]], x: str, y: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Mean, min and max of ``y`` over seeds at each value of ``x``.

    Args:
        logs: per seed, the records of its ``metrics.jsonl`` (see ``read_metrics``).
        x: the key on the horizontal axis (``step``).
        y: the key to summarise.

    Returns:
        ``(xs, mean, low, high)`` over the sorted union of the seeds' ``x`` values, each
        statistic over the seeds with a finite ``y`` there (a seed that logs ``x`` twice
        counts with its last value); points where no seed has one are dropped. ``None``
        when no point is left.
    """
    per_seed = []
    for records in logs:
        series = {r[x]: r[y] for r in records if x in r and y in r and math.isfinite(r[x])}
        if series:
            per_seed.append(series)
    xs = np.array(sorted(set().union(*per_seed)), dtype=float)
    if xs.size == 0:
        return None
    index = {value: i for i, value in enumerate(xs.tolist())}
    values = np.full((len(per_seed), xs.size), np.nan)
    for row, series in enumerate(per_seed):
        for key, value in series.items():
            values[row, index[key]] = value
    finite = np.isfinite(values)
    keep = finite.any(axis=0)
    if not keep.any():
        return None
    values, finite, xs = values[:, keep], finite[:, keep], xs[keep]
    mean = np.where(finite, values, 0.0).sum(axis=0) / finite.sum(axis=0)
    low = np.where(finite, values, np.inf).min(axis=0)
    high = np.where(finite, values, -np.inf).max(axis=0)
    return xs, mean, low, high


def _draw_criterion(ax: Axes, crit: Criterion) -> None:
    colour = verdict_colour(crit.verdict)
    values = list(crit.per_seed.values())
    offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
    ax.scatter(offsets, values, color=colour, alpha=0.85, zorder=3, label="seeds")
    if crit.mean is not None:
        ax.hlines(crit.mean, -0.3, 0.3, colors=colour, linewidth=2.5, zorder=2, label="mean")
    if crit.value is not None and crit.reduce not in ("", "mean"):
        ax.scatter([0.4], [crit.value], marker="D", color=colour, zorder=3, label=_plain(crit.reduce))
    if crit.threshold is not None:
        op = _OPS.get(crit.op, crit.op)
        ax.axhline(crit.threshold, color="black", linestyle="--", linewidth=1, label=_plain(f"pass: {op} threshold"))
        if crit.inconclusive is not None:
            ax.axhspan(crit.inconclusive, crit.threshold, color=NEUTRAL, alpha=0.15, lw=0, label="inconclusive")
    if crit.paper_value is not None:
        ax.axhline(crit.paper_value, color=PAPER, linestyle=":", linewidth=1.5, label="paper")
    ax.set_xlim(-0.6, 0.6)
    ax.set_xticks([])
    ax.set_title(_plain(f"{crit.id}: {crit.verdict}"), color=colour, fontsize=9)
    ax.set_ylabel(_plain(crit.metric), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="best")


def _curve_png(curve: Curve, logs: Sequence[Sequence[dict[str, float]]]) -> bytes | None:
    bands = {key: band for key in curve.y if (band := mean_band(logs, curve.x, key)) is not None}
    if not bands:
        return None
    fig = _new_figure(5.4, 3.3)
    ax = fig.subplots()
    for key, (xs, mean, low, high) in bands.items():
        (line,) = ax.plot(xs, mean, linewidth=1.5, label=_plain(key))
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if curve.logy:
        ax.set_yscale("log")
    ax.set_title(_plain(curve.title), fontsize=10)
    ax.set_xlabel(_plain(curve.x), fontsize=8)
    ax.set_ylabel(_plain(curve.ylabel), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def _new_figure(width: float, height: float) -> Figure:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _plain(text: str) -> str:
    """Text from disk, with ``$`` escaped so matplotlib never parses it as mathtext."""
    return text.replace("$", r"\$")
