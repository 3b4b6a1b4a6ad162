"""Paper 13 (step_size_bias): presets, a claim that can fail, the quick claim from the run."""

import pytest

from icml22dl.papers.step_size_bias import PAPER, PRESETS, Config, Problem, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
PINNED = {"quick": "735172f37d5e", "paper": "8e621e386f19"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_config_rules():
    with pytest.raises(ValueError, match="underdetermined"):
        Config(problem=Problem(examples=300))
    with pytest.raises(ValueError, match="large_fraction"):
        Config(large_fraction=0.33)
    with pytest.raises(ValueError, match="Config.gd.tol"):
        Config().with_overrides(["gd.tol=-1"])


def test_config_has_no_device_field():
    # Tiny float64 problems computed on the CPU: no device field that would be ignored.
    assert "device" not in Config().flat_dict()


def test_no_large_step_makes_the_claim_fail(tmp_path):
    # 'large' step equal to the gradient-flow-like one: the pooled gain is exactly 1 > 0.5.
    config = PRESETS["quick"].replace(fractions=(0.02, 0.2), large_fraction=0.02, mus=(1.0, 0.0), problems=2)
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    metrics = RunDir(tmp_path, "step_size_bias", config.config_hash(), 0).load_result()["metrics"]
    assert metrics["step_size_gain"] == 1.0 and metrics["pooled_gain"] == 1.0
    assert {c["id"]: c["verdict"] for c in record["criteria"]}["step_size_gain"] == NOT_REPRODUCED
    assert record["verdict"] == NOT_REPRODUCED


def test_metrics_are_consistent_on_a_small_run():
    config = PRESETS["quick"].replace(fractions=(0.02, 0.2, 0.8), mus=(1.0, 0.0), problems=2)
    m = run(config, 0, null_log())
    gain = m["mu1_f0.8_a0.1_median_test_error"] / m["mu1_f0.02_a0.1_median_test_error"]
    assert m["step_size_gain"] == pytest.approx(gain)
    assert m["attempted_runs"] == 2 * 2 * 3 and m["converged_runs"] <= m["attempted_runs"]
    assert m["large_converged"] == m["mu1_f0.8_a0.1_converged"]
    # pooled gain: summed large-step errors over summed gradient-flow-like errors, same problems
    # over the problems where both runs converged (a non-converged run has a NaN error)
    pairs = [(m[f"large_test_error_problem{p}"], m[f"gf_test_error_problem{p}"]) for p in range(2)]
    pairs = [(e, r) for e, r in pairs if e == e and r == r]
    assert m["large_test_error_sum"] == pytest.approx(sum(e for e, _ in pairs))
    assert m["gf_test_error_sum"] == pytest.approx(sum(r for _, r in pairs))
    assert m["pooled_gain"] == pytest.approx(m["large_test_error_sum"] / m["gf_test_error_sum"])
    assert m["mu1_f0.8_a0.1_error_ratio"] == m["pooled_gain"]
    assert m["mu1_f0.02_a0.1_error_ratio"] == 1.0 and m["mu0_f0.02_a0.1_error_ratio"] == 1.0


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    results = {
        s: RunDir(tmp_path, "step_size_bias", config.config_hash(), s).load_result()["metrics"] for s in (0, 1, 2)
    }
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["step_size_gain"]["value"] == pytest.approx(sum(r["pooled_gain"] for r in results.values()) / 3)
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    for cid in ("weighted_l1_bound", "sharpness_bound", "gf_kkt", "large_step_converges"):
        assert by_id[cid]["verdict"] == REPRODUCED
    verdicts = {c["verdict"] for c in record["criteria"] if not c["informational"]}
    expected = (
        NOT_REPRODUCED if NOT_REPRODUCED in verdicts else (REPRODUCED if verdicts == {REPRODUCED} else "inconclusive")
    )
    assert record["verdict"] == expected
