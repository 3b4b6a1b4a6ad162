"""LA-GNN backbones (graphs.local_augmentation.models) against PyG layers and dense formulas."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("torch_geometric")

from torch_geometric.nn import GATConv, GCNConv  # noqa: E402

from icml22dl.graphs import LAGAT, LAGCN, LAGCNII, PlainBackbone, feature_concat, row_normalise, sparse_dropout  # noqa: E402
from tests.graphs.local_augmentation._graphs import sbm  # noqa: E402


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


class _PlainGCN(nn.Module):
    def __init__(self, f, h, c, p):
        super().__init__()
        self.conv1, self.conv2, self.p = GCNConv(f, h), GCNConv(h, c), p

    def forward(self, x, ei):
        x = F.relu(self.conv1(F.dropout(x, self.p, self.training), ei))
        return self.conv2(F.dropout(x, self.p, self.training), ei)


def test_lagcn_branches_are_pyg_gcnconv_and_sparse_input_is_the_same():
    x, y, ei, _ = sbm()
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


def test_lagat_without_augmentation_is_pyg_gat():
    x, y, ei, _ = sbm()
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
    x, y, ei, _ = sbm()
    xt = row_normalise(x)
    model = LAGCNII(x.shape[1], 8, 3, concat=1, layers=4)
    out = model(xt, [torch.rand_like(xt)], ei)
    assert out.shape == (len(x), 3)
    out.sum().backward()
    groups = model.parameter_groups(0.01, 5e-4)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert all(p.grad is not None for p in model.parameters())


def test_plain_backbone_is_the_concat_zero_model_and_rejects_generated_inputs():
    x, y, ei, _ = sbm()
    torch.manual_seed(0)
    gcn = LAGCN(x.shape[1], 8, 3, concat=0).eval()
    torch.testing.assert_close(PlainBackbone(gcn)(x, ei), gcn(x, [], ei))
    with pytest.raises(ValueError, match="concat"):
        PlainBackbone(LAGCN(x.shape[1], 8, 3, concat=1))


def _dense_gcn_layer(conv, x, edge_index):
    """A_hat X W + b with a dense A_hat = D^-1/2 (A + I) D^-1/2 (Kipf & Welling), written from the formula."""
    n = x.shape[0]
    a = torch.eye(n)
    a[edge_index[1], edge_index[0]] = 1.0
    d = a.sum(1).rsqrt()
    return (d[:, None] * a * d[None, :]) @ (x @ conv.lin.weight.t()) + conv.bias


def test_lagcn_caches_the_normalised_graph_but_follows_a_new_graph():
    x, y, ei, _ = sbm()
    xt = row_normalise(x)
    torch.manual_seed(0)
    model = LAGCN(x.shape[1], 8, 3, concat=0).eval()
    for graph in (ei, ei[:, : ei.shape[1] // 2].clone(), ei):  # a cached call, a new graph, back
        hidden = F.relu(_dense_gcn_layer(model.branches[0], xt, graph))
        expected = _dense_gcn_layer(model.conv2, hidden, graph)
        torch.testing.assert_close(model(xt, [], graph), expected, atol=1e-5, rtol=1e-4)
