"""Paper 6 (local_augmentation): presets, metrics, a claim that can fail, and the quick claim."""

import pytest

pytest.importorskip("torch_geometric")

from icml22dl.papers.local_augmentation import CVAE, PAPER, PRESETS, Backbone, Config, GATReport, run  # noqa: E402
from icml22dl.runner import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim  # noqa: E402

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
# Re-pinned when the flat fields became the blocks model, opt and cvae (same values); re-pinned
# for issue 15 (pairs: the gate's paired inits; gat: the LA-GAT report).
PINNED = {"quick": "a5e1dc9a6b28", "paper": "40a26a135809", "gpu_check": "c4fbd5894943"}

TINY = dict(
    datasets=("cora",),
    samples=(2,),
    epochs=(3,),
    cvae=CVAE(epochs=(1,), batch=(256,), lr=(1e-3,), bank_size=2),
    pairs=1,
    gat=GATReport(datasets=()),
)


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_config_checks_lengths_and_names():
    with pytest.raises(ValueError, match="samples"):
        Config(samples=(4,))
    with pytest.raises(ValueError, match="datasets"):
        Config(datasets=("cora", "reddit"))
    with pytest.raises(ValueError, match="cvae.lr"):
        Config(cvae=CVAE(lr=(0.01,)))
    with pytest.raises(ValueError, match="bank_size"):
        Config(model=Backbone(concat=3), cvae=CVAE(bank_size=2))
    with pytest.raises(ValueError, match="gat.datasets"):
        Config(datasets=("citeseer",), samples=(2,), epochs=(5,), cvae=CVAE(epochs=(1,), batch=(1,), lr=(0.1,)))


def test_blocks_are_set_from_the_command_line():
    config = PRESETS["quick"].with_overrides(["cvae.u_every=20", "model.backbone=gat", "opt.lr=0.005"])
    assert (config.cvae.u_every, config.model.backbone, config.opt.lr) == (20, "gat", 0.005)
    assert config.config_hash() != PRESETS["quick"].config_hash()


@pytest.mark.requires_data("cora")
def test_metrics_are_paired_gaps():
    metrics = run(Config(**TINY), seed=0, log=null_log())
    assert metrics["cora_la_gain"] == pytest.approx(metrics["cora_la_acc"] - metrics["cora_gcn_acc"])
    assert metrics["cora_cons_gain"] == pytest.approx(metrics["cora_cons_acc"] - metrics["cora_gcn_acc"])
    assert metrics["cora_la_minus_cons"] == pytest.approx(metrics["cora_la_acc"] - metrics["cora_cons_acc"])
    assert metrics["cora_cvae_steps"] == 42  # ceil(10556 / 256) pairs per epoch
    assert metrics["cora_cvae_final_loss"] < metrics["cora_cvae_first_loss"]
    assert "la_minus_cons" not in metrics  # one pair: no paired bound


@pytest.mark.requires_data("cora")
def test_pairs_pool_into_a_paired_bound_and_the_gat_pair_is_reported():
    from icml22dl.graphs import paired_lower_bound

    config = Config(**dict(TINY, pairs=3, gat=GATReport(datasets=("cora",), epochs=2, heads=1)))
    metrics = run(config, seed=0, log=null_log())
    single = run(Config(**TINY), seed=0, log=null_log())
    # The first pair is the unchanged paired trio; two more (consistency-only, LA) pairs follow.
    assert metrics["cora_la_acc"] == single["cora_la_acc"] and metrics["cora_cons_acc"] == single["cora_cons_acc"]
    assert metrics["la_minus_cons"] == pytest.approx(metrics["cora_la_minus_cons"])  # one dataset: the same pairs
    assert metrics["la_minus_cons_lcb"] < metrics["la_minus_cons"] or metrics["la_minus_cons_lcb"] == pytest.approx(
        metrics["la_minus_cons"]
    )
    mean, bound = paired_lower_bound([metrics["cora_la_minus_cons"]] * 3)
    assert bound == pytest.approx(mean)  # three equal pairs: no spread, the bound is the mean
    assert metrics["cora_lagat_gain"] == pytest.approx(metrics["cora_lagat_acc"] - metrics["cora_gat_acc"])


@pytest.mark.requires_data("cora")
def test_gat_backbone_path_runs():
    metrics = run(Config(**TINY, model=Backbone(backbone="gat", heads=2, dropout=0.6)), seed=0, log=null_log())
    assert all(0.0 <= metrics[f"cora_{k}_acc"] <= 1.0 for k in ("gcn", "cons", "la"))


@pytest.mark.requires_data("cora")
def test_the_claim_can_fail(tmp_path):
    # Three epochs leave every model far below the 82.5 % Cora bar: the verdict must say so.
    config = PRESETS["quick"].replace(**TINY)
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["cora_la_acc"]["verdict"] == NOT_REPRODUCED
    assert record["verdict"] == NOT_REPRODUCED


@pytest.mark.slow
@pytest.mark.requires_data("cora")
def test_paper_path_with_u_score_and_fresh_draws_runs():
    # The paper preset's code path (U-score selection, fresh X_bar per draw, input dropout
    # on every branch) at toy size.
    cvae = PRESETS["paper"].cvae.replace(epochs=(1,), batch=(64,), lr=(0.01,), u_passes=2, u_every=40, u_warmup=50)
    gat = PRESETS["paper"].gat.replace(datasets=("cora",), epochs=2, samples=2, heads=1)
    config = PRESETS["paper"].replace(
        datasets=("cora",), samples=(2,), epochs=(2,), cvae=cvae, gat=gat, pairs=2, device="cpu"
    )
    metrics = run(config, seed=0, log=null_log())
    assert metrics["cora_cvae_best_u_score"] <= 1e-6
    assert 0.0 <= metrics["cora_la_acc"] <= 1.0
    assert 0.0 <= metrics["cora_lagat_acc"] <= 1.0 and metrics["la_minus_cons_lcb"] <= metrics["la_minus_cons"]


@pytest.mark.slow
@pytest.mark.requires_data("cora", "citeseer")
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    results = {
        s: RunDir(tmp_path, "local_augmentation", config.config_hash(), s).load_result()["metrics"] for s in (0, 1, 2)
    }
    by_id = {c["id"]: c for c in record["criteria"]}
    for name in ("cora", "citeseer"):
        gains = [results[s][f"{name}_la_acc"] - results[s][f"{name}_gcn_acc"] for s in (0, 1, 2)]
        assert by_id[f"{name}_gain"]["value"] == pytest.approx(sum(gains) / 3)
    deciding = [c["verdict"] for c in record["criteria"] if not c["informational"]]
    expected = REPRODUCED if all(v == REPRODUCED for v in deciding) else NOT_REPRODUCED
    if INCONCLUSIVE in deciding and NOT_REPRODUCED not in deciding:
        expected = INCONCLUSIVE
    assert record["verdict"] == expected
    # Report per seed, the ablation beside LA-GCN (no assertion on the verdict itself: the
    # CiteSeer bar is thin at quick scale, see docs/papers/local_augmentation.md#claim-and-thresholds).
    print({k: [round(results[s][k], 4) for s in (0, 1, 2)] for k in PAPER.summary})
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
