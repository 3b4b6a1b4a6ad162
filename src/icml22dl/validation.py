"""Argument validation shared by every component and by the experiment configs.

Each check raises ``ValueError`` with one message format, the one ``icml22dl run --set``
prints for a bad config field::

    lr=-1.0 is out of range: must be > 0
    form='nesterov' is not allowed: choose one of ['ema', 'heavy_ball']
    steps=2.5 has the wrong type: expected int

so a user always sees the name, the bad value and what is allowed.

References:
    The format follows :mod:`icml22dl.runner.config`, which validates config fields with
    the same functions.

Example:
    >>> from icml22dl.validation import check_number, check_choice
    >>> check_number("lr", 0.1, low=0.0, low_inclusive=False)
    >>> check_number("lr", -1.0, low=0.0, low_inclusive=False)
    Traceback (most recent call last):
    ValueError: lr=-1.0 is out of range: must be > 0.0
    >>> check_choice("form", "nesterov", ("ema", "heavy_ball"))
    Traceback (most recent call last):
    ValueError: form='nesterov' is not allowed: choose one of ['ema', 'heavy_ball']
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_int",
    "check_number",
    "check_positive",
    "check_probability",
    "in_range",
    "range_text",
]


def range_text(
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> str:
    """The allowed range in words: ``">= 0 and < 1"``; empty when unbounded.

    References:
        The message format of :mod:`icml22dl.runner.config` (``name=value is out of range:
        must be ...``), shared by every component and config.

    Example:
        >>> range_text(0, 1, high_inclusive=False)
        '>= 0 and < 1'
        >>> range_text()
        ''
    """
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high}")
    return " and ".join(parts)


def in_range(
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> bool:
    """Whether ``value`` lies in the range (NaN never does).

    References:
        IEEE 754 comparisons, with NaN outside every range.

    Example:
        >>> in_range(1.0, 0.0, 1.0), in_range(1.0, 0.0, 1.0, high_inclusive=False), in_range(float("nan"))
        (True, False, False)
    """
    if isinstance(value, numbers.Real) and math.isnan(value):
        return False
    if low is not None and (value < low or (value == low and not low_inclusive)):
        return False
    if high is not None and (value > high or (value == high and not high_inclusive)):
        return False
    return True


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    """A real number: Python ``int``/``float`` or a numpy scalar, never a ``bool``."""
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_int(value: Any) -> bool:
    """An integer: Python ``int`` or a numpy integer scalar, never a ``bool``."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = True,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number (finite by default) in the range.

    Args:
        name: the argument's name, as the caller spells it.
        value: the value to check; ``bool`` is not a number here.
        low, high: the bounds (``None``: unbounded).
        low_inclusive, high_inclusive: whether the bounds themselves are allowed.
        finite: also reject ``inf``.

    References:
        The message format of :mod:`icml22dl.runner.config` (``name=value is out of range:
        must be ...``), shared by every component and config.

    Example:
        >>> check_number("momentum", 0.9, low=0.0, high=1.0, high_inclusive=False)
        >>> check_number("momentum", 1.0, low=0.0, high=1.0, high_inclusive=False)
        Traceback (most recent call last):
        ValueError: momentum=1.0 is out of range: must be >= 0.0 and < 1.0
        >>> check_number("momentum", "0.9")
        Traceback (most recent call last):
        ValueError: momentum='0.9' has the wrong type: expected a real number
    """
    if not _is_number(value):
        raise ValueError(f"{name}={value!r} has the wrong type: expected a real number")
    bounds = range_text(low, high, low_inclusive=low_inclusive, high_inclusive=high_inclusive)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is out of range: must be finite" + (f" and {bounds}" if bounds else ""))
    if not in_range(value, low, high, low_inclusive=low_inclusive, high_inclusive=high_inclusive):
        raise ValueError(f"{name}={value!r} is out of range: must be {bounds or 'a number'}")


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an ``int`` (not ``bool``) in ``[low, high]``.

    numpy integer scalars count as integers.

    References:
        The message format of :mod:`icml22dl.runner.config` (``name=value is out of range:
        must be ...``), shared by every component and config.

    Example:
        >>> check_int("epochs", 10, low=1)
        >>> check_int("epochs", 2.5, low=1)
        Traceback (most recent call last):
        ValueError: epochs=2.5 has the wrong type: expected int
        >>> check_int("epochs", 0, low=1)
        Traceback (most recent call last):
        ValueError: epochs=0 is out of range: must be >= 1
    """
    if not _is_int(value):
        raise ValueError(f"{name}={value!r} has the wrong type: expected int")
    if not in_range(value, low, high):
        raise ValueError(f"{name}={value!r} is out of range: must be {range_text(low, high)}")


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number ``> 0`` (``>= 0`` with ``allow_zero``).

    References:
        The message format of :mod:`icml22dl.runner.config` (``name=value is out of range:
        must be ...``), shared by every component and config.

    Example:
        >>> check_positive("sigma", 0.0, allow_zero=True)
        >>> check_positive("sigma", 0.0)
        Traceback (most recent call last):
        ValueError: sigma=0.0 is out of range: must be > 0
    """
    check_number(name, value, low=0, low_inclusive=allow_zero)


def check_probability(name: str, value: Any, *, allow_one: bool = True) -> None:
    """Raise ``ValueError`` unless ``value`` lies in ``[0, 1]`` (``[0, 1)`` without ``allow_one``).

    References:
        The message format of :mod:`icml22dl.runner.config` (``name=value is out of range:
        must be ...``), shared by every component and config.

    Example:
        >>> check_probability("rate", 1.0)
        >>> check_probability("rate", 1.0, allow_one=False)
        Traceback (most recent call last):
        ValueError: rate=1.0 is out of range: must be >= 0 and < 1
    """
    check_number(name, value, low=0, high=1, high_inclusive=allow_one)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``.

    References:
        The message format of :mod:`icml22dl.runner.config` (``name=value is out of range:
        must be ...``), shared by every component and config.

    Example:
        >>> check_choice("split", "test", ("train", "test"))
        >>> check_choice("split", "val", ("train", "test"))
        Traceback (most recent call last):
        ValueError: split='val' is not allowed: choose one of ['train', 'test']
    """
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not allowed: choose one of {list(choices)}")
