"""NC metrics: closed-form fixtures (ETF, OF) and a brute-force per-sample reference (float64)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from icml22dl.analysis.collapse import (
    CollapseAccumulator,
    FeatureHook,
    bias_mean_relation,
    collapse_by_layer,
    collapse_metrics,
    collect_features,
    etf_gap,
    evaluate_collapse,
    hermitian_pinv,
    nc1,
    ncc_mismatch,
    of_etf_distance,
    of_gap,
)

TOL = 1e-10


def simplex_etf(C: int, p: int, scale: float = 2.0) -> torch.Tensor:
    """C rows in R^p forming a simplex ETF, built by hand in a random rotation."""
    base = torch.eye(C, dtype=torch.float64) - 1.0 / C
    Q = torch.linalg.qr(torch.randn(p, p, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    return scale * base @ torch.eye(C, p, dtype=torch.float64) @ Q


def test_of_etf_distance_matches_the_table():
    table = {2: 0.7654, 3: 0.6058, 4: 0.5176, 5: 0.4595, 10: 0.3204, 100: 0.1001}
    for C, value in table.items():
        assert of_etf_distance(C) == pytest.approx(value, abs=5e-5)
        I = torch.eye(C, dtype=torch.float64)
        E = I - 1.0 / C
        assert of_gap(I) == pytest.approx(0.0, abs=TOL) and etf_gap(E) == pytest.approx(0.0, abs=TOL)
        assert etf_gap(I) == pytest.approx(of_etf_distance(C), abs=TOL)
        assert of_gap(E) == pytest.approx(of_etf_distance(C), abs=TOL)


def test_every_metric_is_zero_on_an_exact_simplex_etf():
    C, p, n = 5, 8, 3
    M = simplex_etf(C, p)
    y = torch.arange(C).repeat(n)
    H = M[y] + 0.7 * 0  # exact collapse onto the means; mu_G = 0 because ETF rows sum to 0
    W = 0.5 * M  # self-dual classifier
    b = torch.full((C,), 0.3, dtype=torch.float64)
    m = collapse_metrics(H, y, W, b, nc1=("papyan", "full_pinv", "notebook", "svd", "quotient"), center_W=True)
    zero_keys = [k for k in m if k.startswith(("nc1", "nc2", "nc3", "nc4"))]
    zero_keys.remove("nc2_etf_means_uncentred")  # means sum to zero: uncentred = centred here, also 0
    for key in zero_keys + ["nc2_etf_means_uncentred"]:
        assert abs(m[key]) <= TOL, (key, m[key])
    # An ETF is not an OF: the uncentred OF gaps sit at the table distance.
    assert m["of_gap_W"] == pytest.approx(of_etf_distance(C), abs=TOL)
    assert m["of_gap_means"] == pytest.approx(of_etf_distance(C), abs=TOL)
    assert m["bias_mean_relation"] == pytest.approx(0.3 * math.sqrt(C), abs=TOL)


def test_orthogonal_frame_fixture_uncentred_vs_centred():
    C, p, n = 4, 7, 2
    W = 3.0 * torch.eye(C, p, dtype=torch.float64)
    y = torch.arange(C).repeat(n)
    H = W[y] / 3.0
    m = collapse_metrics(H, y, W, None, center_W=True)
    assert m["of_gap_W"] <= TOL and m["of_gap_means"] <= TOL
    assert m["nc2_etf_W_uncentred"] == pytest.approx(0.5176, abs=1e-4)
    assert m["nc2_etf_means_uncentred"] == pytest.approx(0.5176, abs=1e-4)
    # Centred metrics cannot see the OF: an equal-norm OF minus its centroid is an ETF.
    assert m["nc2_etf_W_centred"] <= TOL and m["nc2_etf_means_centred"] <= TOL
    assert m["nc3_zhou_centred"] <= TOL and m["nc3_zhou_uncentred"] <= TOL
    assert m["nc3_papyan"] == pytest.approx(2 - 2 * math.sqrt(3 / 4), abs=TOL)  # 0.2679
    assert m["nc1_papyan"] <= TOL and m["nc4_ncc_mismatch"] == 0.0


# ----------------------------------------------------------------- brute force
def brute_force(H, y, W, b, C, global_mean):
    """Per-sample loops in numpy: the plain definitions of neural-collapse-metrics.md."""
    H, W = H.numpy(), W.numpy()
    b = None if b is None else b.numpy()
    N, p = H.shape
    y = y.numpy()
    mus = np.stack([H[y == c].mean(0) for c in range(C)])
    mu_G = H.mean(0) if global_mean == "samples" else mus.mean(0)
    Sw = np.zeros((p, p))
    for i in range(N):
        d = H[i] - mus[y[i]]
        Sw += np.outer(d, d)
    Sw /= N
    Sb = np.zeros((p, p))
    for c in range(C):
        d = mus[c] - mu_G
        Sb += np.outer(d, d)
    Sb /= C
    vals, vecs = np.linalg.eigh(Sb)
    top = vecs[:, -(C - 1) :] @ np.diag(1 / vals[-(C - 1) :]) @ vecs[:, -(C - 1) :].T
    out = {
        "nc1_papyan": np.trace(Sw @ np.linalg.pinv(Sb)) / C,
        "nc1_full_pinv": np.trace(Sw @ np.linalg.pinv(Sb)) / C,
        "nc1_notebook": np.trace(Sw @ top),
        "nc1_svd": np.trace(Sw @ top),
        "nc1_quotient": np.trace(Sw) / np.trace(Sb),
    }
    Mbar = mus - mu_G

    def papyan(rows, tag):
        norms = np.array([np.linalg.norm(r) for r in rows])
        cos = [rows[i] @ rows[j] / (norms[i] * norms[j]) for i in range(C) for j in range(i + 1, C)]
        out[f"nc2_equinorm_{tag}"] = norms.std(ddof=1) / norms.mean()
        out[f"nc2_equiangular_{tag}"] = np.std(cos, ddof=1)
        out[f"nc2_maxangle_{tag}"] = np.mean([abs(v + 1 / (C - 1)) for v in cos])

    papyan(Mbar, "means")
    papyan(W, "W")
    E = (np.eye(C) - np.ones((C, C)) / C) / np.sqrt(C - 1)

    def gap(G, T):
        return np.linalg.norm(G / np.linalg.norm(G) - T)

    Wc = W - W.mean(0)
    out["nc2_etf_W_centred"] = gap(Wc @ Wc.T, E)
    out["nc2_etf_W_uncentred"] = gap(W @ W.T, E)
    out["nc2_etf_means_centred"] = gap(Mbar @ Mbar.T, E)
    out["nc2_etf_means_uncentred"] = gap(mus @ mus.T, E)
    out["of_gap_W"] = gap(W @ W.T, np.eye(C) / np.sqrt(C))
    out["of_gap_means"] = gap(mus @ mus.T, np.eye(C) / np.sqrt(C))
    out["nc3_papyan"] = np.linalg.norm(W / np.linalg.norm(W) - Mbar / np.linalg.norm(Mbar)) ** 2
    out["nc3_zhou_centred"] = gap(Wc @ Mbar.T, E)
    out["nc3_zhou_uncentred"] = gap(W @ Mbar.T, E)
    mismatches = 0
    for i in range(N):
        z = W @ H[i] + (0 if b is None else b)
        ncc = min(range(C), key=lambda c: np.linalg.norm(H[i] - mus[c]))
        mismatches += int(np.argmax(z) != ncc)
    out["nc4_ncc_mismatch"] = mismatches / N
    out["bias_mean_relation"] = np.linalg.norm(W @ mu_G + (0 if b is None else b))
    return out


@pytest.mark.parametrize("global_mean", ["samples", "class_means"])
def test_matches_brute_force_on_random_imbalanced_features(global_mean):
    gen = torch.Generator().manual_seed(0)
    C, p = 4, 6
    y = torch.cat([torch.full((k,), c) for c, k in enumerate((7, 11, 5, 9))])
    H = (
        torch.randn(len(y), p, dtype=torch.float64, generator=gen)
        + 2 * torch.randn(C, p, dtype=torch.float64, generator=gen)[y]
    )
    W = torch.randn(C, p, dtype=torch.float64, generator=gen)
    b = torch.randn(C, dtype=torch.float64, generator=gen)
    ours = collapse_metrics(
        H,
        y,
        W,
        b,
        global_mean=global_mean,
        nc1=("papyan", "full_pinv", "notebook", "svd", "quotient"),
        center_W=True,
        uncentred=True,
    )
    ref = brute_force(H, y, W, b, C, global_mean)
    assert set(ref) <= set(ours)
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, rel=TOL, abs=TOL), key
    assert 0 < ours["nc4_ncc_mismatch"] < 1  # the NC4 path is exercised, not trivially 0


def test_streaming_accumulator_matches_in_memory_both_passes():
    gen = torch.Generator().manual_seed(2)
    C, p, N = 3, 5, 60
    y = torch.randint(0, C, (N,), generator=gen)
    H = torch.randn(N, p, dtype=torch.float64, generator=gen) + 3 * torch.eye(C, p, dtype=torch.float64)[y]
    W = torch.randn(C, p, dtype=torch.float64, generator=gen)
    b = torch.randn(C, dtype=torch.float64, generator=gen)
    ref = collapse_metrics(H, y, W, b, nc1=("papyan", "notebook", "quotient"))
    first = CollapseAccumulator(C, p)
    for i in range(0, N, 16):
        first.update(H[i : i + 16], y[i : i + 16])
    second = CollapseAccumulator(C, p, means=first.means())
    for i in range(0, N, 16):
        second.update(H[i : i + 16], y[i : i + 16], logits=H[i : i + 16] @ W.T + b)
    for acc in (first, second):
        out = acc.compute(W, b, nc1=("papyan", "notebook", "quotient"))
        for key, value in ref.items():
            if key == "nc4_ncc_mismatch" and acc is first:
                assert math.isnan(out[key])  # needs the second pass
                continue
            assert out[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key


def test_nan_features_give_nan_metrics_and_a_flag():
    H = torch.randn(12, 4, dtype=torch.float64)
    H[3, 1] = float("nan")
    y = torch.arange(3).repeat(4)
    W = torch.randn(3, 4, dtype=torch.float64)
    m = collapse_metrics(H, y, W)
    assert m["nonfinite_features"] == 1.0
    assert all(math.isnan(v) for k, v in m.items() if k != "nonfinite_features")
    acc = CollapseAccumulator(3, 4)
    acc.update(H, y)
    assert acc.compute(W)["nonfinite_features"] == 1.0
    assert math.isnan(nc1(H, y, 3))
    with pytest.raises(ValueError, match="NaN"):
        hermitian_pinv(torch.full((3, 3), float("nan"), dtype=torch.float64))


def test_hermitian_pinv_drops_the_null_space_of_a_rank_deficient_matrix():
    A = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    S = A @ A.T  # rank 3
    assert torch.allclose(hermitian_pinv(S), torch.from_numpy(np.linalg.pinv(S.numpy(), hermitian=True)), atol=1e-10)


def test_bad_inputs_raise_value_errors_naming_the_argument():
    H = torch.randn(6, 3, dtype=torch.float64)
    W = torch.randn(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"classes \[2\] have no samples"):
        collapse_metrics(H, torch.tensor([0, 1, 0, 1, 0, 1]), W)
    with pytest.raises(ValueError, match="nc1="):
        collapse_metrics(H, torch.arange(3).repeat(2), W, nc1="nope")
    with pytest.raises(ValueError, match="global_mean="):
        collapse_metrics(H, torch.arange(3).repeat(2), W, global_mean="median")
    with pytest.raises(ValueError, match="labels must lie"):
        collapse_metrics(H, torch.tensor([0, 1, 2, 3, 0, 1]), W)
    with pytest.raises(ValueError, match="W must have shape"):
        collapse_metrics(H, torch.arange(3).repeat(2), torch.randn(3, 4))


def test_ncc_mismatch_and_bias_relation_on_a_hand_example():
    means = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    feats = torch.tensor([[0.1, 0.0], [1.9, 0.0], [1.2, 0.0]], dtype=torch.float64)
    logits = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # second disagrees with NCC
    assert ncc_mismatch(feats, means, logits) == pytest.approx(1 / 3)
    W = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64)
    assert bias_mean_relation(W, torch.tensor([1.0, -1.0]), torch.tensor([1.0, 1.0])) == pytest.approx(math.hypot(4, 0))


def test_feature_hook_collects_the_classifier_input_and_layers_probe():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x = torch.randn(10, 4)
    y = torch.arange(3).repeat(4)[:10]
    feats, labels, logits = collect_features(model, [(x[:5], y[:5]), (x[5:], y[5:])], model[2])
    assert torch.allclose(feats, model[1](model[0](x)))
    assert torch.equal(labels, y) and torch.allclose(logits, model(x))
    with FeatureHook(model[0], input_of=False) as hook:
        model(x)
    assert torch.allclose(hook.features(), model[0](x))
    assert not model[0]._forward_hooks  # removed on exit
    # A layer whose output is exactly an orthogonal frame per class: OF gap 0, NC1 0.
    probe = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        probe.weight.copy_(torch.eye(3))
    xs = torch.eye(3).repeat(2, 1)
    res = collapse_by_layer(probe, [(xs, torch.arange(3).repeat(2))], {"out": probe}, 3)["out"]
    assert res["nc1_papyan"] == pytest.approx(0.0, abs=1e-10) and res["of_gap_means"] == pytest.approx(0.0, abs=1e-6)
    assert res["etf_gap_means_uncentred"] == pytest.approx(of_etf_distance(3), abs=1e-6)
    assert res["etf_gap_means_centred"] == pytest.approx(0.0, abs=1e-6)


def test_evaluate_collapse_equals_hooked_features_and_brute_force_accuracy():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU())
            self.fc = nn.Linear(5, 3)

        def forward(self, x):
            return self.fc(self.body(x))

    g = torch.Generator().manual_seed(0)
    model = Net()
    x, y = torch.randn(40, 6, generator=g), torch.arange(3).repeat(14)[:40]
    model.train()
    model(x)  # move the BatchNorm statistics away from their init
    metrics, result = evaluate_collapse(model, x, y, batch_size=7, transform=lambda t: 2 * t)
    model.eval()
    with torch.no_grad():
        feats = model.body(2 * x)
        logits = model(2 * x)
    reference = collapse_metrics(
        feats, y, model.fc.weight.detach(), model.fc.bias.detach(), center_W=True, logits=logits
    )
    assert metrics.keys() == reference.keys()
    for key, value in reference.items():
        assert metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
    assert result.accuracy == pytest.approx(float((logits.argmax(1) == y).double().mean()))
    assert not model.training


def test_collapse_metrics_detach_what_they_are_given():
    g = torch.Generator().manual_seed(3)
    y = torch.arange(4).repeat(6)
    H = torch.randn(24, 5, generator=g, requires_grad=True)
    W = torch.randn(4, 5, generator=g, requires_grad=True)
    b = torch.randn(4, generator=g, requires_grad=True)
    with_grad = collapse_metrics(H * 1.0, y, W, b)  # a non-leaf, as features from a forward pass are
    detached = collapse_metrics(H.detach(), y, W.detach(), b.detach())
    assert with_grad == detached
    assert H.grad is None and W.grad is None and b.grad is None
