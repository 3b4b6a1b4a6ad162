"""The report's figures: PNG bytes, the mean/min-max band, the optional matplotlib."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from icml22dl.report import load_claims
from icml22dl.report.plots import criterion_figure, curve_figures, mean_band

PNG = b"\x89PNG\r\n\x1a\n"


def test_criterion_figure_is_png(fake_root: Path) -> None:
    adai, momentum = load_claims(fake_root)
    assert criterion_figure(momentum).startswith(PNG)
    assert criterion_figure(adai).startswith(PNG)  # one seed value missing


def test_curve_figures_one_per_curve(fake_root: Path) -> None:
    adai, momentum = load_claims(fake_root)
    figures = curve_figures(momentum)
    assert [curve.title for curve, _ in figures] == [c.title for c in momentum.curves]
    assert all(png is not None and png.startswith(PNG) for _, png in figures)  # incl. "$" in title, log y
    ((_, png),) = curve_figures(adai)  # the unfinished seed's log is used as far as it goes
    assert png is not None and png.startswith(PNG)


def test_curve_without_data_gives_none(fake_root: Path) -> None:
    _, momentum = load_claims(fake_root)
    for run in momentum.runs:
        run.metrics_file.unlink()
    assert [png for _, png in curve_figures(momentum)] == [None, None]


def test_mean_band_aligns_steps_across_seeds() -> None:
    logs = [
        [{"step": 0.0, "a": 1.0}, {"step": 1.0, "a": 3.0}, {"step": 1.0, "a": 5.0}],  # step 1 logged twice
        [{"step": 0.0, "a": 3.0}, {"step": 2.0, "a": math.nan}, {"step": 3.0, "b": 1.0}],
        [],
    ]
    xs, mean, low, high = mean_band(logs, "step", "a")
    np.testing.assert_array_equal(xs, [0.0, 1.0])  # step 2 has no finite value, step 3 no "a"
    np.testing.assert_array_equal(mean, [2.0, 5.0])
    np.testing.assert_array_equal(low, [1.0, 5.0])
    np.testing.assert_array_equal(high, [3.0, 5.0])
    assert mean_band(logs, "step", "missing") is None


def test_missing_matplotlib_names_the_extra(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, momentum = load_claims(fake_root)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install icml22dl\[plots\]"):
        criterion_figure(momentum)


def test_import_loads_neither_matplotlib_nor_papers() -> None:
    code = (
        "import sys, icml22dl.report\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'matplotlib' or m.startswith('icml22dl.papers')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_pyplot_figures_left_open(fake_root: Path) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    before = pyplot.get_fignums() if pyplot else []
    _, momentum = load_claims(fake_root)
    criterion_figure(momentum)
    curve_figures(momentum)
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert (pyplot.get_fignums() if pyplot else []) == before
