"""Temporal graph components against brute force, dense re-implementations and invariances."""

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torch_geometric")

from icml22dl.data.temporal_graphs import DynamicGraphSignal, dyncsl_like, load_england_covid  # noqa: E402
from icml22dl.graphs.temporal import (  # noqa: E402
    GCNGRU,
    EvolveGCNH,
    EvolveGCNO,
    GConvGRU,
    HistoryEncoder,
    TemporalBatch,
    TimeThenGraph,
    WindowAggregator,
    history_groups,
    mean_pool,
    propagate,
    scaled_laplacian,
    temporal_batches,
)


def _random_signal(n=9, steps=4, seed=0, weights=True):
    g = torch.Generator().manual_seed(seed)
    edges = [torch.randint(0, n, (2, 12), generator=g) for _ in range(steps)]
    edges = [torch.unique(e, dim=1) for e in edges]  # no duplicate edge within a step
    w = [torch.rand(e.shape[1], generator=g) + 0.1 for e in edges] if weights else None
    return DynamicGraphSignal(edges, w, torch.randn(steps, n, 3, generator=g))


def _brute_force_histories(signal, pad=-1.0):
    union = sorted({(int(i), int(j)) for ei in signal.edge_indices for i, j in ei.t()})
    hist = {e: [pad] * signal.num_steps for e in union}
    for t, ei in enumerate(signal.edge_indices):
        for k, (i, j) in enumerate(ei.t().tolist()):
            hist[(i, j)][t] = 1.0 if signal.edge_weights is None else float(signal.edge_weights[t][k])
    return union, hist


@pytest.mark.parametrize("weights", [True, False])
def test_window_aggregator_equals_a_python_set_union(weights):
    signal = _random_signal(weights=weights)
    agg = WindowAggregator(time_feature="none")(signal)
    union, hist = _brute_force_histories(signal)
    assert [tuple(e) for e in agg.edge_index.t().tolist()] == union
    for k, e in enumerate(union):
        assert agg.edge_history[k, :, 0].tolist() == pytest.approx(hist[e])
    torch.testing.assert_close(agg.node_history, signal.features.permute(1, 0, 2))
    counts = agg.presence_counts().squeeze(1).tolist()
    assert counts == [sum(v != -1.0 for v in hist[e]) for e in union]


@pytest.mark.requires_data("england-covid")
def test_window_aggregator_time_feature_and_england_covid_first_window():
    covid = load_england_covid().window(0, 7)
    agg = WindowAggregator(time_feature="inc")(covid)
    union, hist = _brute_force_histories(covid)
    assert agg.edge_index.shape[1] == len(union)
    k = len(union) // 2
    assert agg.edge_history[k, :, 0].tolist() == pytest.approx(hist[union[k]])
    assert agg.edge_history[0, :, 1].tolist() == [0.0] + [1.0] * 6
    assert agg.node_history.shape == (129, 7, 2)
    with pytest.raises(ValueError, match="time_feature"):
        WindowAggregator(time_feature="abs")


def test_history_encoder_gru_is_the_last_state_of_a_gru_cell_loop():
    torch.manual_seed(0)
    enc = HistoryEncoder(3, 5, "gru")
    seq = torch.randn(4, 6, 3)
    cell = torch.nn.GRUCell(3, 5)
    with torch.no_grad():
        cell.weight_ih.copy_(enc.rnn.weight_ih_l0), cell.weight_hh.copy_(enc.rnn.weight_hh_l0)
        cell.bias_ih.copy_(enc.rnn.bias_ih_l0), cell.bias_hh.copy_(enc.rnn.bias_hh_l0)
    h = torch.zeros(4, 5)
    for t in range(6):
        h = cell(seq[:, t], h)
    torch.testing.assert_close(enc(seq), h, atol=1e-6, rtol=1e-5)
    for kind in ("lstm", "attention"):
        assert HistoryEncoder(3, 5, kind)(seq).shape == (4, 5)
    with pytest.raises(ValueError, match="kind"):
        HistoryEncoder(3, 5, "tcn")


def test_sum_path_equals_a_dense_adjacency_computation():
    signal = _random_signal()
    agg = WindowAggregator()(signal)
    torch.manual_seed(0)
    model = TimeThenGraph(4, 2, 2, hidden=6, gnn="sum", act="tanh", readout="node").eval()
    h = torch.tanh(model.node_enc(agg.node_history))
    e = model.edge_enc(agg.edge_history)
    adj = torch.zeros(signal.num_nodes, signal.num_nodes)
    adj[agg.edge_index[1], agg.edge_index[0]] = e.mean(-1)  # adj[dst, src] = w
    z = adj @ model.conv2.lin(adj @ model.conv1.lin(h))
    expected = model.head(torch.cat([z, h], -1))
    torch.testing.assert_close(model(agg), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("gnn", ["gcn", "gat", "gin", "sum"])
def test_time_then_graph_is_invariant_to_node_permutations(gnn):
    # Property test: for random graphs and random relabellings, graph outputs are unchanged
    # and node outputs are permuted the same way (tolerance 1e-5: summation order differs).
    for seed in range(3):
        signal = _random_signal(seed=seed)
        torch.manual_seed(seed)
        model = TimeThenGraph(4, 2, 3, hidden=8, gnn=gnn, readout="node").eval()
        pooled = TimeThenGraph(4, 2, 3, hidden=8, gnn=gnn, readout="mean").eval()
        aggregate = WindowAggregator()
        perm = torch.randperm(signal.num_nodes, generator=torch.Generator().manual_seed(100 + seed))
        moved = signal.permute_nodes(perm)
        with torch.no_grad():
            torch.testing.assert_close(model(aggregate(moved)), model(aggregate(signal))[perm], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(pooled(aggregate(moved)), pooled(aggregate(signal)), atol=1e-5, rtol=1e-4)


def test_dedupe_is_exact():
    samples = dyncsl_like(12, generator=torch.Generator().manual_seed(0))
    batch = DynamicGraphSignal.collate(samples)
    agg = WindowAggregator()(batch)
    torch.manual_seed(0)
    model = TimeThenGraph(2, 2, 6, hidden=8, gnn="sum", readout="mean")
    fast = model(agg)
    model.dedupe = False
    torch.testing.assert_close(fast, model(agg), atol=1e-6, rtol=1e-5)


def test_time_and_graph_is_constant_on_the_dyncsl_like_task_but_time_then_graph_is_not():
    # The mechanism of the claim: regular snapshots with equal features give a TaG model one
    # output for every sample (whatever its weights), while TtG's outputs differ by class.
    samples = dyncsl_like(12, generator=torch.Generator().manual_seed(0))
    batch = DynamicGraphSignal.collate(samples)
    torch.manual_seed(0)
    tag = GCNGRU(1, 6, hidden=8, gnn="sum", act="tanh", readout="mean")
    out = tag(batch)
    assert (out - out[0]).abs().max().item() < 1e-5
    ttg = TimeThenGraph(2, 2, 6, hidden=8, gnn="sum", act="tanh", readout="mean")
    out = ttg(WindowAggregator()(batch))
    assert (out[3] - out[0]).abs().max().item() > 1e-4  # 'all distinct' vs 'all equal'
    # The order-blind ablation cannot tell halves (1) from alternating (2).
    count = TimeThenGraph(2, 2, 6, hidden=8, gnn="sum", act="tanh", readout="mean", edge_encoder="count")
    out = count(WindowAggregator()(batch))
    torch.testing.assert_close(out[1], out[2], atol=1e-5, rtol=1e-4)


def test_gcn_gru_official_bug_flag_equals_running_on_edgeless_snapshots():
    signal = _random_signal()
    empty = DynamicGraphSignal(
        [e[:, :0] for e in signal.edge_indices], [w[:0] for w in signal.edge_weights], signal.features
    )
    torch.manual_seed(0)
    model = GCNGRU(3, 2, hidden=5, ignore_edges=True)
    reference = GCNGRU(3, 2, hidden=5)
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(signal), reference(empty))
    assert not torch.allclose(reference(signal), reference(empty))


def test_evolvegcn_o_against_its_equations():
    signal = _random_signal(weights=False)
    torch.manual_seed(0)
    model = EvolveGCNO(3, 2, hidden=4, act="softplus")
    n = signal.num_nodes
    weight = model.initial
    for t in range(signal.num_steps):
        weight = model.evolve(weight, weight)  # W_t = GRU(W_{t-1}, W_{t-1})
        a = torch.eye(n)
        for i, j in signal.edge_indices[t].t().tolist():
            if i != j:
                a[j, i] += 1.0
        deg = a.sum(1)
        a_hat = a / deg.sqrt()[:, None] / deg.sqrt()[None, :]
        h = F.softplus(a_hat @ model.lin(signal.features[t]) @ weight)
    torch.testing.assert_close(model(signal), model.head(h), atol=1e-5, rtol=1e-4)


def test_mean_pool_and_bad_arguments():
    h = torch.arange(8.0).reshape(4, 2)
    torch.testing.assert_close(mean_pool(h, torch.tensor([0, 0, 1, 1])), torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    with pytest.raises(ValueError, match="gnn"):
        TimeThenGraph(2, 2, 1, gnn="cheb")
    with pytest.raises(ValueError, match="readout"):
        GCNGRU(1, 1, readout="max")


def test_mean_pool_equals_a_loop_over_graphs_and_leaves_empty_graphs_at_zero():
    g = torch.Generator().manual_seed(0)
    h, batch = torch.randn(7, 3, generator=g), torch.tensor([0, 0, 2, 2, 2, 3, 3])
    pooled = mean_pool(h, batch, 5)
    for k in range(5):
        rows = [h[i] for i in range(7) if batch[i] == k]
        expected = sum(rows) / len(rows) if rows else torch.zeros(3)
        torch.testing.assert_close(pooled[k], expected)
    torch.testing.assert_close(mean_pool(h, None), h.mean(0, keepdim=True))


def test_temporal_batches_collate_consecutive_groups_and_move():
    samples = dyncsl_like(7, generator=torch.Generator().manual_seed(0))
    aggregate = WindowAggregator()
    batches = temporal_batches(samples, 3, aggregate)
    assert [b.aggregated.num_graphs for b in batches] == [3, 3, 1]
    reference = DynamicGraphSignal.collate(samples[3:6])
    assert torch.equal(batches[1].signal.features, reference.features)
    assert torch.equal(batches[1].signal.label, reference.label)
    expected = aggregate(reference)
    moved = batches[1].to("cpu")
    assert isinstance(moved, TemporalBatch)
    for name in ("edge_index", "edge_history", "node_history", "batch"):
        assert torch.equal(getattr(moved.aggregated, name), getattr(expected, name))
    with pytest.raises(ValueError, match="batch_size"):
        temporal_batches(samples, 0, aggregate)


def _dense_scaled_laplacian(edge_index, weight, n):
    a = torch.zeros(n, n)
    for k, (j, i) in enumerate(edge_index.t().tolist()):
        if i != j:
            a[i, j] += 1.0 if weight is None else float(weight[k])
    deg = a.sum(1)
    inv = torch.where(deg > 0, deg.clamp(min=1e-12).pow(-0.5), torch.zeros(()))
    return -inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_gconvgru_against_six_dense_chebyshev_convolutions(order):
    # GCRN model 2 written out: every gate a K-order Chebyshev filter of x_t and of h.
    signal = _random_signal()
    torch.manual_seed(0)
    model = GConvGRU(3, 2, hidden=4, order=order)
    n, hid = signal.num_nodes, 4
    wx, bx = model.x_filters.weight, model.x_filters.bias
    wh, wrh = model.h_filters.weight, model.rh_filter.weight
    h = torch.zeros(n, hid)
    for t in range(signal.num_steps):
        lap = _dense_scaled_laplacian(signal.edge_indices[t], signal.edge_weights[t], n)

        def cheb(v, lap=lap):
            basis = [v, lap @ v]
            while len(basis) < order:
                basis.append(2 * lap @ basis[-1] - basis[-2])
            return torch.cat(basis[:order], dim=1)

        gx = cheb(signal.features[t]) @ wx.t() + bx
        gh = cheb(h) @ wh.t()
        z = torch.sigmoid(gx[:, :hid] + gh[:, :hid])
        r = torch.sigmoid(gx[:, hid : 2 * hid] + gh[:, hid:])
        candidate = torch.tanh(gx[:, 2 * hid :] + cheb(r * h) @ wrh.t())
        h = z * h + (1 - z) * candidate
    torch.testing.assert_close(model(signal), model.head(h), atol=1e-5, rtol=1e-4)


def test_scaled_laplacian_drops_self_loops_and_matches_the_dense_matrix():
    signal = _random_signal()
    ei, w = signal.edge_indices[0], signal.edge_weights[0]
    ei = torch.cat([ei, torch.tensor([[0], [0]])], dim=1)  # a self-loop is ignored
    w = torch.cat([w, torch.tensor([5.0])])
    lap_ei, lap_w = scaled_laplacian(ei, w, signal.num_nodes)
    dense = torch.zeros(signal.num_nodes, signal.num_nodes).index_put_((lap_ei[1], lap_ei[0]), lap_w, accumulate=True)
    torch.testing.assert_close(dense, _dense_scaled_laplacian(ei, w, signal.num_nodes))
    x = torch.randn(signal.num_nodes, 2)
    torch.testing.assert_close(propagate(x, lap_ei, lap_w), dense @ x)


def test_evolvegcn_h_against_its_equations():
    signal = _random_signal(n=12, weights=False)
    torch.manual_seed(0)
    model = EvolveGCNH(3, 2, hidden=4, act="softplus")
    n = signal.num_nodes
    weight = model.initial
    for t in range(signal.num_steps):
        x = model.lin(signal.features[t])
        y = x @ model.score / model.score.norm()
        top = torch.argsort(y, descending=True)[:4]  # the top-d nodes
        weight = model.evolve(x[top] * torch.tanh(y[top])[:, None], weight)
        a = torch.eye(n)
        for i, j in signal.edge_indices[t].t().tolist():
            if i != j:
                a[j, i] += 1.0
        deg = a.sum(1)
        h = F.softplus((a / deg.sqrt()[:, None] / deg.sqrt()[None, :]) @ x @ weight)
    torch.testing.assert_close(model(signal), model.head(h), atol=1e-5, rtol=1e-4)
    # A graph with fewer nodes than d: the summary is padded with zero rows.
    small = DynamicGraphSignal([torch.tensor([[0], [1]])], None, torch.randn(1, 2, 3))
    assert model.summarize(model.lin(small.features[0])).shape == (4, 4)
    assert model(small).shape == (2, 2)


def test_history_groups_are_stored_once_per_batch_and_reproduce_the_histories():
    samples = dyncsl_like(12, generator=torch.Generator().manual_seed(0))
    agg = WindowAggregator()(DynamicGraphSignal.collate(samples))
    assert agg.edge_groups is not None and agg.node_groups is not None  # constant features: one node history
    distinct, inverse = agg.edge_groups
    assert torch.equal(distinct[inverse], agg.edge_history) and len(distinct) < len(agg.edge_history)
    assert history_groups(torch.randn(10, 3, 2)) is None  # all distinct: no grouping
    assert WindowAggregator(group=False)(DynamicGraphSignal.collate(samples)).edge_groups is None
    # The forward pass no longer calls torch.unique: the groups are read from the batch.
    torch.manual_seed(0)
    model = TimeThenGraph(2, 2, 6, hidden=8, gnn="sum", readout="mean")
    calls = []
    original = torch.unique
    try:
        torch.unique = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[assignment]
        model(agg)
    finally:
        torch.unique = original
    assert calls == []
