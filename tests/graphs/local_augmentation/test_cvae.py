"""The LA-GNN feature generator (local_augmentation.cvae) against closed forms, brute force, the official layout."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("torch_geometric")

from icml22dl.data import load_planetoid  # noqa: E402
from icml22dl.graphs import (  # noqa: E402
    FeatureCVAE,
    UScoreSelection,
    cvae_loss,
    neighbour_pairs,
    pretrain_cvae,
    row_normalise,
    u_score,
)
from tests.graphs.local_augmentation._graphs import Helper, sbm  # noqa: E402


def test_neighbour_pairs_brute_force():
    g = torch.Generator().manual_seed(1)
    ei = torch.randint(0, 12, (2, 60), generator=g)
    centre, neighbour = neighbour_pairs(ei, 12)
    expected = sorted({(int(i), int(j)) for i, j in ei.t() if i != j})
    assert list(zip(centre.tolist(), neighbour.tolist())) == expected


@pytest.mark.requires_data("cora")
def test_neighbour_pairs_cora_count():
    cora = load_planetoid("cora")
    assert len(neighbour_pairs(cora.edge_index, cora.num_nodes)[0]) == 10556  # = Cora's directed edges


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
    bce = -sum(
        xi * math.log(ri) + (1 - xi) * math.log(1 - ri)
        for xi, ri in zip(x.flatten().tolist(), recon.flatten().tolist())
    )
    kl = sum(
        -0.5 * (1 + lv - m * m - math.exp(lv)) for m, lv in zip(mean.flatten().tolist(), log_var.flatten().tolist())
    )
    assert cvae_loss(recon, x, mean, log_var).item() == pytest.approx((bce + kl) / 4, rel=1e-5)
    with pytest.raises(ValueError, match="kind"):
        cvae_loss(recon, x, mean, log_var, kind="l1")


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
    cvae, history = pretrain_cvae(
        cvae,
        x,
        neighbour_pairs(ei, len(x)),
        epochs=8,
        batch_size=128,
        lr=1e-2,
        generator=torch.Generator().manual_seed(0),
    )
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


def test_u_score_is_zero_for_a_deterministic_helper_and_matches_the_formula():
    x, y, ei, masks = sbm()
    torch.manual_seed(0)
    assert u_score(Helper(x.shape[1], 3, 0.0), x, ei, y, masks[0], passes=5) == pytest.approx(0.0, abs=1e-6)
    helper = Helper(x.shape[1], 3, 0.5)
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
    x, y, ei, masks = sbm()
    torch.manual_seed(0)
    helper = Helper(x.shape[1], 3, 0.5)
    selection = UScoreSelection(helper, ei, y, masks[0], passes=3, every=2, warmup=3, update_epochs=2)
    cvae = FeatureCVAE(x.shape[1], hidden=16, latent=2)
    _, history = pretrain_cvae(
        cvae,
        x,
        neighbour_pairs(ei, len(x)),
        epochs=1,
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
        selection=selection,
    )
    steps = len(history["loss"])
    assert history["u_step"] == [float(s) for s in range(2, steps + 1, 2)]
    assert all(u <= 1e-6 for u in history["u_score"])
    with pytest.raises(ValueError, match="passes"):
        UScoreSelection(helper, ei, y, masks[0], passes=0)


def test_train_helper_equals_an_independent_adam_loop():
    x, y, ei, masks = sbm()
    torch.manual_seed(0)
    helper = Helper(x.shape[1], 3, 0.0)
    reference = Helper(x.shape[1], 3, 0.0)
    reference.load_state_dict(helper.state_dict())
    UScoreSelection(helper, ei, y, masks[0]).train_helper(x, epochs=7)
    opt = torch.optim.Adam(reference.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(7):
        opt.zero_grad()
        F.cross_entropy(reference(x, ei)[masks[0]], y[masks[0]]).backward()
        opt.step()
    for a, b in zip(helper.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)
