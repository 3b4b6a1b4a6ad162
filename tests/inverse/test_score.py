"""VP-SDE, the EM reverse step and DSM, against closed forms for Gaussian data."""

import math

import pytest
import scipy.integrate
import torch

from icml22dl.inverse import (
    VPSDE,
    FlatScoreViT,
    Normaliser,
    ScoreMLP,
    ScoreViT,
    device_generator,
    dsm_loss,
    em_reverse_step,
    train_score,
)


def _gaussian_score(sde, s0):
    """Exact score of p_t for data N(0, s0^2 I): -x / (alpha^2 s0^2 + sigma^2)."""

    def score(x, t):
        alpha, sigma = sde.marginal(t)
        var = alpha**2 * s0**2 + sigma**2
        return -x / var.reshape(-1, *([1] * (x.dim() - 1)))

    return score


def test_marginal_matches_the_integral_of_beta():
    sde = VPSDE()
    for t in (0.01, 0.3, 1.0):
        integral, _ = scipy.integrate.quad(lambda s: 0.1 + s * 19.9, 0.0, t)
        alpha, sigma = sde.marginal(torch.tensor(t, dtype=torch.float64))
        assert alpha.item() == pytest.approx(math.exp(-0.5 * integral), rel=1e-12)
        assert sigma.item() ** 2 == pytest.approx(1 - math.exp(-integral), rel=1e-10)


def test_reverse_step_is_the_euler_maruyama_formula_on_a_gaussian_score():
    # Delta = (beta(t0)/N)(x/2 + s(x, t0)) with s = -x / v_t, checked entry by entry.
    sde = VPSDE(0.1, 20.0, 1000)
    s0, t0 = 0.7, 0.01
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _, mean = em_reverse_step(_gaussian_score(sde, s0), x, t0, sde, noise=False)
    beta = 0.1 + 19.9 * t0
    integral = 0.1 * t0 + 0.5 * 19.9 * t0**2
    alpha2 = math.exp(-integral)
    v = alpha2 * s0**2 + 1 - alpha2
    expected = x + beta / 1000 * (x / 2 - x / v)
    assert torch.allclose(mean, expected, atol=1e-14, rtol=0)
    nxt, mean2 = em_reverse_step(
        _gaussian_score(sde, s0), x.repeat(2000, 1), t0, sde, generator=torch.Generator().manual_seed(1)
    )
    assert (nxt - mean2).std().item() == pytest.approx(math.sqrt(beta / 1000), rel=0.02)


def test_full_reverse_chain_recovers_the_data_variance():
    # Euler-Maruyama from N(0, I) at t = 1 down to t = 1e-3 with the exact score.
    sde = VPSDE()
    s0 = 0.5
    g = torch.Generator().manual_seed(2)
    x = torch.randn(20000, 1, dtype=torch.float64, generator=g)
    score = _gaussian_score(sde, s0)
    for t in torch.linspace(1.0, 1e-3, sde.N, dtype=torch.float64):
        x, _ = em_reverse_step(score, x, float(t), sde, generator=g)
    assert x.std().item() == pytest.approx(s0, rel=0.03)


def test_dsm_loss_of_the_optimal_predictor_is_the_closed_form():
    # Data N(0, s0^2): the Bayes eps-predictor is sigma x_t / v_t and its expected loss is
    # 1 - E_t[sigma_t^2 / v_t], t ~ U(eps, 1).
    sde = VPSDE()
    s0 = 0.5

    def optimal(x, t):
        alpha, sigma = sde.marginal(t)
        return (sigma / (alpha**2 * s0**2 + sigma**2))[:, None] * x

    x0 = s0 * torch.randn(400000, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss = dsm_loss(optimal, x0, sde, torch.Generator().manual_seed(4)).item()

    def integrand(t):
        a2 = math.exp(2 * sde.log_alpha(torch.tensor(t, dtype=torch.float64)).item())
        return 1 - (1 - a2) / (a2 * s0**2 + 1 - a2)

    expected = scipy.integrate.quad(integrand, 1e-3, 1.0)[0] / (1 - 1e-3)
    assert loss == pytest.approx(expected, rel=0.01)


def test_trained_score_mlp_approaches_the_gaussian_score():
    torch.manual_seed(0)
    sde = VPSDE()
    s0 = 0.5
    data = s0 * torch.randn(4096, 2, generator=torch.Generator().manual_seed(5))
    net = ScoreMLP(2, hidden=64, layers=2)
    train_score(net, data, sde, 600, 256, 2e-3, torch.Generator().manual_seed(6))
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(7))
    t = torch.full((512,), 0.3)
    learned = sde.score_from_eps(net)(x, t)
    exact = _gaussian_score(sde, s0)(x, t)
    assert ((learned - exact).norm() / exact.norm()).item() < 0.15


def test_score_vit_patch_one_shapes_and_errors():
    net = ScoreViT(channels=8, tokens=16, d_model=32, depth=2, heads=2)
    x = torch.randn(3, 8, 4, 4)
    out = net(x, torch.rand(3))
    assert out.shape == x.shape
    assert net(torch.randn(3, 16, 8), torch.rand(3)).shape == (3, 16, 8)
    with pytest.raises(ValueError, match="patch"):
        ScoreViT(8, 16, patch=2)
    with pytest.raises(ValueError, match="tokens"):
        net(torch.randn(3, 8, 2, 2), torch.rand(3))


def test_normalisers_and_bad_inputs():
    codes = torch.tensor([[-2.0, 0.0], [2.0, 1.0]])
    mm = Normaliser.minmax(codes)
    assert mm(codes).min().item() == 0.0 and mm(codes).max().item() == 1.0
    assert torch.allclose(mm.inverse(mm(codes)), codes)
    with pytest.raises(ValueError, match="beta_max"):
        VPSDE(1.0, 0.5)
    with pytest.raises(ValueError, match="t="):
        em_reverse_step(lambda x, t: x, torch.zeros(2, 2), 0.0)
    with pytest.raises(ValueError, match="weighting"):
        dsm_loss(lambda x, t: x, torch.zeros(2, 2), VPSDE(), weighting="x")


def test_flat_score_vit_is_the_token_vit_on_reshaped_codes():
    # Same weights, independent reading: (B, 32) as 16 tokens of 2 entries, through ScoreViT.
    torch.manual_seed(0)
    flat = FlatScoreViT(code=32, tokens=16, d_model=16, depth=1)
    x, t = torch.randn(3, 32), torch.rand(3)
    expected = flat.vit(x.reshape(3, 16, 2), t).reshape(3, 32)
    assert torch.equal(flat(x, t), expected)
    token = ScoreViT(2, 16, d_model=16, depth=1, heads=1)
    token.load_state_dict(flat.vit.state_dict())
    assert torch.allclose(token(x.reshape(3, 16, 2), t).reshape(3, 32), flat(x, t))
    with pytest.raises(ValueError, match="tokens=5"):
        FlatScoreViT(code=32, tokens=5)


def test_normaliser_fit_picks_the_named_normalisation():
    codes = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, 2.0]])
    for kind, reference in (("minmax", Normaliser.minmax(codes)), ("standard", Normaliser.standard(codes))):
        fitted = Normaliser.fit(codes, kind)
        assert torch.equal(fitted.shift, reference.shift) and torch.equal(fitted.scale, reference.scale)
    standard = Normaliser.fit(codes, "standard")(codes)
    assert torch.allclose(standard.mean(dim=0), torch.zeros(2), atol=1e-6)
    assert torch.allclose(standard.std(dim=0), torch.ones(2), atol=1e-6)
    with pytest.raises(ValueError, match="kind='zscore'"):
        Normaliser.fit(codes, "zscore")


def test_device_generator_is_seeded_by_one_draw_of_the_source():
    source = torch.Generator().manual_seed(11)
    reference_seed = int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(11)))
    gen = device_generator(source, "cpu")
    assert gen.initial_seed() == reference_seed
    # The source advanced by exactly one draw.
    follow = torch.Generator().manual_seed(11)
    torch.randint(0, 2**62, (1,), generator=follow)
    assert torch.equal(torch.rand(4, generator=source), torch.rand(4, generator=follow))
    with pytest.raises(ValueError, match="source"):
        device_generator(None, "cpu")
