"""The sign test against a brute-force enumeration of every sign sequence."""

import itertools

import pytest

from icml22dl.analysis import sign_test


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
