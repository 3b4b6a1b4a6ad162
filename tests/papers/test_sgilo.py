"""Paper 15 (sgilo): the theory and practice claims, judged from the run itself."""

import math

import pytest

from icml22dl.papers.sgilo import PAPER, PRESETS, Config, WideCode, run, wide_config
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
# Re-pinned for issue 14: the wide-code regime (block `wide`; the paper preset skips it with code 0).
PINNED = {"quick": "18b32bdcb973", "paper": "2b97bba791c6"}

TINY_THEORY = ["theory.widths=5,60,400", "theory.measurements=60", "theory.chains=8", "theory.steps=200"]
TINY_PRACTICE = [
    "data.train_size=300",
    "data.test_size=40",
    "vae.steps=100",
    "vae.invert_steps=20",
    "score.steps=30",
    "csgm.steps=30",
    "ilo.steps=30",
    "sgilo.steps=30",
    "sgilo.average=10",
    "bootstrap=50",
]


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_metrics_are_consistent_on_a_tiny_run():
    metrics = run(Config().with_overrides(TINY_THEORY + TINY_PRACTICE), seed=0, log=null_log())
    for m in (12, 24):
        assert metrics[f"sgilo_ilo_ratio_m{m}"] == pytest.approx(metrics[f"sgilo_m{m}"] / metrics[f"ilo_m{m}"])
        assert metrics[f"sgilo_prior_ratio_m{m}"] == pytest.approx(
            metrics[f"sgilo_m{m}"] / metrics[f"sgilo_noprior_m{m}"]
        )
        assert metrics[f"ilo_best_m{m}"] <= metrics[f"ilo_m{m}"] + 1e-12
        for base in ("ilo", "ilo_best", "prior"):  # the interval brackets the ratio of the full sample
            low, high = metrics[f"sgilo_{base}_ratio_lo95_m{m}"], metrics[f"sgilo_{base}_ratio_hi95_m{m}"]
            assert low <= metrics[f"sgilo_{base}_ratio_m{m}"] <= high
    assert metrics["sgilo_ratio_gap"] == pytest.approx(metrics["sgilo_ilo_ratio_m12"] - metrics["sgilo_ilo_ratio_m24"])
    for m in (5, 13):  # the wide-code regime, prefixed
        assert metrics[f"wide_sgilo_ilo_best_ratio_m{m}"] == pytest.approx(
            metrics[f"wide_sgilo_m{m}"] / metrics[f"wide_ilo_best_m{m}"]
        )
    assert "wide_theory_near_frac" not in metrics
    assert metrics["theory_spread_ratio_max"] >= metrics["theory_spread_ratio_min"]
    assert 0.0 <= metrics["theory_near_frac"] <= 1.0
    assert metrics["theory_near_frac"] == min(metrics["theory_near_frac_b1000"], metrics["theory_near_frac_b4000"])


def test_without_the_prior_the_practice_claim_fails(tmp_path):
    # Score weight 0 turns SGILO into its own no-prior ablation: p3 (SGILO below the same
    # sampler without the prior, beyond the test images' noise) must then fail.
    config = PRESETS["quick"].with_overrides(["part=practice", "sgilo.lams=0,0", *TINY_PRACTICE])
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["p3_prior_matters"]["value"] == pytest.approx(1.0, abs=0.05)
    # Without the prior the two samplers differ only by their noise draws: the ratio's interval
    # over the test images must contain 1, so the interval criterion fails.
    assert by_id["p3_prior_ci"]["value"] > 1.0
    assert by_id["p3_prior_ci"]["verdict"] == NOT_REPRODUCED
    assert record["verdict"] == NOT_REPRODUCED


def test_hot_chains_fail_the_theory_claim(tmp_path):
    # At beta = 2 the chains wander far from x* (spread ~ 1/beta): T1 must fail.
    config = PRESETS["quick"].with_overrides(["part=theory", "theory.betas=2,8", *TINY_THEORY])
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["t1_near"]["verdict"] == NOT_REPRODUCED
    assert record["verdict"] == NOT_REPRODUCED


def test_cached_models_load_safely_and_give_the_same_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ICML22DL_CACHE", str(tmp_path))
    config = Config().with_overrides(["part=practice", "cache=true", *TINY_PRACTICE])
    first = run(config, 0, null_log())
    second = run(config, 0, null_log())
    assert first["cache_hit"] == 0.0 and second["cache_hit"] == 1.0
    assert list(tmp_path.glob("sgilo/*.pt"))
    assert second["sgilo_m12"] == pytest.approx(first["sgilo_m12"], rel=1e-6)


def test_wide_regime_is_the_practice_part_on_16x16_digits_with_a_larger_code():
    quick = PRESETS["quick"]
    wide = wide_config(quick)
    assert (wide.data.dataset, wide.vae.code, wide.measurements) == ("digits16", 96, (5, 13))
    assert [round(m / 256, 2) for m in wide.measurements] == [0.02, 0.05]  # m/n of 2 % and 5 %
    assert wide.wide.code == 0 and wide.csgm == quick.csgm and wide.score == quick.score
    assert PRESETS["paper"].wide.code == 0  # the MNIST GPU check skips it
    with pytest.raises(ValueError, match="WideCode.lams"):
        WideCode(lams=(1.0,))


def test_bad_config_raises():
    with pytest.raises(ValueError, match="ilo.radii"):
        Config(measurements=(12,))
    with pytest.raises(ValueError, match="Config.sgilo.average"):
        Config().with_overrides(["sgilo.steps=10"])
    with pytest.raises(ValueError, match="vit_tokens"):
        Config().with_overrides(["score.model=vit", "score.vit_tokens=5"])


def test_the_device_field_is_used():
    # The run computes where ``device`` says (the paper preset asks for a GPU when there is one).
    assert PRESETS["quick"].device == "cpu" and PRESETS["paper"].device == "auto"


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    seeds = list(PAPER.seeds)
    record = run_claim(PAPER, config, seeds, tmp_path, "quick", quiet=True)
    results = {s: RunDir(tmp_path, "sgilo", config.config_hash(), s).load_result() for s in seeds}
    by_id = {c["id"]: c for c in record["criteria"]}
    ratio = [results[s]["metrics"]["sgilo_m12"] / results[s]["metrics"]["ilo_m12"] for s in seeds]
    assert by_id["p1_low_m"]["value"] == pytest.approx(sum(ratio) / len(ratio))
    assert by_id["t1_near"]["value"] == min(r["metrics"]["theory_near_frac"] for r in results.values())
    judged = [c for c in record["criteria"] if not c["informational"]]
    expected = REPRODUCED if all(c["verdict"] == REPRODUCED for c in judged) else NOT_REPRODUCED
    assert record["verdict"] == expected
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    # The theory criteria reproduce; the practice gain is thin and absent in the wide-code regime
    # (docs/papers/sgilo.md#latest-result).
    assert all(
        by_id[i]["verdict"] == REPRODUCED
        for i in ("t1_near", "t1_antipodal", "t2_spread_high", "t2_spread_low", "t3_scaling_low", "t3_scaling_high")
    )
    assert all(math.isfinite(by_id[i]["value"]) for i in by_id)


@pytest.mark.slow
@pytest.mark.requires_data("mnist")
def test_paper_scale_path_runs_end_to_end_on_mnist_with_a_vit_score():
    # The paper preset's code path (MNIST, split VAE, ViT score with patch size 1, four m
    # values) at toy sizes on the CPU.
    config = PRESETS["paper"].with_overrides(
        [
            "device=cpu",
            "part=practice",
            "data.train_size=200",
            "data.test_size=20",
            "vae.steps=20",
            "vae.invert_steps=5",
            "score.steps=5",
            "score.hidden=32",
            "score.vit_depth=1",
            "csgm.steps=5",
            "ilo.steps=5",
            "sgilo.steps=10",
            "sgilo.average=5",
            "bootstrap=10",
        ]
    )
    metrics = run(config, seed=0, log=null_log())
    assert {"sgilo_ilo_ratio_m16", "sgilo_ilo_ratio_m39", "sgilo_ilo_ratio_m196"} <= set(metrics)
