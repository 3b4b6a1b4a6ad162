"""Statistical tests on paired outcomes (pure functions on counts)."""

from __future__ import annotations

import math

from icml22dl.validation import check_int

__all__ = ["sign_test", "sign_test_greater"]


def sign_test(only_a: int, only_b: int) -> float:
    """Two-sided exact sign test (binomial test at p = 1/2) of the discordant pairs of a paired comparison.

    Math: with ``n = only_a + only_b`` discordant pairs (a succeeded where b failed, or the
    reverse) and ``k = min(only_a, only_b)``, under the null hypothesis that both are equally
    strong each discordant pair goes either way with probability 1/2, so
    ``p = min(1, 2 sum_{i <= k} C(n, i) / 2^n)``; ``p = 1`` when there is no discordant pair.
    Concordant pairs carry no information about the difference and are ignored (McNemar's
    exact test).

    Args:
        only_a: pairs where only method a succeeded (>= 0).
        only_b: pairs where only method b succeeded (>= 0).

    Returns:
        The two-sided p-value in (0, 1].

    Example:
        >>> sign_test(5, 0)  # five of five discordant pairs favour a: 2 / 2^5
        0.0625
        >>> sign_test(3, 3)
        1.0

    References:
        Dixon & Mood, "The statistical sign test", JASA 1946; McNemar (1947). Used on the
        points only ACG or only APGD breaks (Yamamura et al., ICML 2022, compared per point;
        docs/papers/acg.md#claim-and-thresholds).
    """
    check_int("only_a", only_a, low=0)
    check_int("only_b", only_b, low=0)
    # the smaller count's tail P(X <= min) equals, by symmetry, the larger count's P(X >= max)
    return min(1.0, 2 * sign_test_greater(max(only_a, only_b), min(only_a, only_b)))


def sign_test_greater(only_a: int, only_b: int) -> float:
    """One-sided exact sign test that method a is the stronger: ``P(X >= only_a)``, ``X ~ Binomial(n, 1/2)``.

    Math: with ``n = only_a + only_b`` discordant pairs, under the null hypothesis that both
    methods are equally strong each discordant pair favours a with probability 1/2, so
    ``p = sum_{i >= only_a} C(n, i) / 2^n``; ``p = 1`` when there is no discordant pair.
    ``sign_test_greater(b, a)`` tests the other direction; the two one-sided p-values add
    up to ``1 + P(X = only_a)``.

    Args:
        only_a: pairs where only method a succeeded (>= 0).
        only_b: pairs where only method b succeeded (>= 0).

    Returns:
        The one-sided p-value in (0, 1].

    Example:
        >>> sign_test_greater(5, 0)  # five of five discordant pairs favour a: 1 / 2^5
        0.03125
        >>> sign_test_greater(0, 5), sign_test_greater(0, 0)
        (1.0, 1.0)

    References:
        Dixon & Mood, "The statistical sign test", JASA 1946 (one-sided form); used on the
        points only ACG or only APGD breaks (Yamamura et al., ICML 2022, claim that ACG finds
        more adversarial examples; docs/papers/acg.md#claim-and-thresholds).
    """
    check_int("only_a", only_a, low=0)
    check_int("only_b", only_b, low=0)
    n = only_a + only_b
    if n == 0:
        return 1.0
    return min(1.0, sum(math.comb(n, i) for i in range(only_a, n + 1)) / 2**n)
