"""The bootstrap spread of a paired ratio of means, against a plain-Python resampling loop."""

import math
import random

import pytest
import torch

from icml22dl.analysis import bootstrap_ratio_interval, bootstrap_ratio_std


def test_bootstrap_matches_a_python_loop_on_the_same_indices():
    num = torch.tensor([0.1, 0.4, 0.2, 0.9, 0.3])
    den = torch.tensor([0.2, 0.5, 0.1, 1.0, 0.6])
    got = bootstrap_ratio_std(num, den, 200, torch.Generator().manual_seed(3))
    idx = torch.randint(0, 5, (200, 5), generator=torch.Generator().manual_seed(3)).tolist()
    ratios = [sum(float(num[i]) for i in row) / sum(float(den[i]) for i in row) for row in idx]
    mean = sum(ratios) / len(ratios)
    expected = math.sqrt(sum((r - mean) ** 2 for r in ratios) / (len(ratios) - 1))
    assert got == pytest.approx(expected, rel=1e-5)


def test_bootstrap_spread_shrinks_like_one_over_sqrt_n():
    rng = random.Random(0)
    spreads = []
    for n in (100, 400):
        num = torch.tensor([rng.uniform(0.5, 1.5) for _ in range(n)])
        den = torch.tensor([rng.uniform(0.5, 1.5) for _ in range(n)])
        spreads.append(bootstrap_ratio_std(num, den, 2000, torch.Generator().manual_seed(n)))
    assert spreads[0] / spreads[1] == pytest.approx(2.0, rel=0.2)


def test_bootstrap_edge_cases():
    x = torch.ones(3)
    assert math.isnan(bootstrap_ratio_std(x, x, 0))
    with pytest.raises(ValueError, match="resamples=-1"):
        bootstrap_ratio_std(x, x, -1)
    with pytest.raises(ValueError, match="shape"):
        bootstrap_ratio_std(x, torch.ones(2), 10)


def test_interval_is_the_percentile_interval_of_a_python_loop():
    num = torch.tensor([0.1, 0.4, 0.2, 0.9, 0.3, 0.7])
    den = torch.tensor([0.2, 0.5, 0.1, 1.0, 0.6, 0.4])
    low, high = bootstrap_ratio_interval(num, den, 400, torch.Generator().manual_seed(5), level=0.9)
    idx = torch.randint(0, 6, (400, 6), generator=torch.Generator().manual_seed(5)).tolist()
    ratios = sorted(sum(float(num[i]) for i in row) / sum(float(den[i]) for i in row) for row in idx)

    def quantile(q):  # linear interpolation between order statistics, as torch.quantile
        pos = q * (len(ratios) - 1)
        lo = int(pos)
        return ratios[lo] + (pos - lo) * (ratios[min(lo + 1, len(ratios) - 1)] - ratios[lo])

    assert low == pytest.approx(quantile(0.05), rel=1e-5)
    assert high == pytest.approx(quantile(0.95), rel=1e-5)


def test_interval_covers_the_true_ratio_about_as_often_as_stated():
    # 200 samples of 100 paired items with true ratio of means 0.8: a 90 % interval should
    # cover 0.8 in about 90 % of them (binomial sd 2 %; percentile intervals under-cover a little).
    gen = torch.Generator().manual_seed(0)
    covered = 0
    for _ in range(200):
        den = torch.rand(100, generator=gen) + 0.5
        num = 0.8 * den * (1 + 0.3 * torch.randn(100, generator=gen))
        low, high = bootstrap_ratio_interval(num, den, 300, gen, level=0.9)
        covered += low <= 0.8 <= high
    assert 0.82 <= covered / 200 <= 0.97


def test_interval_edge_cases():
    x = torch.ones(3)
    assert all(math.isnan(v) for v in bootstrap_ratio_interval(x, x, 1))
    with pytest.raises(ValueError, match="level"):
        bootstrap_ratio_interval(x, x, 10, level=1.0)
    with pytest.raises(ValueError, match="shape"):
        bootstrap_ratio_interval(x, torch.ones(2), 10)
