"""Paper 1 (momentum): the quick claim, judged from the run itself."""

import math

import pytest

from icml22dl.papers.momentum import PAPER, PRESETS, CifarGD, Config, CubicNet, MarginData, run
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
# Re-pinned when the flat fields became the blocks data, net and cifar (same values).
PINNED = {"quick": "260b393538e1", "paper": "7698d982c576", "gpu_check": "b62dfad8b8f9"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_presets_keep_their_values_in_blocks():
    quick, paper, gpu = PRESETS["quick"], PRESETS["paper"], PRESETS["gpu_check"]
    assert quick.data == MarginData(dim=30, patches=5, mu=0.2, alpha=0.2, sigma=0.3)
    assert quick.net == CubicNet(filters=10, init_scale=0.5)
    assert (quick.lr, quick.momentum, quick.iterations) == (1.0, 0.9, 300)
    assert (paper.task, paper.lr, paper.cifar) == ("cifar10", 0.1, CifarGD(batch_size=1000, amp=True))
    assert gpu.data == MarginData(dim=1000, patches=8, sigma=0.05)
    assert (gpu.net.filters, gpu.train_size, gpu.test_size, gpu.iterations) == (20, 5000, 5000, 1000)


def test_gpu_check_is_judged_by_the_synthetic_criteria():
    # Issue 14: the larger synthetic setting is judged like quick (CIFAR's bar stays at paper).
    assert [c.id for c in PAPER.claim.for_scale("gpu_check")] == ["train_fit", "z2_gap", "test_gap", "mechanism"]
    assert [c.id for c in PAPER.claim.for_scale("paper")] == ["cifar_gap"]


def test_gd_and_gdm_share_the_initialisation_and_metrics_are_consistent():
    metrics = run(Config(iterations=5, train_size=50, test_size=200), seed=0, log=null_log())
    assert metrics["z2_gap"] == pytest.approx(metrics["gdm_z2_test_acc"] - metrics["gd_z2_test_acc"])
    assert metrics["test_gap"] == pytest.approx(metrics["gdm_test_acc"] - metrics["gd_test_acc"])
    assert 0.0 < metrics["z2_train_fraction"] < 1.0


def test_without_momentum_the_two_runs_coincide_and_the_claim_fails(tmp_path):
    # gamma = 0 turns GD+M into GD: identical trajectories, zero gaps, so the verdict
    # must be 'not reproduced'. This is what makes the quick check able to fail.
    config = PRESETS["quick"].replace(momentum=0.0, iterations=100)
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    metrics = RunDir(tmp_path, "momentum", config.config_hash(), 0).load_result()["metrics"]
    assert metrics["z2_gap"] == 0.0 and metrics["alignment_gap"] == 0.0
    assert record["verdict"] == NOT_REPRODUCED


def test_divergence_is_recorded(tmp_path):
    config = PRESETS["quick"].replace(data=MarginData(sigma=3.0), lr=50.0, iterations=50)
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    assert record["statuses"] == {"0": "diverged"}
    assert record["verdict"] == "inconclusive"


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    results = {s: RunDir(tmp_path, "momentum", config.config_hash(), s).load_result() for s in (0, 1, 2)}
    by_id = {c["id"]: c for c in record["criteria"]}
    # Every criterion's value is recomputed here from the seeds' result files.
    z2 = [results[s]["metrics"]["gdm_z2_test_acc"] - results[s]["metrics"]["gd_z2_test_acc"] for s in (0, 1, 2)]
    assert by_id["z2_gap"]["value"] == pytest.approx(sum(z2) / 3)
    assert by_id["train_fit"]["value"] == min(r["metrics"]["min_train_acc"] for r in results.values())
    assert by_id["mechanism"]["value"] == min(r["metrics"]["alignment_gap"] for r in results.values())
    assert by_id["wall_time"]["value"] == pytest.approx(math.fsum(r["metrics"]["run_wall_s"] for r in results.values()))
    # The wall time is reported but never decides the verdict (issue 14: a slow machine must not flip it).
    assert by_id["wall_time"]["informational"]
    deciding = [c for c in record["criteria"] if not c["informational"]]
    expected = REPRODUCED if all(c["verdict"] == REPRODUCED for c in deciding) else NOT_REPRODUCED
    assert record["verdict"] == expected
    # The claim as docs/papers/momentum.md states it (thresholds fixed before the run): report, then assert.
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    assert record["verdict"] == REPRODUCED


@pytest.mark.slow
@pytest.mark.requires_data("cifar10")
def test_paper_scale_cifar_path_runs_end_to_end_on_a_subset():
    # The paper preset's code path (CIFAR-10 JPEG pack, full-batch accumulation, both
    # optimisers from one init) on 64 training and 64 test images, 2 full-batch steps.
    config = PRESETS["paper"].replace(
        cifar=CifarGD(model="resnet18_cifar", train_subset=64, test_subset=64, batch_size=32),
        iterations=2,
        device="cpu",
    )
    metrics = run(config, seed=0, log=null_log())
    assert set(metrics) >= {"gd_test_acc", "gdm_test_acc", "gd_train_acc", "test_gap"}
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("gd_test_acc", "gdm_test_acc", "gd_train_acc", "gdm_train_acc"))
