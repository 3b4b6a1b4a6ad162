"""LA-GNN components against independent references (closed forms, brute force, PyG layers)."""

import math
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("torch_geometric")

from torch_geometric.nn import GATConv, GCNConv  # noqa: E402

from icml22dl.data import load_planetoid  # noqa: E402
from icml22dl.data.root import data_root  # noqa: E402
from icml22dl.graphs import (  # noqa: E402
    LAGAT,
    LAGCN,
    LAGCNII,
    FeatureBank,
    FeatureCVAE,
    UScoreSelection,
    consistency_loss,
    cvae_loss,
    feature_concat,
    neighbour_pairs,
    pretrain_cvae,
    row_normalise,
    sparse_dropout,
    train_local_augmentation,
    u_score,
)


def _sbm(n_per_class=30, classes=3, words=40, seed=0):
    """Planted-partition graph with class-dependent Bernoulli bag-of-words (card 06 test fallback)."""
    g = torch.Generator().manual_seed(seed)
    n = n_per_class * classes
    y = torch.arange(classes).repeat_interleave(n_per_class)
    probs = torch.full((classes, words), 0.03)
    for c in range(classes):
        probs[c, c * (words // classes):(c + 1) * (words // classes)] = 0.4
    x = torch.bernoulli(probs[y], generator=g)
    same = (y[:, None] == y[None, :]).float()
    adj = torch.bernoulli(0.15 * same + 0.01 * (1 - same), generator=g).triu(1)
    adj = adj + adj.t()
    edge_index = adj.nonzero().t().contiguous()
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:30]], masks[1][perm[30:60]], masks[2][perm[60:]] = True, True, True
    return x, y, edge_index, masks


# --- pairs, normalisation, loss -------------------------------------------------------


def test_neighbour_pairs_brute_force_and_cora_count():
    g = torch.Generator().manual_seed(1)
    ei = torch.randint(0, 12, (2, 60), generator=g)
    centre, neighbour = neighbour_pairs(ei, 12)
    expected = sorted({(int(i), int(j)) for i, j in ei.t() if i != j})
    assert list(zip(centre.tolist(), neighbour.tolist())) == expected
    cora = load_planetoid("cora")
    assert len(neighbour_pairs(cora.edge_index, cora.num_nodes)[0]) == 10556  # card 06 section 2


def test_row_normalise_matches_a_loop_and_keeps_zero_rows():
    x = torch.tensor([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
    out = row_normalise(x)
    for i in range(3):
        total = sum(x[i].tolist())
        expected = [v / total if total else 0.0 for v in x[i].tolist()]
        assert out[i].tolist() == pytest.approx(expected, abs=1e-7)


def test_cvae_loss_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((4, 5), 0.3), generator=g)
    recon = torch.rand(4, 5, generator=g) * 0.98 + 0.01
    mean, log_var = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    bce = -sum(xi * math.log(ri) + (1 - xi) * math.log(1 - ri) for xi, ri in zip(x.flatten().tolist(), recon.flatten().tolist()))
    kl = sum(-0.5 * (1 + lv - m * m - math.exp(lv)) for m, lv in zip(mean.flatten().tolist(), log_var.flatten().tolist()))
    assert cvae_loss(recon, x, mean, log_var).item() == pytest.approx((bce + kl) / 4, rel=1e-5)
    with pytest.raises(ValueError, match="kind"):
        cvae_loss(recon, x, mean, log_var, kind="l1")


# --- the CVAE against an independent copy of the official module layout -----------------


class _OfficialLikeVAE(nn.Module):
    """The official ``cvae_models.VAE`` parameter layout and forward, written here independently."""

    def __init__(self, f, hidden, latent, ogb=False):
        super().__init__()
        self.ogb = ogb
        self.encoder = nn.Module()
        self.encoder.MLP = nn.Sequential()
        self.encoder.MLP.add_module("L0", nn.Linear(2 * f, hidden))
        if ogb:
            self.encoder.MLP.add_module("B0", nn.BatchNorm1d(hidden))
        self.encoder.MLP.add_module("A0", nn.ReLU())
        self.encoder.linear_means = nn.Linear(hidden, latent)
        self.encoder.linear_log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Module()
        self.decoder.MLP = nn.Sequential()
        self.decoder.MLP.add_module("L0", nn.Linear(latent + f, hidden))
        if ogb:
            self.decoder.MLP.add_module("B0", nn.BatchNorm1d(hidden))
        self.decoder.MLP.add_module("A0", nn.ReLU())
        self.decoder.MLP.add_module("L1", nn.Linear(hidden, f))
        if ogb:
            self.decoder.MLP.add_module("B1", nn.BatchNorm1d(f))
        self.decoder.MLP.add_module("out", nn.Tanh() if ogb else nn.Sigmoid())

    def forward(self, x, c, eps):
        h = self.encoder.MLP(torch.cat([x, c], -1))
        mean, log_var = self.encoder.linear_means(h), self.encoder.linear_log_var(h)
        z = mean + eps * torch.exp(0.5 * log_var)
        return self.decoder.MLP(torch.cat([z, c], -1)), mean, log_var


@pytest.mark.parametrize("ogb", [False, True])
def test_from_official_reproduces_the_official_forward_with_fixed_eps(ogb):
    torch.manual_seed(0)
    ref = _OfficialLikeVAE(7, 16, 3, ogb).eval()
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    ours = FeatureCVAE.from_official(ref.state_dict()).eval()
    assert (ours.in_dim, ours.hidden, ours.latent, ours.out) == (7, 16, 3, "tanh" if ogb else "sigmoid")
    x, c, eps = torch.rand(5, 7), torch.rand(5, 7), torch.randn(5, 3)
    for a, b in zip(ours(x, c, eps=eps), ref(x, c, eps)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="no counterpart"):
        FeatureCVAE.from_official({"encoder.MLP.L9.weight": torch.zeros(1)})


def _conditional_graph(seed=0, n=400, f=12):
    """Two groups; a node's neighbours are same-group nodes, whose features are Bernoulli(p_g).

    Feature 0 flags the group, so E[x_neighbour | x_centre] = p_{group(centre)} (with the flag).
    """
    g = torch.Generator().manual_seed(seed)
    group = torch.arange(n) % 2
    p = torch.stack([torch.linspace(0.1, 0.5, f), torch.linspace(0.6, 0.2, f)])
    p[0, 0], p[1, 0] = 0.0, 1.0
    x = torch.bernoulli(p[group], generator=g)
    src = torch.arange(n).repeat_interleave(8)
    dst = (src + 2 * torch.randint(1, n // 2, (len(src),), generator=g)) % n  # same parity = same group
    return x, torch.stack([src, dst]), group, p


def test_elbo_decreases_and_samples_match_the_known_conditional_means():
    torch.manual_seed(0)
    x, ei, group, p = _conditional_graph()
    cvae = FeatureCVAE(x.shape[1], hidden=64, latent=4)
    cvae, history = pretrain_cvae(cvae, x, neighbour_pairs(ei, len(x)), epochs=8, batch_size=128, lr=1e-2,
                                  generator=torch.Generator().manual_seed(0))
    per_epoch = math.ceil(len(neighbour_pairs(ei, len(x))[0]) / 128)
    last = sum(history["loss"][-per_epoch:]) / per_epoch
    # The negative ELBO falls from its start to near its floor, the conditional entropy H(x | c)
    # = sum_f h(p_gf) averaged over the groups (closed form): the bound is tight within 0.5 nat.
    entropy = -(p * p.clamp_min(1e-12).log() + (1 - p) * (1 - p).clamp_min(1e-12).log()).sum(1).mean().item()
    assert history["loss"][0] - last > 1.0
    assert entropy - 0.3 < last < entropy + 0.5
    # E_z[dec(z, c)] averaged over a group's centres = the conditional means of the neighbours'
    # features (brute force over the pairs; they estimate p_g): tolerance 0.05 per feature.
    centre, neighbour = neighbour_pairs(ei, len(x))
    gen = torch.Generator().manual_seed(1)
    for gi in (0, 1):
        in_group = group[centre] == gi
        empirical = x[neighbour[in_group]].mean(0)
        mean = cvae.generate(x[centre[in_group]], gen, normalise=False).mean(0)
        assert (mean - empirical).abs().max().item() < 0.05
        assert (empirical - p[gi]).abs().max().item() < 0.08  # the sample is close to the model


def test_generate_is_row_normalised_probabilities():
    cvae = FeatureCVAE(6, hidden=8, latent=2)
    out = cvae.generate(torch.rand(5, 6).round(), torch.Generator().manual_seed(0))
    assert torch.allclose(out.sum(1), torch.ones(5)) and (out >= 0).all()
    raw = cvae.generate(torch.rand(5, 6).round(), torch.Generator().manual_seed(0), normalise=False)
    assert ((raw > 0) & (raw < 1)).all()


def test_cvae_rejects_bad_sizes():
    with pytest.raises(ValueError, match="latent"):
        FeatureCVAE(4, latent=0)
    with pytest.raises(ValueError, match="out"):
        FeatureCVAE(4, out="relu")


# --- U-score --------------------------------------------------------------------------


class _Helper(nn.Module):
    def __init__(self, f, c, p):
        super().__init__()
        self.lin, self.p = nn.Linear(f, c), p

    def forward(self, x, edge_index):
        return self.lin(F.dropout(x, self.p, self.training))


def test_u_score_is_zero_for_a_deterministic_helper_and_matches_the_formula():
    x, y, ei, masks = _sbm()
    torch.manual_seed(0)
    assert u_score(_Helper(x.shape[1], 3, 0.0), x, ei, y, masks[0], passes=5) == pytest.approx(0.0, abs=1e-6)
    helper = _Helper(x.shape[1], 3, 0.5)
    torch.manual_seed(3)
    ours = u_score(helper, x, ei, y, masks[0], passes=7)
    torch.manual_seed(3)
    probs, ces = [], []
    with torch.no_grad():
        for _ in range(7):
            logits = helper(x, ei)[masks[0]]
            probs.append(F.softmax(logits, 1))
            ces.append(F.cross_entropy(logits, y[masks[0]]).item())
    mean_p = torch.stack(probs).mean(0)
    expected = F.nll_loss(mean_p.log(), y[masks[0]]).item() - sum(ces) / 7
    assert ours == pytest.approx(expected, abs=1e-6)
    assert ours <= 1e-7  # Jensen
    helper.eval()
    u_score(helper, x, ei, y, masks[0], passes=2)
    assert not helper.training


def test_pretrain_with_u_score_selection_scores_on_schedule():
    x, y, ei, masks = _sbm()
    torch.manual_seed(0)
    helper = _Helper(x.shape[1], 3, 0.5)
    selection = UScoreSelection(helper, ei, y, masks[0], passes=3, every=2, warmup=3, update_epochs=2)
    cvae = FeatureCVAE(x.shape[1], hidden=16, latent=2)
    _, history = pretrain_cvae(cvae, x, neighbour_pairs(ei, len(x)), epochs=1, batch_size=64,
                               generator=torch.Generator().manual_seed(0), selection=selection)
    steps = len(history["loss"])
    assert history["u_step"] == [float(s) for s in range(2, steps + 1, 2)]
    assert all(u <= 1e-6 for u in history["u_score"])
    with pytest.raises(ValueError, match="passes"):
        UScoreSelection(helper, ei, y, masks[0], passes=0)


# --- bank, consistency, concat --------------------------------------------------------


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


def test_feature_concat_and_sparse_dropout():
    x, xb = torch.rand(4, 3), torch.rand(4, 2)
    assert feature_concat(x, xb).shape == (4, 5)
    with pytest.raises(ValueError, match="rows"):
        feature_concat(x, xb[:3])
    dense = torch.tensor([[0.0, 2.0], [4.0, 0.0]])
    torch.manual_seed(0)
    out = sparse_dropout(dense.to_sparse_coo(), 0.5).to_dense()
    assert set(out[dense != 0].tolist()) <= {0.0, 4.0, 8.0} and (out[dense == 0] == 0).all()
    assert sparse_dropout(dense.to_sparse_coo(), 0.5, training=False) is not None


# --- backbones = PyG layers; augmentation off = plain backbone --------------------------


class _PlainGCN(nn.Module):
    def __init__(self, f, h, c, p):
        super().__init__()
        self.conv1, self.conv2, self.p = GCNConv(f, h), GCNConv(h, c), p

    def forward(self, x, ei):
        x = F.relu(self.conv1(F.dropout(x, self.p, self.training), ei))
        return self.conv2(F.dropout(x, self.p, self.training), ei)


def test_lagcn_branches_are_pyg_gcnconv_and_sparse_input_is_the_same():
    x, y, ei, _ = _sbm()
    xt = row_normalise(x)
    torch.manual_seed(0)
    model = LAGCN(x.shape[1], 8, 3, concat=2).eval()
    bars = [torch.rand_like(xt), torch.rand_like(xt)]
    hidden = torch.cat([F.relu(conv(inp, ei)) for conv, inp in zip(model.branches, bars + [xt])], -1)
    expected = model.conv2(hidden, ei)
    torch.testing.assert_close(model(xt, bars, ei), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model(xt.to_sparse_coo(), bars, ei), expected, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="concat=2"):
        model(xt, bars[:1], ei)


def test_augmentation_off_reproduces_the_plain_backbone_exactly():
    x, y, ei, masks = _sbm()
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


def test_lagat_without_augmentation_is_pyg_gat():
    x, y, ei, _ = _sbm()
    xt = row_normalise(x)
    torch.manual_seed(0)
    model = LAGAT(x.shape[1], 4, 3, concat=0, heads=2).eval()
    torch.manual_seed(0)
    conv1 = GATConv(x.shape[1], 4, heads=2, dropout=0.6)
    conv2 = GATConv(8, 3, heads=1, concat=False, dropout=0.6)
    conv1.eval(), conv2.eval()
    expected = conv2(F.elu(conv1(xt, ei), alpha=0.2), ei)
    torch.testing.assert_close(model(xt, [], ei), expected, atol=1e-6, rtol=1e-5)


def test_lagcnii_shapes_groups_and_gradients():
    x, y, ei, _ = _sbm()
    xt = row_normalise(x)
    model = LAGCNII(x.shape[1], 8, 3, concat=1, layers=4)
    out = model(xt, [torch.rand_like(xt)], ei)
    assert out.shape == (len(x), 3)
    out.sum().backward()
    groups = model.parameter_groups(0.01, 5e-4)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert all(p.grad is not None for p in model.parameters())


def test_training_with_generated_features_runs_and_selects_on_validation():
    x, y, ei, masks = _sbm()
    torch.manual_seed(0)
    cvae = FeatureCVAE(x.shape[1], hidden=16, latent=2)
    bank = FeatureBank(cvae, x, size=4, generator=torch.Generator().manual_seed(0))
    seen = []
    model = LAGCN(x.shape[1], 8, 3, concat=1)
    result = train_local_augmentation(model, row_normalise(x), ei, y, *masks, bank=bank, samples=2, epochs=20,
                                      generator=torch.Generator().manual_seed(0),
                                      callback=lambda e, v: seen.append(v["val_loss"]))
    assert result.val_loss == min(seen) and result.best_epoch == seen.index(min(seen)) + 1
    assert 0.0 <= result.test_acc <= 1.0
    with pytest.raises(ValueError, match="bank is None"):
        train_local_augmentation(model, row_normalise(x), ei, y, *masks, epochs=1)


def test_our_planetoid_equals_pyg_planetoid(tmp_path):
    from torch_geometric.datasets import Planetoid

    for name, pyg_name in (("cora", "Cora"), ("citeseer", "CiteSeer")):
        raw = tmp_path / pyg_name / "raw"
        raw.mkdir(parents=True)
        for ext in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"):
            shutil.copy(data_root() / "planetoid" / f"ind.{name}.{ext}", raw / f"ind.{name}.{ext}")
        ref = Planetoid(str(tmp_path), pyg_name)[0]
        ours = load_planetoid(name)
        assert torch.equal(ours.x, ref.x)
        n = ours.num_nodes
        keys = lambda ei: torch.sort(ei[0] * n + ei[1]).values  # noqa: E731  (PyG orders by target)
        assert torch.equal(keys(ours.edge_index), keys(ref.edge_index))
        for mask in ("train_mask", "val_mask", "test_mask"):
            assert torch.equal(getattr(ours, mask), getattr(ref, mask))
        labelled = ours.train_mask | ours.val_mask | ours.test_mask
        assert torch.equal(ours.y[labelled], ref.y[labelled])
