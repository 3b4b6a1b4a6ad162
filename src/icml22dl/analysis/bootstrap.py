"""Bootstrap spread of a ratio of paired means.

A solver's mean error over test images divided by a baseline's mean error over the same
images is the reported figure of merit of SGILO vs ILO; resampling the images (with their
pairs) gives its sampling spread.

References:
    B. Efron, R. Tibshirani. An Introduction to the Bootstrap. Chapman & Hall, 1993,
    Ch. 6 (bootstrap standard error); the paired ratio of means is used by
    docs/papers/sgilo.md#claim-and-thresholds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from icml22dl.validation import check_int

__all__ = ["bootstrap_ratio_interval", "bootstrap_ratio_std"]


def _resampled_ratios(num: Tensor, den: Tensor, resamples: int, generator: torch.Generator | None) -> Tensor:
    """The ``B`` bootstrap ratios ``mean(num[I_b]) / mean(den[I_b])`` (one CPU index matrix ``(B, n)``)."""
    idx = torch.randint(0, len(num), (resamples, len(num)), generator=generator)
    return num.cpu()[idx].mean(dim=1) / den.cpu()[idx].mean(dim=1)


def _check_pair(num: Tensor, den: Tensor) -> None:
    if num.shape != den.shape or num.ndim != 1 or len(num) == 0:
        raise ValueError(f"num.shape={tuple(num.shape)} and den.shape={tuple(den.shape)} must be one non-empty (n,)")


def bootstrap_ratio_interval(
    num: Tensor,
    den: Tensor,
    resamples: int,
    generator: torch.Generator | None = None,
    level: float = 0.95,
) -> tuple[float, float]:
    r"""Percentile bootstrap interval of ``mean(num) / mean(den)`` over paired items.

    .. math::
        \Big[q_{(1-\ell)/2},\; q_{(1+\ell)/2}\Big] \text{ of }
        \Big\{\frac{\sum_i \mathrm{num}_{I_{bi}}}{\sum_i \mathrm{den}_{I_{bi}}}\Big\}_{b=1}^{B}

    Items are resampled in pairs, as in :func:`bootstrap_ratio_std`; the interval's ends are the
    empirical quantiles (linear interpolation, ``torch.quantile``) of the ``B`` ratios.

    Args:
        num: per-item values of the numerator ``(n,)`` (e.g. SGILO's error per image).
        den: per-item values of the denominator ``(n,)`` (e.g. ILO's error on the same images).
        resamples: number of bootstrap resamples ``B``; fewer than 2 gives ``(nan, nan)``.
        generator: CPU random source of the resampling indices.
        level: two-sided coverage in (0, 1) (0.95: the 2.5 % and 97.5 % quantiles).

    Returns:
        ``(low, high)``.

    Example:
        >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
        >>> bootstrap_ratio_interval(x, x, 100, torch.Generator().manual_seed(0))  # a ratio of 1 every time
        (1.0, 1.0)
        >>> low, high = bootstrap_ratio_interval(x, 2 * x.flip(0), 2000, torch.Generator().manual_seed(0))
        >>> low < 0.5 < high  # the ratio of the full sample, 10 / 20, lies inside
        True

    References:
        Efron & Tibshirani (1993), Ch. 13 (percentile intervals); used for the SGILO / ILO error
        ratio of Daras et al., ICML 2022 (docs/papers/sgilo.md#claim-and-thresholds).
    """
    check_int("resamples", resamples, low=0)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} must lie in (0, 1)")
    _check_pair(num, den)
    if resamples < 2:
        return math.nan, math.nan
    ratios = _resampled_ratios(num, den, resamples, generator).double()
    ends = torch.quantile(ratios, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(ends[0]), float(ends[1])


def bootstrap_ratio_std(num: Tensor, den: Tensor, resamples: int, generator: torch.Generator | None = None) -> float:
    r"""Standard deviation of ``mean(num) / mean(den)`` over bootstrap resamples of paired items.

    .. math::
        \mathrm{std}_b\Big(\frac{\tfrac1n\sum_i \mathrm{num}_{I_{bi}}}{\tfrac1n\sum_i \mathrm{den}_{I_{bi}}}\Big),
        \qquad I_{bi} \sim \mathcal U\{0, \dots, n-1\}

    Item ``i`` of ``num`` and of ``den`` is resampled together (one index matrix of shape
    ``(resamples, n)``, drawn on the CPU), so the spread accounts for the pairing.

    Args:
        num: per-item values of the numerator ``(n,)`` (e.g. SGILO's error per image).
        den: per-item values of the denominator ``(n,)`` (e.g. ILO's error on the same images).
        resamples: number of bootstrap resamples ``B``; fewer than 2 gives NaN.
        generator: CPU random source of the resampling indices.

    Returns:
        The sample standard deviation (unbiased, as ``torch.std``) of the ``B`` ratios.

    Example:
        >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
        >>> bootstrap_ratio_std(x, x, 100, torch.Generator().manual_seed(0))  # a ratio of 1 every time
        0.0
        >>> bootstrap_ratio_std(x, torch.ones(4), 1)
        nan

    References:
        Efron & Tibshirani (1993), Ch. 6; SGILO (Daras et al., ICML 2022) reports the ratio of
        SGILO to ILO errors, whose spread this measures (docs/papers/sgilo.md).
    """
    check_int("resamples", resamples, low=0)
    _check_pair(num, den)
    if resamples < 2:
        return math.nan
    return float(_resampled_ratios(num, den, resamples, generator).std())
