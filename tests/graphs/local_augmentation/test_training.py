"""LA-GNN training (graphs.local_augmentation.training): sources of X_bar, the consistency loss and the loop."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("torch_geometric")

from torch_geometric.nn import GCNConv  # noqa: E402

from icml22dl.graphs import (  # noqa: E402
    LAGCN,
    FeatureBank,
    FeatureCVAE,
    FreshDraws,
    consistency_loss,
    paired_lower_bound,
    row_normalise,
    train_local_augmentation,
)
from tests.graphs.local_augmentation._graphs import sbm  # noqa: E402


def test_feature_bank_stores_successive_draws_and_samples_distinct_ones():
    torch.manual_seed(0)
    cvae = FeatureCVAE(6, hidden=8, latent=2)
    x = torch.rand(5, 6).round()
    bank = FeatureBank(cvae, x, size=3, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(4)
    for k in range(3):
        torch.testing.assert_close(bank.matrices[k], cvae.generate(x, gen))
    draws = bank.sample(3, torch.Generator().manual_seed(0))
    assert len({tuple(d.flatten().tolist()) for d in draws}) == 3
    with pytest.raises(ValueError, match="k=4"):
        bank.sample(4)


def test_fresh_draws_decode_a_new_matrix_per_draw():
    torch.manual_seed(0)
    cvae = FeatureCVAE(6, hidden=8, latent=2)
    x = torch.rand(5, 6).round()
    draws = FreshDraws(cvae, x).sample(3, torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(2)
    for d in draws:
        torch.testing.assert_close(d, cvae.generate(x, gen))
    assert not torch.equal(draws[0], draws[1])
    assert FreshDraws(cvae, x).sample(0) == []


def _official_consistency(logps, temp):
    """The official ``consis_loss`` (GRAND), written from its formula."""
    ps = [torch.exp(p) for p in logps]
    avg = sum(ps) / len(ps)
    sharp = (avg ** (1.0 / temp) / (avg ** (1.0 / temp)).sum(1, keepdim=True)).detach()
    return sum(((p - sharp) ** 2).sum(1).mean() for p in ps) / len(ps)


def test_consistency_loss_matches_the_official_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(7, 4, generator=g, requires_grad=True) for _ in range(3)]
    ours = consistency_loss([F.softmax(l, 1) for l in logits], 0.5)
    ref = _official_consistency([F.log_softmax(l, 1) for l in logits], 0.5)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    for a, b in zip(torch.autograd.grad(ours, logits), torch.autograd.grad(ref, logits)):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-5)
    # Identical samples already at a one-hot mean give zero loss.
    one_hot = F.one_hot(torch.tensor([0, 2]), 3).float()
    assert consistency_loss([one_hot, one_hot]).item() == 0.0
    with pytest.raises(ValueError, match="temperature"):
        consistency_loss([one_hot], 0.0)


class _PlainGCN(nn.Module):
    def __init__(self, f, h, c, p):
        super().__init__()
        self.conv1, self.conv2, self.p = GCNConv(f, h), GCNConv(h, c), p

    def forward(self, x, ei):
        x = F.relu(self.conv1(F.dropout(x, self.p, self.training), ei))
        return self.conv2(F.dropout(x, self.p, self.training), ei)


def test_augmentation_off_reproduces_the_plain_backbone_exactly():
    x, y, ei, masks = sbm()
    xt = row_normalise(x)
    torch.manual_seed(7)
    la = LAGCN(x.shape[1], 16, 3, concat=0, dropout=0.5)
    result = train_local_augmentation(la, xt, ei, y, *masks, samples=1, lam=0.0, epochs=30, lr=0.01)
    # The plain GCN and its loop, written independently, same seed.
    torch.manual_seed(7)
    plain = _PlainGCN(x.shape[1], 16, 3, 0.5)
    opt = torch.optim.Adam(plain.parameters(), lr=0.01, weight_decay=5e-4)
    best, best_state = math.inf, None
    for _ in range(30):
        plain.train()
        opt.zero_grad()
        F.nll_loss(F.log_softmax(plain(xt, ei), 1)[masks[0]], y[masks[0]]).backward()
        opt.step()
        plain.eval()
        with torch.no_grad():
            val = F.nll_loss(F.log_softmax(plain(xt, ei), 1)[masks[1]], y[masks[1]]).item()
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in plain.state_dict().items()}
    plain.load_state_dict(best_state)
    plain.eval()
    acc = (plain(xt, ei).argmax(1)[masks[2]] == y[masks[2]]).float().mean().item()
    assert result.val_loss == best and result.test_acc == acc
    for a, b in zip(la.parameters(), plain.parameters()):
        assert torch.equal(a, b)


def test_training_with_generated_features_runs_and_selects_on_validation():
    x, y, ei, masks = sbm()
    torch.manual_seed(0)
    cvae = FeatureCVAE(x.shape[1], hidden=16, latent=2)
    bank = FeatureBank(cvae, x, size=4, generator=torch.Generator().manual_seed(0))
    seen = []
    model = LAGCN(x.shape[1], 8, 3, concat=1)
    result = train_local_augmentation(
        model,
        row_normalise(x),
        ei,
        y,
        *masks,
        bank=bank,
        samples=2,
        epochs=20,
        generator=torch.Generator().manual_seed(0),
        callback=lambda e, v: seen.append(v["val_loss"]),
    )
    assert result.val_loss == min(seen) and result.best_epoch == seen.index(min(seen)) + 1
    assert 0.0 <= result.test_acc <= 1.0
    with pytest.raises(ValueError, match="bank is None"):
        train_local_augmentation(model, row_normalise(x), ei, y, *masks, epochs=1)


def test_paired_lower_bound_is_the_one_sided_t_bound_and_covers_at_the_stated_rate():
    diffs = [0.004, -0.002, 0.01, 0.006, 0.0, 0.003]
    mean, bound = paired_lower_bound(diffs)
    sd = torch.tensor(diffs, dtype=torch.float64).std().item()
    assert mean == pytest.approx(sum(diffs) / 6)
    assert bound == pytest.approx(mean - 2.015048 * sd / math.sqrt(6), abs=1e-8)  # t_{0.95, 5} to 6 digits
    # Coverage: for normal pairs with true mean 0, the bound exceeds 0 about 5 % of the time.
    g = torch.Generator().manual_seed(0)
    misses = sum(paired_lower_bound(torch.randn(6, generator=g).tolist())[1] > 0 for _ in range(2000))
    assert 0.03 < misses / 2000 < 0.07  # binomial sd 0.5 %: 4 sd either side
    with pytest.raises(ValueError, match="at least 2"):
        paired_lower_bound([0.1])
    with pytest.raises(ValueError, match="confidence"):
        paired_lower_bound([0.1, 0.2], confidence=1.0)
