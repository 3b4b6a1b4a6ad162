"""DEQ layer: IFT gradient against finite differences, unrolled backprop and the linear closed form."""

import pytest
import torch
import torch.nn.functional as F

from icml22dl.nn.deq import DEQ, FCDEQ


def small_net(sigma=0.8, width=8, backward="ift", solver="anderson"):
    net = FCDEQ(
        5,
        width,
        3,
        init="orthogonal",
        sigma_w=sigma,
        generator=torch.Generator().manual_seed(0),
        solver=solver,
        backward=backward,
        f_tol=1e-13,
        b_tol=1e-13,
        f_max_iter=300,
        b_max_iter=300,
    )
    return net.double()


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(6, 5, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("solver", ["anderson", "broyden", "fixed_point"])
def test_ift_gradient_matches_finite_differences_of_the_converged_fixed_point(solver):
    net = small_net(solver=solver)
    x, y = data()
    F.cross_entropy(net(x), y).backward()
    assert net.deq.backward_info.converged
    for param in (net.cell.weight, net.cell.input_weight, net.cell.bias):
        analytic = param.grad.clone()
        numeric = torch.zeros_like(param)
        flat, nflat = param.data.view(-1), numeric.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 7)):
            old = flat[i].item()
            with torch.no_grad():
                flat[i] = old + 1e-6
                lp = F.cross_entropy(net(x), y).item()
                flat[i] = old - 1e-6
                lm = F.cross_entropy(net(x), y).item()
                flat[i] = old
            nflat[i] = (lp - lm) / 2e-6
            assert analytic.view(-1)[i].item() == pytest.approx(nflat[i].item(), abs=1e-6)


def test_ift_matches_unrolled_backprop_on_a_contraction():
    x, y = data()
    grads = {}
    for backward in ("ift", "unrolled"):
        net = small_net(sigma=0.5, backward=backward)
        net.deq.f_max_iter = 200 if backward == "unrolled" else 300
        F.cross_entropy(net(x), y).backward()
        grads[backward] = net.cell.weight.grad
    assert torch.allclose(grads["ift"], grads["unrolled"], atol=1e-6)


def test_linear_deq_input_gradient_is_the_transposed_resolvent():
    # f(z, u) = W z + u: dl/du = (I - W)^{-T} dl/dz*
    g = torch.Generator().manual_seed(2)
    n = 10
    w = 0.6 * torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    deq = DEQ(lambda z, u: z @ w.T + u, f_tol=1e-13, b_tol=1e-13, f_max_iter=300, b_max_iter=300)
    u = torch.randn(3, n, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, n, generator=g, dtype=torch.float64)
    (deq(u) * v).sum().backward()
    expected = torch.linalg.solve((torch.eye(n, dtype=torch.float64) - w).T, v.T).T
    assert torch.allclose(u.grad, expected, atol=1e-6)


def test_phantom_gradient_is_one_step_of_f():
    x, y = data()
    net = small_net(backward="phantom")
    z_star = net.deq(net.cell.inject(x).detach()).detach()
    out = net.deq(net.cell.inject(x))
    assert torch.allclose(out, net.cell(z_star, net.cell.inject(x)), atol=1e-10)


def test_stats_are_exposed_and_eval_mode_has_no_graph():
    net = small_net()
    x, _ = data()
    with torch.no_grad():
        out = net(x)
    assert not out.requires_grad
    info = net.deq.forward_info
    assert info.converged and info.steps >= 2 and info.rel_lowest < 1e-12


def test_bad_arguments():
    with pytest.raises(ValueError, match="backward"):
        DEQ(lambda z, x: z, backward="adjoint")
    with pytest.raises(ValueError, match="init"):
        FCDEQ(2, 4, 2, init="uniform")
