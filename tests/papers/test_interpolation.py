"""Paper 2 (interpolation): presets, a claim that can fail, the quick claim from the run."""

import math

import pytest

from icml22dl.papers.blocks import Optim
from icml22dl.papers.interpolation import PAPER, PRESETS, Config, DataSplit, PathEval, Training, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
# Re-pinned when the flat fields became the blocks net, data, train, opt, schedule and path (same values).
PINNED = {"quick": "57c30fa0124f", "paper": "a9fb65780e5e", "gpu_check": "19bb109a73ba"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_config_rules():
    with pytest.raises(ValueError, match="model"):
        Config(task="digits", model="resnet18_cifar")
    with pytest.raises(ValueError, match="paper_accuracies"):
        Config(paper_accuracies=(0.9,))
    with pytest.raises(ValueError, match="opt.weight_decay"):
        Config(opt=Optim(name="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4))
    with pytest.raises(ValueError, match="BatchNorm needs two"):  # 1345 = 21 * 64 + 1
        Config(data=DataSplit(train_size=1345))
    with pytest.raises(ValueError, match="data.train_size"):
        Config(data=DataSplit(train_size=1797))


def test_presets_keep_their_values_in_blocks():
    quick, paper, gpu = PRESETS["quick"], PRESETS["paper"], PRESETS["gpu_check"]
    assert (quick.train.epochs, quick.train.batch_size, quick.opt.lr, quick.opt.momentum) == (60, 64, 0.05, 0.9)
    assert (quick.schedule.kind, quick.path.points, quick.path.split) == ("cosine", 21, "train")
    assert quick.data.train_size == 1347
    assert (paper.train.epochs, paper.train.batch_size, paper.train.augment, paper.opt.lr) == (100, 128, True, 0.1)
    assert paper.path == PathEval(points=25, split="test", bn_batch_size=500, bn_batches=20)
    assert (gpu.weight_decays, gpu.train.epochs, gpu.path.layerwise) == ((5e-4,), 20, False)


def test_metrics_are_consistent_on_a_short_run():
    m = run(Config(train=Training(epochs=2), path=PathEval(points=5)), seed=0, log=null_log())
    assert m["alpha_drop_gap"] == pytest.approx(m["wd0.05_alpha_drop"] - m["wd0_alpha_drop"])
    assert m["acc_gap"] == pytest.approx(m["wd0.05_test_acc"] - m["wd0_test_acc"])
    assert m["wd0_path_loss_start"] == m["wd0.05_path_loss_start"]  # one shared initialisation
    layers = {k for k in m if k.startswith("wd0_layer_")}
    assert layers >= {"wd0_layer_layer1_max_loss", "wd0_layer_classifier_max_loss"}


def test_identical_arms_make_the_claim_fail(tmp_path):
    # Both arms without weight decay: identical training, identical paths, zero alpha_drop
    # gap, so the verdict must be 'not reproduced'. This is what makes the check able to fail.
    config = PRESETS["quick"].replace(
        weight_decays=(0.0, 0.0), train=Training(epochs=10), path=PathEval(layerwise=False)
    )
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    metrics = RunDir(tmp_path, "interpolation", config.config_hash(), 0).load_result()["metrics"]
    assert metrics["alpha_drop_gap"] == 0.0 and metrics["acc_gap"] == 0.0
    assert record["verdict"] == NOT_REPRODUCED


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    runs = {s: RunDir(tmp_path, "interpolation", config.config_hash(), s) for s in (0, 1, 2)}
    results = {s: run_dir.load_result()["metrics"] for s, run_dir in runs.items()}
    by_id = {c["id"]: c for c in record["criteria"]}
    gaps = [results[s]["wd0.05_alpha_drop"] - results[s]["wd0_alpha_drop"] for s in (0, 1, 2)]
    assert by_id["alpha_drop_gap"]["value"] == pytest.approx(sum(gaps) / 3)
    assert by_id["wall_time"]["value"] == pytest.approx(math.fsum(r["run_wall_s"] for r in results.values()))
    assert by_id["wall_time"]["informational"]  # issue 14: a slow machine must not flip the verdict
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    # the bars of docs/papers/interpolation.md, fixed before the run; wall time depends on the machine's load
    assert by_id["alpha_drop_gap"]["verdict"] == REPRODUCED
    assert by_id["accuracy_unchanged_upper"]["verdict"] == REPRODUCED
    assert by_id["accuracy_unchanged_lower"]["verdict"] == REPRODUCED


@pytest.mark.slow
@pytest.mark.requires_data("cifar10")
def test_paper_scale_cifar_path_runs_end_to_end_on_a_subset():
    config = PRESETS["paper"].replace(
        data=DataSplit(train_subset=64, test_subset=64),
        train=Training(epochs=1, batch_size=32, augment=True),
        path=PathEval(points=3, split="test", bn_batch_size=32, bn_batches=1, layerwise=False),
        weight_decays=(0.0, 5e-4),
        paper_accuracies=(0.9, 0.922),
        device="cpu",
        amp=False,
    )
    m = run(config, seed=0, log=null_log())
    assert {"max_acc_deviation", "plateau_rel_dev", "no_wd_monotone", "wd0_test_acc"} <= set(m)
    assert 0.0 <= m["wd0_test_acc"] <= 1.0
