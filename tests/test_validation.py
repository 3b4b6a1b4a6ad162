"""Argument validation: each check accepts what it should and names the value in one message format."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from icml22dl.validation import (
    check_choice,
    check_int,
    check_number,
    check_positive,
    check_probability,
    in_range,
    range_text,
)


def raises(message: str):
    return pytest.raises(ValueError, match="^" + re.escape(message) + "$")


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({}, ""),
        ({"low": 0}, ">= 0"),
        ({"low": 0, "low_inclusive": False}, "> 0"),
        ({"high": 1.5}, "<= 1.5"),
        ({"high": 1, "high_inclusive": False}, "< 1"),
        ({"low": 0, "high": 1, "high_inclusive": False}, ">= 0 and < 1"),
    ],
)
def test_range_text(kwargs, text):
    assert range_text(**kwargs) == text


def test_in_range_honours_inclusive_bounds_and_rejects_nan():
    assert in_range(0.0, 0.0, 1.0) and in_range(1.0, 0.0, 1.0)
    assert not in_range(0.0, 0.0, 1.0, low_inclusive=False)
    assert not in_range(1.0, 0.0, 1.0, high_inclusive=False)
    assert in_range(5) and in_range(-math.inf)
    assert not in_range(float("nan")) and not in_range(np.float32("nan"))
    assert not in_range(-0.1, 0.0) and not in_range(2, high=1)


def test_check_number_accepts_real_numbers_in_range():
    for value in (0, 0.5, 1, np.float32(0.25), np.float64(0.75), np.int64(1)):
        check_number("x", value, low=0, high=1)
    check_number("x", math.inf, finite=False)
    check_number("x", -3.0)


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (-1.0, {"low": 0.0, "low_inclusive": False}, "lr=-1.0 is out of range: must be > 0.0"),
        (0.0, {"low": 0.0, "low_inclusive": False}, "lr=0.0 is out of range: must be > 0.0"),
        (2, {"low": 0, "high": 1}, "lr=2 is out of range: must be >= 0 and <= 1"),
        (1.0, {"high": 1.0, "high_inclusive": False}, "lr=1.0 is out of range: must be < 1.0"),
        (math.inf, {}, "lr=inf is out of range: must be finite"),
        (math.inf, {"low": 0}, "lr=inf is out of range: must be finite and >= 0"),
        (math.nan, {}, "lr=nan is out of range: must be finite"),
        (math.nan, {"finite": False}, "lr=nan is out of range: must be a number"),
        (True, {}, "lr=True has the wrong type: expected a real number"),
        (np.bool_(False), {}, "lr=np.False_ has the wrong type: expected a real number"),
        ("0.1", {}, "lr='0.1' has the wrong type: expected a real number"),
        (None, {}, "lr=None has the wrong type: expected a real number"),
        (1j, {}, "lr=1j has the wrong type: expected a real number"),
    ],
)
def test_check_number_names_the_value_and_the_range(value, kwargs, message):
    with raises(message):
        check_number("lr", value, **kwargs)


def test_check_number_rejects_tensors():
    with raises("lr=tensor(0.1000) has the wrong type: expected a real number"):
        check_number("lr", torch.tensor(0.1))


def test_check_int():
    check_int("steps", 3, low=1)
    check_int("steps", np.int64(3), low=1, high=3)
    check_int("steps", -5)
    with raises("steps=0 is out of range: must be >= 1"):
        check_int("steps", 0, low=1)
    with raises("steps=4 is out of range: must be >= 1 and <= 3"):
        check_int("steps", 4, low=1, high=3)
    with raises("steps=2.5 has the wrong type: expected int"):
        check_int("steps", 2.5)
    with raises("steps=2.0 has the wrong type: expected int"):
        check_int("steps", 2.0)
    with raises("steps=True has the wrong type: expected int"):
        check_int("steps", True)
    with raises("steps='3' has the wrong type: expected int"):
        check_int("steps", "3")


def test_check_positive():
    check_positive("sigma", 1e-12)
    check_positive("sigma", 0, allow_zero=True)
    with raises("sigma=0 is out of range: must be > 0"):
        check_positive("sigma", 0)
    with raises("sigma=-1.0 is out of range: must be >= 0"):
        check_positive("sigma", -1.0, allow_zero=True)
    with raises("sigma=inf is out of range: must be finite and > 0"):
        check_positive("sigma", math.inf)


def test_check_probability():
    for p in (0, 0.0, 0.3, 1, 1.0):
        check_probability("p", p)
    check_probability("p", 0.999, allow_one=False)
    with raises("p=1.0 is out of range: must be >= 0 and < 1"):
        check_probability("p", 1.0, allow_one=False)
    with raises("p=1.5 is out of range: must be >= 0 and <= 1"):
        check_probability("p", 1.5)
    with raises("p=-0.1 is out of range: must be >= 0 and <= 1"):
        check_probability("p", -0.1)
    with raises("p=nan is out of range: must be finite and >= 0 and <= 1"):
        check_probability("p", math.nan)


def test_check_choice():
    check_choice("form", "ema", ("ema", "heavy_ball"))
    check_choice("k", 2, [1, 2])
    with raises("form='nesterov' is not allowed: choose one of ['ema', 'heavy_ball']"):
        check_choice("form", "nesterov", ("ema", "heavy_ball"))
    with raises("k=3 is not allowed: choose one of [1, 2]"):
        check_choice("k", 3, [1, 2])


def test_messages_match_the_config_fields_format():
    # the same words as `icml22dl run --set` prints for a config field, minus the owner prefix
    from dataclasses import dataclass

    from icml22dl.runner import ExperimentConfig, param

    @dataclass(frozen=True)
    class Config(ExperimentConfig):
        lr: float = param(0.1, low=0.0, low_inclusive=False)

    with pytest.raises(ValueError) as from_config:
        Config(lr=-1.0)
    with pytest.raises(ValueError) as from_check:
        check_number("lr", -1.0, low=0.0, low_inclusive=False)
    assert str(from_config.value) == "Config." + str(from_check.value)
