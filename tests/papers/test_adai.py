"""Paper 8 (adai): the quick claim, judged from the run itself."""

import pytest
import torch

from icml22dl.papers.adai import PAPER, PRESETS, Config, run, wilson_data
from icml22dl.runner import NOT_REPRODUCED, REPRODUCED, RunDir, null_log, run_claim

# Run-directory hashes of the presets: a change orphans stored results (update deliberately).
PINNED = {"quick": "22c31feff492", "paper": "710287b39e5a", "gpu_check": "b481909e97ec"}


def test_preset_hashes_are_pinned():
    assert {scale: preset.config_hash() for scale, preset in PRESETS.items()} == PINNED


def test_wilson_data_layout():
    x, y = wilson_data(10, 0.6, torch.Generator().manual_seed(0))
    assert x.shape == (10, 63)
    assert torch.equal(x[:, 0], y) and (x[:, 1:3] == 1).all()
    # Unique block: 1 feature on for y = +1, 5 for y = -1, nowhere else.
    on = x[:, 3:].sum(1)
    assert torch.equal(on, torch.where(y > 0, 1.0, 5.0).double())
    assert ((x[:, 3:] > 0).sum(0) <= 1).all()


def test_short_run_metrics_are_consistent():
    metrics = run(Config(steps=50, mnist_train=0), seed=0, log=null_log())
    assert metrics["max_train_err"] == max(metrics[f"{m}_train_err"] for m in ("sgd", "sgdm", "adai", "adaiw", "adam", "rmsprop"))
    assert 0.0 <= metrics["adam_test_err"] <= 1.0


def test_without_adams_adaptivity_the_claim_fails(tmp_path):
    # Adam with eps = 1 (>> sqrt(v)) is an EMA-momentum SGD with a tiny lr: its adaptive
    # learning rate, the cause of the bad implicit bias, is gone, so 'Adam loses it' must fail.
    config = PRESETS["quick"].replace(adam_eps=1.0, mnist_train=0)
    record = run_claim(PAPER, config, [0], tmp_path, "quick", quiet=True)
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["adam_loses_it"]["verdict"] == NOT_REPRODUCED
    assert record["verdict"] == NOT_REPRODUCED


@pytest.mark.slow
def test_quick_claim_verdict_comes_from_the_run(tmp_path):
    config = PAPER.preset("quick")
    record = run_claim(PAPER, config, [0, 1, 2], tmp_path, "quick", quiet=True)
    results = {s: RunDir(tmp_path, "adai", config.config_hash(), s).load_result()["metrics"] for s in (0, 1, 2)}
    by_id = {c["id"]: c for c in record["criteria"]}
    assert by_id["adai_keeps_sgd_bias"]["value"] == pytest.approx(sum(r["adai_test_err"] for r in results.values()) / 3)
    assert by_id["adam_loses_it"]["value"] == pytest.approx(sum(r["adam_test_err"] for r in results.values()) / 3)
    print({c["id"]: (c["value"], c["verdict"]) for c in record["criteria"]})
    assert record["verdict"] == REPRODUCED


@pytest.mark.slow
def test_paper_scale_cifar_path_runs_on_a_subset():
    config = PRESETS["paper"].replace(train_subset=64, test_subset=64, batch_size=32, epochs=1, device="cpu", amp=False)
    metrics = run(config, seed=0, log=null_log())
    assert set(metrics) >= {"adai_test_err", "sgdm_test_err", "adam_test_err", "adai_minus_sgdm"}
