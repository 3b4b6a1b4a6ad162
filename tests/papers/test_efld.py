"""Paper 5 (efld): the quick claim, judged from the run itself."""

import pytest

from icml22dl.papers.efld import PAPER, PRESETS, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
PINNED = {"quick": "8027bebf0d76", "paper": "9754d06088aa"}

TINY = dict(train_pool=600, fresh_size=300, n_large=600, n_small=150, steps=15, noise_n=300, noise_steps=15,
            batch_size=50, pairs=4)


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_metrics_are_consistent_on_a_tiny_run():
    metrics = run(PRESETS["quick"].replace(**TINY), seed=0, log=null_log())
    assert metrics["n_ratio"] == pytest.approx(metrics["sgld_bound"] / metrics["sgld_small_bound"])
    assert metrics["sgld_gap"] == pytest.approx(metrics["sgld_test_err"] - metrics["sgld_train_err"])
    assert metrics["sgld_bound"] == pytest.approx(metrics["sgld_bound_c1"] * PRESETS["quick"].constant, rel=1e-12)
    tags = ("sgld", "sign", "quant", "sgld_small", "noise_p0", "noise_p")
    assert metrics["validity_margin"] == pytest.approx(min(metrics[f"{t}_bound"] - metrics[f"{t}_gap"] for t in tags))


def test_without_a_change_in_n_the_one_over_n_criterion_fails(tmp_path):
    # Ablation of P5.4: the 'small' run uses the same n as the large one, so the ratio is about 1
    # (not 1/4) and the criterion, hence the claim, must fail.
    config = PRESETS["quick"].replace(**{**TINY, "n_small": TINY["n_large"]})
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["P5.4_one_over_n"]["value"] > 0.6
    assert by_id["P5.4_one_over_n"]["verdict"] == NOT_REPRODUCED and record["verdict"] == NOT_REPRODUCED


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    metrics = RunDir(tmp_path, "efld", config.config_hash(), 0).load_result()["metrics"]
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["P5.4_one_over_n"]["value"] == pytest.approx(metrics["sgld_bound"] / metrics["sgld_small_bound"])
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    assert record["verdict"] == REPRODUCED
