"""Paper 5 (efld): the quick claim, judged from the run itself."""

import pytest
import torch

from icml22dl.papers.efld import PAPER, PRESETS, Bound, NoiseRuns, Pool, run, run_specs
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
# Re-pinned for issue 14: i.i.d. pool/fresh split of the MNIST train split, K = 64, alpha = 5,
# label noise on the main run.
PINNED = {"quick": "782af32057ff", "paper": "890dc05c2959"}

TINY = dict(
    data=Pool(train_pool=600, fresh_size=300),
    n_large=600,
    n_small=150,
    steps=15,
    batch_size=50,
    bound=Bound(pairs=4),
)


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_presets_keep_their_values_in_blocks():
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    assert quick.data == Pool(dataset="mnist", train_pool=8000, fresh_size=10000, shuffle=True)
    assert (quick.n_large, quick.n_small, quick.steps, quick.batch_size) == (8000, 2000, 300, 200)
    assert quick.noise.rate == 0.2
    assert (quick.bound.pairs, quick.algorithms.std_coef, quick.algorithms.effective_lr) == (64, 0.2, 0.1)
    assert (quick.algorithms.sign_alpha, quick.algorithms.quant_alpha) == (5.0, 5.0)
    assert paper.data == Pool(dataset="mnist", train_pool=50000, fresh_size=10000)
    assert (paper.model, paper.n_small, paper.bound.pairs) == ("cnn2", 12500, 64)
    assert [s.tag for s in run_specs(quick)] == ["sgld", "sign", "quant", "sgld_small", "noise_p"]
    main, noisy = run_specs(quick)[0], run_specs(quick)[-1]  # the same run but for the labels
    assert noisy._replace(tag="sgld", rate=0.0) == main and noisy.rate == 0.2
    no_noise = quick.replace(noise=NoiseRuns(rate=0.0))
    assert [s.tag for s in run_specs(no_noise)] == ["sgld", "sign", "quant", "sgld_small"]


def test_config_rejects_n_above_the_pool():
    with pytest.raises(ValueError, match="train_pool"):
        PRESETS["quick"].replace(n_large=9000)


@pytest.mark.requires_data("mnist")
def test_metrics_are_consistent_on_a_tiny_run():
    metrics = run(PRESETS["quick"].replace(**TINY), seed=0, log=null_log())
    assert metrics["n_ratio"] == pytest.approx(metrics["sgld_bound"] / metrics["sgld_small_bound"])
    assert metrics["sgld_gap"] == pytest.approx(metrics["sgld_test_err"] - metrics["sgld_train_err"])
    assert metrics["sgld_bound"] == pytest.approx(metrics["sgld_bound_c1"] * PRESETS["quick"].bound.constant, rel=1e-12)
    tags = ("sgld", "sign", "quant", "sgld_small", "noise_p")
    assert metrics["validity_margin"] == pytest.approx(min(metrics[f"{t}_bound"] - metrics[f"{t}_gap"] for t in tags))
    assert metrics["noise_bound_diff"] == pytest.approx(metrics["noise_p_bound"] - metrics["sgld_bound"])
    assert metrics["min_gap_large_n"] == min(metrics[f"{t}_gap"] for t in ("sgld", "sign", "quant"))
    third_party = metrics["sgld_bound"] / metrics["sgld_ratio_li_third_party"]
    assert third_party == pytest.approx(metrics["sgld_li"] / 2**0.5, rel=1e-9)  # the two Li constants


@pytest.mark.requires_data("mnist")
def test_pool_and_fresh_points_are_drawn_by_the_seed():
    pool = Pool(train_pool=50, fresh_size=20)
    x0, y0 = pool.load(torch.device("cpu"), torch.Generator().manual_seed(0))
    x1, _ = pool.load(torch.device("cpu"), torch.Generator().manual_seed(1))
    ordered, _ = pool.replace(shuffle=False).load(torch.device("cpu"))
    assert x0.shape == (70, 784) and y0.shape == (70,)
    assert not torch.equal(x0, x1) and not torch.equal(x0, ordered)


@pytest.mark.requires_data("mnist")
def test_without_a_change_in_n_the_one_over_n_criterion_fails(tmp_path):
    # Ablation of P5.4: the 'small' run uses the same n as the large one, so the ratio is about 1
    # (not 1/4) and the criterion, hence the claim, must fail.
    config = PRESETS["quick"].replace(**{**TINY, "n_small": TINY["n_large"]})
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["P5.4_one_over_n"]["value"] > 0.6
    assert by_id["P5.4_one_over_n"]["verdict"] == NOT_REPRODUCED and record["verdict"] == NOT_REPRODUCED


@pytest.mark.slow
@pytest.mark.requires_data("mnist")
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)  # one seed of the three judged
    metrics = RunDir(tmp_path, "efld", config.config_hash(), 0).load_result()["metrics"]
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["P5.4_one_over_n"]["value"] == pytest.approx(metrics["sgld_bound"] / metrics["sgld_small_bound"])
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    # Seed 0 over-fits too little for the regime check (SGLD gap -0.0002 < 0.01: the judged
    # verdict over seeds 0-2 is 'not reproduced', docs/papers/efld.md#latest-result); the
    # bound's own criteria hold on it.
    judged = ("P5.1_validity", "P5.2_non_vacuous", "P5.3_sharper_than_li", "P5.4_one_over_n", "P5.5_noise_bound")
    assert all(by_id[i]["verdict"] == REPRODUCED for i in judged + ("P5.5_noise_nonvacuous",))
    failed = [c["id"] for c in record["criteria"] if not c["informational"] and c["verdict"] != REPRODUCED]
    assert record["verdict"] == (REPRODUCED if not failed else NOT_REPRODUCED)
