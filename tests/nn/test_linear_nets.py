"""Deep linear and diagonal linear networks: products, balance, gradients, flows, GD invariant."""

import numpy as np
import pytest
import torch

from icml22dl.analysis.deep_linear import reduced_flow
from icml22dl.data.linear_targets import spectral_target
from icml22dl.nn.linear_nets import (
    DeepLinearNet,
    DiagonalLinearNet,
    balance_drift,
    balanced_rank_one_init,
    diagonal_gd,
    factor_flow,
    factor_gradients,
)

F64 = torch.float64


def _unit(n, g):
    x = torch.randn(n, generator=g, dtype=F64)
    return x / x.norm()


def test_deep_linear_net_is_the_dense_product():
    g = torch.Generator().manual_seed(0)
    net = DeepLinearNet((6, 3, 1, 5), generator=g)
    x = torch.randn(4, 6, dtype=F64)
    w = net.layers[2].weight @ net.layers[1].weight @ net.layers[0].weight
    assert torch.allclose(net(x), x @ w.T, atol=1e-14)
    assert torch.allclose(net.end_to_end(), w, atol=1e-14)
    net.set_weights([torch.zeros(3, 6, dtype=F64), torch.zeros(1, 3, dtype=F64), torch.zeros(5, 1, dtype=F64)])
    assert float(net.end_to_end().detach().abs().max()) == 0.0
    with pytest.raises(ValueError, match="widths"):
        DeepLinearNet((6,))
    with pytest.raises(ValueError, match="shape"):
        net.set_weights([torch.zeros(2, 6, dtype=F64), torch.zeros(1, 3, dtype=F64), torch.zeros(5, 1, dtype=F64)])


@pytest.mark.parametrize("widths", [(6, 1, 5), (6, 4, 1, 5), (6, 3, 1, 4, 5)])
def test_balanced_rank_one_init_is_balanced_and_has_the_product(widths):
    g = torch.Generator().manual_seed(1)
    u, v = _unit(5, g), _unit(6, g)
    ws = balanced_rank_one_init(widths, 0.05, u, v, generator=g)
    assert balance_drift(ws) <= 1e-14
    product = ws[0]
    for w in ws[1:]:
        product = w @ product
    assert torch.allclose(product, 0.05 * torch.outer(u, v), atol=1e-15)
    assert all(torch.linalg.matrix_rank(w) == 1 for w in ws)


def test_factor_gradients_match_autograd():
    g = torch.Generator().manual_seed(2)
    ws = [
        torch.randn(3, 6, generator=g, dtype=F64),
        torch.randn(1, 3, generator=g, dtype=F64),
        torch.randn(5, 1, generator=g, dtype=F64),
    ]
    z = torch.randn(5, 6, generator=g, dtype=F64)
    grads, _, loss = factor_gradients(ws, z)
    leaves = [w.clone().requires_grad_(True) for w in ws]
    ref = 0.5 * ((leaves[2] @ leaves[1] @ leaves[0] - z) ** 2).sum()
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-14)
    for a, b in zip(grads, leaves):
        assert torch.allclose(a, b.grad, atol=1e-12)


def test_factor_flow_matches_scipy_solve_ivp_and_gd_is_euler():
    from scipy.integrate import solve_ivp

    g = torch.Generator().manual_seed(3)
    z = spectral_target((3.0, 2.0, 1.0), 3, 4, g)
    ws = balanced_rank_one_init((4, 1, 2, 3), 0.1, _unit(3, g), _unit(4, g), generator=g)
    shapes = [w.shape for w in ws]

    def rhs(t, flat):
        parts, k = [], 0
        for s in shapes:
            n = s[0] * s[1]
            parts.append(torch.from_numpy(flat[k : k + n].reshape(s)))
            k += n
        grads, _, _ = factor_gradients(parts, z)
        return -np.concatenate([gr.numpy().ravel() for gr in grads])

    flat0 = np.concatenate([w.numpy().ravel() for w in ws])
    sol = solve_ivp(rhs, (0, 1.0), flat0, method="DOP853", rtol=1e-12, atol=1e-14)
    flow = factor_flow(ws, z, 1.0, 1e-3, record_every=1000)
    ref_ws, k = [], 0
    for s in shapes:
        n = s[0] * s[1]
        ref_ws.append(torch.from_numpy(sol.y[k : k + n, -1].reshape(s)))
        k += n
    for a, b in zip(flow.weights, ref_ws):
        assert torch.allclose(a, b, atol=1e-9)
    # gd: one step is W - dt * grad
    one = factor_flow(ws, z, 0.01, 0.01, method="gd")
    grads, _, _ = factor_gradients(ws, z)
    for w, gr, new in zip(ws, grads, one.weights):
        assert torch.allclose(new, w - 0.01 * gr, atol=1e-15)


def test_factor_rk4_matches_reduced_flow_and_conserves_balance():
    g = torch.Generator().manual_seed(4)
    z = spectral_target((3.0, 2.0, 1.0, 0.5, 0.2), 5, 6, g)
    u, v = _unit(5, g), _unit(6, g)
    for widths in ((6, 1, 5), (6, 4, 1, 5)):
        ws = balanced_rank_one_init(widths, 0.05, u, v, generator=g)
        flow = factor_flow(ws, z, 2.0, 1e-3, record_every=100)
        red = reduced_flow(z, 0.05, u, v, len(widths) - 1, 2.0, 1e-3, record_every=100)
        assert float(torch.linalg.matrix_norm(flow.products - red.products).max()) <= 1e-8
        assert float(flow.balance_drift.max()) <= 1e-10
        assert torch.allclose(flow.loss, red.loss, atol=1e-8)


def test_diagonal_net_and_gd_match_a_numpy_loop():
    g = torch.Generator().manual_seed(5)
    X = torch.randn(10, 30, generator=g, dtype=F64) + 1.0
    y = X[:, :2].sum(1)
    net = DiagonalLinearNet(30, 0.1)
    assert torch.equal(net.beta.detach(), torch.zeros(30, dtype=F64))
    eta, alpha = 0.01, 0.1
    res = diagonal_gd(X, y, alpha, eta, max_steps=200, tol=0.0)
    Xn, yn = X.numpy(), y.numpy()
    u = np.full(30, alpha)
    v = np.full(30, alpha)
    for _ in range(200):
        r = Xn @ (u * u - v * v) - yn
        grad = Xn.T @ r / 10
        u, v = u - 2 * eta * u * grad, v + 2 * eta * v * grad
    assert res.steps == 200 and res.status == "max_steps"
    assert np.allclose(res.beta.numpy(), u * u - v * v, atol=1e-12)


def test_one_gd_step_multiplies_uv_by_one_minus_4_eta2_g2():
    g = torch.Generator().manual_seed(6)
    X = torch.randn(8, 20, generator=g, dtype=F64) + 1.0
    y = torch.randn(8, generator=g, dtype=F64)
    eta, alpha = 0.05, 0.3
    res = diagonal_gd(X, y, alpha, eta, max_steps=1, tol=0.0)
    grad = X.T @ (X @ torch.zeros(20, dtype=F64) - y) / 8
    expected = alpha * alpha * (1 - 4 * eta**2 * grad**2)
    assert torch.allclose(res.u * res.v, expected, atol=1e-12, rtol=0)


def test_gradient_matches_autograd_and_divergence_is_an_outcome():
    g = torch.Generator().manual_seed(7)
    X = torch.randn(8, 20, generator=g, dtype=F64) + 1.0
    y = torch.randn(8, generator=g, dtype=F64)
    net = DiagonalLinearNet(20, 0.3)
    with torch.no_grad():
        net.u.add_(0.1 * torch.randn(20, generator=g, dtype=F64))
    loss = ((net(X) - y) ** 2).sum() / 16
    loss.backward()
    grad = X.T @ (net(X).detach() - y) / 8
    assert torch.allclose(net.u.grad, 2 * net.u.detach() * grad, atol=1e-12)
    assert torch.allclose(net.v.grad, -2 * net.v.detach() * grad, atol=1e-12)
    res = diagonal_gd(X, y, 1.0, 10.0, max_steps=1000)
    assert res.status == "diverged" and not res.steps >= 1000
    with pytest.raises(ValueError, match="eta"):
        diagonal_gd(X, y, 0.1, 0.0)


def test_batched_factor_flow_equals_separate_flows_and_stops_at_stop_loss():
    g = torch.Generator().manual_seed(7)
    z = spectral_target((3.0, 2.0, 1.0), 3, 4, g)
    widths = (4, 2, 1, 3)
    starts = [balanced_rank_one_init(widths, 0.1, _unit(3, g), _unit(4, g), generator=g) for _ in range(3)]
    batch = [torch.stack([s[j] for s in starts]) for j in range(3)]
    flow = factor_flow(batch, z, 1.0, 1e-2, record_every=10)
    assert flow.loss.shape == (11, 3) and flow.products is not None and flow.products.shape == (11, 3, 3, 4)
    for b, ws in enumerate(starts):
        one = factor_flow(ws, z, 1.0, 1e-2, record_every=10)
        # the same RK4 arithmetic; batched matmul may sum in another order (float64 round-off)
        assert torch.allclose(flow.loss[:, b], one.loss, rtol=1e-12, atol=1e-14)
        assert torch.allclose(flow.top_singular_value[:, b], one.top_singular_value, rtol=1e-12)
    assert float(flow.balance_drift.max()) == pytest.approx(
        max(float(factor_flow(ws, z, 1.0, 1e-2, record_every=10).balance_drift.max()) for ws in starts), abs=1e-14
    )
    # stop_loss: the flow stops at the first record where every loss is below the level
    l_star = 0.5 * (2.0**2 + 1.0**2)
    capped = factor_flow(batch, z, 60.0, 1e-2, record_every=10, stop_loss=l_star + 1e-9, keep_products=False)
    assert capped.products is None
    assert bool((capped.loss[-1] <= l_star + 1e-9).all()) and not bool((capped.loss[-2] <= l_star + 1e-9).all())
    assert float(capped.times[-1]) < 60.0
