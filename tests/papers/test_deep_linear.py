"""Paper 7 (deep_linear): presets, a claim that can fail, the quick claim from the run."""

import pytest

from icml22dl.papers.deep_linear import PAPER, PRESETS, Config, Saddle, Starts, Target, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
PINNED = {"quick": "cc424af0fcbb", "paper": "68a28a95c8f8"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_config_rules():
    with pytest.raises(ValueError, match="width 1"):
        Config(architectures=("6-2-5",))
    with pytest.raises(ValueError, match="decreasing"):
        Config(target=Target(singular_values=(1.0, 2.0)))
    with pytest.raises(ValueError, match="escape.s0"):
        Config().with_overrides(["escape.s0=2.0"])


def test_config_has_no_device_field():
    # The flows are tiny float64 CPU computations: no device field that would be ignored.
    assert "device" not in Config().flat_dict()


def test_coarse_short_flows_make_the_claim_fail(tmp_path):
    # A coarse step (RK4 errors ~ dt^4 differ between the factor and reduced forms) and a
    # cap t_max = 1 (no start converges) must fail the bars of docs/papers/deep_linear.md.
    config = PRESETS["quick"].replace(
        dt=0.05,
        starts=Starts(horizon=1.0, t_max=1.0, count=2),
        saddle=Saddle(horizon=1.0),
        architectures=("6-1-5",),
        record_every=1,
    )
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["reduced_dynamics"]["verdict"] == NOT_REPRODUCED
    assert by_id["global_minimum"]["verdict"] == NOT_REPRODUCED
    assert by_id["final_rate"]["verdict"] == "inconclusive"  # no start reached the fitting window
    assert record["verdict"] == NOT_REPRODUCED


def test_short_run_metrics():
    config = PRESETS["quick"].with_overrides(
        ["starts.horizon=2.0", "starts.count=3", "saddle.horizon=2.0", "architectures=6-1-5", "escape.s0=1e-2"]
    )
    m = run(config, 0, null_log())
    assert m["max_reduced_gap"] <= 1e-8 and m["max_balance_drift"] <= 1e-10
    assert m["max_saddle_deviation"] <= 1e-8
    # every start converges before the cap; the per-start records add up to the summaries
    times = [m[f"N2_6-1-5_start{b}_t_conv"] for b in range(3)]
    assert m["converged_fraction"] == 1.0 and m["max_convergence_time"] == max(times) < 50.0
    assert m["max_excess_loss"] <= 1e-13
    assert m["N2_6-1-5_t_conv_slope_predicted"] == 1.0  # 1 / (sigma_2^0 (sigma_1 - sigma_2))


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    results = {s: RunDir(tmp_path, "deep_linear", config.config_hash(), s).load_result()["metrics"] for s in (0, 1, 2)}
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["reduced_dynamics"]["value"] == max(r["max_reduced_gap"] for r in results.values())
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    assert by_id["global_minimum"]["value"] == min(r["converged_fraction"] for r in results.values())
    for cid in ("reduced_dynamics", "balance", "saddle", "saddle_approach", "escape_time", "global_minimum"):
        assert by_id[cid]["verdict"] == REPRODUCED
    # every start runs to convergence, so the rate criteria always have a value
    assert by_id["final_rate"]["value"] is not None and by_id["final_rate_typical"]["value"] is not None
    verdicts = {c["verdict"] for c in record["criteria"] if not c["informational"]}
    expected = (
        NOT_REPRODUCED if NOT_REPRODUCED in verdicts else (REPRODUCED if verdicts == {REPRODUCED} else "inconclusive")
    )
    assert record["verdict"] == expected
