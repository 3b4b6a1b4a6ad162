"""VP-SDE, the EM reverse step and DSM, against closed forms for Gaussian data."""

import math

import pytest
import scipy.integrate
import torch

from icml22dl.inverse import VPSDE, Normaliser, ScoreMLP, ScoreViT, dsm_loss, em_reverse_step, train_score


def _gaussian_score(sde, s0):
    """Exact score of p_t for data N(0, s0^2 I): -x / (alpha^2 s0^2 + sigma^2)."""

    def score(x, t):
        alpha, sigma = sde.marginal(t)
        var = alpha ** 2 * s0 ** 2 + sigma ** 2
        return -x / var.reshape(-1, *([1] * (x.dim() - 1)))

    return score


def test_marginal_matches_the_integral_of_beta():
    sde = VPSDE()
    for t in (0.01, 0.3, 1.0):
        integral, _ = scipy.integrate.quad(lambda s: 0.1 + s * 19.9, 0.0, t)
        alpha, sigma = sde.marginal(torch.tensor(t, dtype=torch.float64))
        assert alpha.item() == pytest.approx(math.exp(-0.5 * integral), rel=1e-12)
        assert sigma.item() ** 2 == pytest.approx(1 - math.exp(-integral), rel=1e-10)


def test_reverse_step_is_the_card_formula_on_a_gaussian_score():
    # Delta = (beta(t0)/N)(x/2 + s(x, t0)) with s = -x / v_t, checked entry by entry.
    sde = VPSDE(0.1, 20.0, 1000)
    s0, t0 = 0.7, 0.01
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _, mean = em_reverse_step(_gaussian_score(sde, s0), x, t0, sde, noise=False)
    beta = 0.1 + 19.9 * t0
    integral = 0.1 * t0 + 0.5 * 19.9 * t0 ** 2
    alpha2 = math.exp(-integral)
    v = alpha2 * s0 ** 2 + 1 - alpha2
    expected = x + beta / 1000 * (x / 2 - x / v)
    assert torch.allclose(mean, expected, atol=1e-14, rtol=0)
    nxt, mean2 = em_reverse_step(_gaussian_score(sde, s0), x.repeat(2000, 1), t0, sde,
                                 generator=torch.Generator().manual_seed(1))
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
        return (sigma / (alpha ** 2 * s0 ** 2 + sigma ** 2))[:, None] * x

    x0 = s0 * torch.randn(400000, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss = dsm_loss(optimal, x0, sde, torch.Generator().manual_seed(4)).item()

    def integrand(t):
        a2 = math.exp(2 * sde.log_alpha(torch.tensor(t, dtype=torch.float64)).item())
        return 1 - (1 - a2) / (a2 * s0 ** 2 + 1 - a2)

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
