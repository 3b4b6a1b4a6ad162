import math

import pytest

from icml22dl.runner.claims import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    Criterion,
    load_claim,
    load_targets,
)


def crit(**kw):
    base = dict(id="c", metric="m", description="d", op=">=", threshold=1.0)
    return Criterion(**{**base, **kw})


def test_mean_reduction_and_summary():
    record = crit(reduce="mean").evaluate({0: 0.5, 1: 1.5, 2: 1.3})
    assert record["value"] == pytest.approx(1.1)
    assert record["std"] == pytest.approx(0.52915, rel=1e-4)
    assert record["verdict"] == REPRODUCED
    assert record["per_seed"] == {"0": 0.5, "1": 1.5, "2": 1.3}


def test_all_needs_every_seed():
    assert crit(reduce="all").evaluate({0: 2.0, 1: 0.9})["verdict"] == NOT_REPRODUCED
    assert crit(reduce="all", op="<", threshold=1.0).evaluate({0: 0.2, 1: 0.9})["verdict"] == REPRODUCED
    assert crit(reduce="all", op="<", threshold=1.0).evaluate({0: 0.2, 1: 1.0})["verdict"] == NOT_REPRODUCED
    assert crit(reduce="sum", op="<=", threshold=3.0).evaluate({0: 1.0, 1: 2.5})["verdict"] == NOT_REPRODUCED


def test_inconclusive_band():
    c = crit(threshold=0.15, inconclusive=0.05)
    assert c.evaluate({0: 0.10})["verdict"] == INCONCLUSIVE
    assert c.evaluate({0: 0.01})["verdict"] == NOT_REPRODUCED
    with pytest.raises(ValueError, match="failing side"):
        crit(threshold=0.15, inconclusive=0.2)


def test_a_missing_or_nan_seed_is_inconclusive_never_a_pass():
    assert crit().evaluate({0: 2.0, 1: None})["verdict"] == INCONCLUSIVE
    assert crit().evaluate({0: 2.0, 1: math.nan})["verdict"] == INCONCLUSIVE


def test_claim_verdict_combines_criteria_of_the_scale():
    claim = Claim("s", "t", "p", "st", (crit(id="a"), crit(id="b", scales=("paper",))))
    assert [c["id"] for c in claim.judge("quick", {0: {"m": 2.0}})["criteria"]] == ["a"]
    assert claim.judge("quick", {0: {"m": 2.0}})["verdict"] == REPRODUCED
    assert claim.judge("quick", {0: {"m": 0.0}})["verdict"] == NOT_REPRODUCED
    assert claim.judge("quick", {0: {}})["verdict"] == INCONCLUSIVE


def test_an_informational_criterion_is_reported_but_never_decides():
    timing = crit(id="speed", metric="t", informational=True)
    claim = Claim("s", "t", "p", "st", (crit(id="a"), timing))
    judged = claim.judge("quick", {0: {"m": 2.0, "t": 0.0}})
    assert judged["verdict"] == REPRODUCED
    assert [c["verdict"] for c in judged["criteria"]] == [REPRODUCED, NOT_REPRODUCED]
    assert judged["criteria"][1]["informational"] is True
    only_informational = Claim("s", "t", "p", "st", (timing,))
    assert only_informational.judge("quick", {0: {"t": 2.0}})["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize(
    ("op", "threshold", "message"),
    [(">=", 0.0, "cannot fail"), ("<=", 1.0, "cannot fail"), (">", 1.0, "cannot pass"), ("<", 0.0, "cannot pass")],
)
def test_a_bar_outside_the_metrics_range_is_rejected(op, threshold, message):
    with pytest.raises(ValueError, match=message):
        crit(op=op, threshold=threshold, bounds=(0.0, 1.0))
    assert crit(op=op, threshold=0.5, bounds=(0.0, 1.0)).bounds == (0.0, 1.0)


def test_every_declared_range_leaves_the_targets_bars_crossable():
    # A bar outside its metric's range would pass (or fail) every run: check both ends of each range.
    checked = 0
    for slug in load_targets():
        for c in load_claim(slug).criteria:
            if c.bounds is None:
                continue
            low, high = c.bounds  # an open end is stood in for by a finite value beyond the bar
            low = low if math.isfinite(low) else c.threshold - 1.0 - abs(c.threshold)
            high = high if math.isfinite(high) else c.threshold + 1.0 + abs(c.threshold)
            outcomes = {c.evaluate({0: low})["verdict"], c.evaluate({0: high})["verdict"]}
            assert REPRODUCED in outcomes and outcomes - {REPRODUCED}, f"{slug}.{c.id}: bar {c.threshold} in {c.bounds}"
            checked += 1
    assert checked >= 50  # accuracies, AUROCs, p-values, shares: most bounded metrics declare their range


def test_bad_criteria_are_rejected():
    with pytest.raises(ValueError, match="op='=='"):
        crit(op="==")
    with pytest.raises(ValueError, match="reduce='median'"):
        crit(reduce="median")


def test_targets_table_rows_build_claims():
    targets = load_targets()
    for slug in targets:
        claim = load_claim(slug, targets)
        assert claim.criteria, slug
        for criterion in claim.criteria:
            assert criterion.why, f"{slug}.{criterion.id} has no reason for its threshold"
    with pytest.raises(ValueError, match="no claim for slug 'nope'"):
        load_claim("nope", targets)


def test_diverged_as_records_the_unit_of_a_non_finite_fit_loss():
    import torch

    from icml22dl.runner import Diverged, diverged_as
    from icml22dl.train import fit

    model = torch.nn.Linear(2, 2)
    x, y = torch.randn(8, 2), torch.zeros(8, dtype=torch.long)

    def loss_fn(model, batch):  # finite for the first 5 steps, then NaN
        loss_fn.calls += 1
        out = model(batch.x).sum()
        return out * float("nan") if loss_fn.calls > 5 else out

    loss_fn.calls = 0
    with pytest.raises(Diverged) as info:
        with diverged_as("sgd_diverged_epoch", steps_per_unit=4):  # 4 steps of 2 make an epoch
            fit(model, torch.optim.SGD(model.parameters(), lr=0.0), x, y, epochs=3, batch_size=2, loss_fn=loss_fn)
    assert info.value.step == 6
    assert info.value.metrics == {"sgd_diverged_epoch": 2.0}


def test_diverged_as_lets_other_errors_through():
    from icml22dl.runner import diverged_as

    with pytest.raises(KeyError):
        with diverged_as("x"):
            raise KeyError("not a divergence")
