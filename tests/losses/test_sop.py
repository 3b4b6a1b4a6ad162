"""SOPLoss: gradients against a hand derivation, finite differences for the SOP+ terms, sparse rows, AUROC."""

import pytest
import torch

from icml22dl.losses import SOPLoss, noise_detection_auroc


def _setup(n=20, c=5, b=6, seed=0, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    crit = SOPLoss(n, c, sparse=False).double()
    with torch.no_grad():  # moderate u, small v and logits so that no clamp is active (p_c - V_c > eps)
        crit.u.copy_(torch.rand(n, 1, generator=g, dtype=torch.float64) * scale)
        crit.v.copy_(torch.rand(n, c, generator=g, dtype=torch.float64) * 0.05)
    idx = torch.randperm(n, generator=g)[:b]
    z = (0.5 * torch.randn(b, c, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, c, (b,), generator=g)
    return crit, idx, z, y


def test_gradients_equal_a_hand_derivation():
    crit, idx, z, y = _setup()
    loss = crit(z, y, idx)
    loss.backward()
    b, c = z.shape
    onehot = torch.nn.functional.one_hot(y, c).double()
    with torch.no_grad():
        p = z.softmax(1)
        u, v = crit.u[idx, 0], crit.v[idx]
        r_y = p[torch.arange(b), y] + u**2
        total = 1 + u**2 - (v**2 * (1 - onehot)).sum(1)
        hard = torch.nn.functional.one_hot(z.argmax(1), c).double()
        # CE = -(1/B) (log r_y - log S):  d/du = -(1/B)(2u/r_y - 2u/S);  d/dz_k = -(1/B) p_y (delta_yk - p_k) / r_y
        du = -(2 * u / r_y - 2 * u / total) / b
        du += 2 * (hard[torch.arange(b), y] + u**2 - 1) * 2 * u / b  # MSE, class y
        dv = 2 * (hard - v**2 * (1 - onehot)) * (-2 * v) * (1 - onehot) / b  # MSE, classes != y
        p_y = p[torch.arange(b), y]
        dz = -(p_y[:, None] * (onehot - p)) / r_y[:, None] / b
        expected_u = torch.zeros_like(crit.u)
        expected_u[idx, 0] = du
        expected_v = torch.zeros_like(crit.v)
        expected_v[idx] = dv
    # Tolerance: float64 round-off.
    assert torch.allclose(crit.u.grad, expected_u, atol=1e-12)
    assert torch.allclose(crit.v.grad, expected_v, atol=1e-12)
    assert torch.allclose(z.grad, dz, atol=1e-12)


def test_sop_plus_terms_match_finite_differences():
    crit, idx, z, y = _setup(seed=1)
    crit.ratio_balance, crit.ratio_consistency = 0.1, 0.9
    zs = torch.randn_like(z, requires_grad=True)
    crit(z, y, idx, zs).backward()
    # The consistency term's gradient to the strong logits is (lambda_C / B)(softmax(strong) - softmax(weak)).
    assert torch.allclose(zs.grad, 0.9 * (zs.softmax(1) - z.softmax(1)).detach() / len(z), atol=1e-12)
    # Its target is detached, so finite differences in the weak logits hold without it.
    crit.ratio_consistency = 0.0
    z.grad = None
    crit.u.grad = None
    crit(z, y, idx, zs).backward()

    def f(zz, uu):
        with torch.no_grad():
            saved = crit.u.clone()
            crit.u.copy_(uu)
            out = crit(zz, y, idx, zs).item()
            crit.u.copy_(saved)
        return out

    h = 1e-6
    u0 = crit.u.detach().clone()
    for row, col in [(0, 0), (2, 3), (5, 1)]:
        zp, zm = z.detach().clone(), z.detach().clone()
        zp[row, col] += h
        zm[row, col] -= h
        assert z.grad[row, col].item() == pytest.approx((f(zp, u0) - f(zm, u0)) / (2 * h), abs=1e-7)
    i = idx[2].item()
    up, um = u0.clone(), u0.clone()
    up[i] += h
    um[i] -= h
    assert crit.u.grad[i, 0].item() == pytest.approx((f(z.detach(), up) - f(z.detach(), um)) / (2 * h), abs=1e-7)


def test_sparse_path_equals_dense_and_touches_only_batch_rows():
    dense, idx, z, y = _setup(seed=2)
    sparse = SOPLoss(20, 5, sparse=True).double()
    sparse.load_state_dict(dense.state_dict())
    z2 = z.detach().clone().requires_grad_(True)
    dense(z, y, idx).backward()
    sparse(z2, y, idx).backward()
    assert sparse.u.grad.is_sparse
    assert torch.allclose(sparse.u.grad.to_dense(), dense.u.grad) and torch.allclose(
        sparse.v.grad.to_dense(), dense.v.grad
    )
    assert torch.equal(z.grad, z2.grad)
    before = sparse.v.detach().clone()
    sparse.make_optimizer(lr_u=10.0, lr_v=100.0).step()
    untouched = torch.ones(20, dtype=torch.bool)
    untouched[idx] = False
    assert torch.equal(sparse.v.detach()[untouched], before[untouched])
    assert not torch.equal(sparse.v.detach()[idx], before[idx])
    groups = sparse.param_groups(10.0, 100.0)
    assert [g["lr"] for g in groups] == [10.0, 100.0] and all(
        g["momentum"] == 0 and g["weight_decay"] == 0 for g in groups
    )


def test_scores_and_corrected_labels():
    crit = SOPLoss(3, 3)
    with torch.no_grad():
        crit.u.copy_(torch.tensor([[0.0], [1.0], [0.0]]))
        crit.v.zero_()
        crit.v[1, 2] = 1.0  # sample 1: label 0 is wrong, class 2 is right
    labels = torch.tensor([0, 0, 1])
    assert torch.equal(crit.noise_scores(), torch.tensor([0.0, 1.0, 0.0]))
    # y - s = y - U + V: sample 1 -> (1 - 1, 0, 1) -> class 2
    assert torch.equal(crit.corrected_labels(labels), torch.tensor([0, 2, 1]))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="init_std"):
        SOPLoss(5, 3, init_std=0.0)
    with pytest.raises(ValueError, match="num_classes"):
        SOPLoss(5, 1)
    with pytest.raises(ValueError, match="lr_v"):
        SOPLoss(5, 3).param_groups(1.0, -1.0)
    with pytest.raises(ValueError, match="logits"):
        SOPLoss(5, 3)(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), torch.arange(2))
    with pytest.raises(ValueError, match="index must have shape"):
        SOPLoss(5, 3)(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.arange(3))


def test_arguments_follow_pytorch_loss_order_input_target_then_index():
    # criterion(input, target, index), as torch.nn losses take (input, target): keywords name them so
    crit = SOPLoss(6, 3, sparse=False, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        crit.u.copy_(torch.linspace(0.1, 0.6, 6).unsqueeze(1))  # rows differ: the index matters
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(2))
    y, idx = torch.tensor([0, 2]), torch.tensor([4, 1])
    positional = crit(z, y, idx)
    assert torch.equal(positional, crit(logits=z, target=y, index=idx))
    assert not torch.equal(positional, crit(z, y, idx.flip(0)))


def test_auroc_equals_pair_counting():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (60,), generator=g).double()  # many ties
    noisy = torch.rand(60, generator=g) < 0.3
    pos, neg = scores[noisy], scores[~noisy]
    pairs = [(a > b) + 0.5 * (a == b) for a in pos.tolist() for b in neg.tolist()]
    assert noise_detection_auroc(scores, noisy) == pytest.approx(sum(pairs) / len(pairs), abs=1e-12)
    assert noise_detection_auroc(torch.tensor([1.0, 2.0]), torch.tensor([False, False])) != noise_detection_auroc(
        torch.tensor([1.0, 2.0]), torch.tensor([False, False])
    )  # NaN without positives
