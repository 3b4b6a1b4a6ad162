"""The sign test against a brute-force enumeration of every sign sequence."""

import itertools
import math

import pytest

from icml22dl.analysis import sign_test
from icml22dl.analysis.stats import sign_test_greater


def _brute_force(only_a: int, only_b: int) -> float:
    """Share of the 2^n equally likely sign sequences at least as unbalanced as the observed one."""
    n = only_a + only_b
    observed = abs(only_a - only_b)
    extreme = sum(1 for signs in itertools.product((1, -1), repeat=n) if abs(sum(signs)) >= observed)
    return extreme / 2**n


@pytest.mark.parametrize("only_a, only_b", [(a, b) for a in range(8) for b in range(8)])
def test_sign_test_matches_the_enumeration_of_all_sign_sequences(only_a, only_b):
    assert sign_test(only_a, only_b) == pytest.approx(_brute_force(only_a, only_b), rel=1e-12)


def test_by_hand_and_symmetry():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == pytest.approx(2 / 32)
    assert sign_test(1, 5) == pytest.approx(2 * (1 + 6) / 64)
    assert sign_test(2, 9) == sign_test(9, 2)


@pytest.mark.parametrize("bad", [(-1, 0), (0, 1.5)])
def test_bad_counts_name_themselves(bad):
    with pytest.raises(ValueError, match="only_"):
        sign_test(*bad)


def _brute_force_greater(only_a: int, only_b: int) -> float:
    """Share of the 2^n sign sequences with at least only_a pluses."""
    n = only_a + only_b
    return sum(1 for signs in itertools.product((1, 0), repeat=n) if sum(signs) >= only_a) / 2**n if n else 1.0


@pytest.mark.parametrize("only_a, only_b", [(a, b) for a in range(7) for b in range(7)])
def test_one_sided_sign_test_matches_the_enumeration(only_a, only_b):
    assert sign_test_greater(only_a, only_b) == pytest.approx(_brute_force_greater(only_a, only_b), rel=1e-12)
    if only_a + only_b:  # the two one-sided tails overlap in P(X = only_a)
        tie = math.comb(only_a + only_b, only_a) / 2 ** (only_a + only_b)
        both = sign_test_greater(only_a, only_b) + sign_test_greater(only_b, only_a)
        assert both == pytest.approx(1 + tie, rel=1e-12)


def test_one_sided_by_hand_and_bad_counts():
    assert sign_test_greater(9, 1) == pytest.approx(11 / 1024)  # C(10,9) + C(10,10) over 2^10
    assert sign_test_greater(9, 1) < 0.05 < sign_test_greater(1, 9)
    with pytest.raises(ValueError, match="only_b"):
        sign_test_greater(1, -1)
