"""Time-then-graph vs time-and-graph temporal graph representations (Gao & Ribeiro, ICML 2022).

*Time-and-graph* (TaG) runs a GNN on every snapshot and mixes node states over time
(:class:`GCNGRU`, :class:`EvolveGCNO`). *Time-then-graph* (TtG, :class:`TimeThenGraph`,
the paper's GRU-GCN) first encodes every node's and every edge's whole history with a
sequence model, then runs one static GNN on the union graph whose edges carry their
history embeddings. With 1-WL GNNs, TtG is strictly more expressive (paper, Thm. 1).

The temporal pieces are plain torch (PyG Temporal needs compiled extensions); the static
layers are PyG's ``GCNConv`` / ``GATConv`` / ``GINEConv``. Windows of snapshots come as
:class:`~icml22dl.data.temporal_graphs.DynamicGraphSignal`; :class:`WindowAggregator`
turns one into the union graph with padded histories.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.data.temporal_graphs import DynamicGraphSignal

try:
    from torch_geometric.nn import GATConv, GCNConv, GINEConv
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("icml22dl.graphs needs torch-geometric: pip install 'icml22dl[graphs]'") from error

__all__ = [
    "Aggregated",
    "DynamicGraphSignal",
    "EvolveGCNO",
    "GCNGRU",
    "HistoryEncoder",
    "TimeThenGraph",
    "WindowAggregator",
    "mean_pool",
]

_ACTS = {"softplus": F.softplus, "tanh": torch.tanh, "relu": F.relu}


def _act(name: str):
    if name not in _ACTS:
        raise ValueError(f"act={name!r} must be one of {sorted(_ACTS)}")
    return _ACTS[name]


def mean_pool(h: torch.Tensor, batch: torch.Tensor | None, num_graphs: int | None = None) -> torch.Tensor:
    """Mean of node rows per graph (``batch`` None: one graph)."""
    if batch is None:
        return h.mean(dim=0, keepdim=True)
    num_graphs = int(batch.max()) + 1 if num_graphs is None else num_graphs
    total = torch.zeros(num_graphs, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, batch, h)
    count = torch.bincount(batch, minlength=num_graphs).clamp_min(1).to(h.dtype)
    return total / count[:, None]


@dataclass
class Aggregated:
    """A window turned into the union graph with histories.

    Attributes:
        edge_index: (2, E_agg) every ordered pair present at least once, sorted by (src, dst).
        edge_history: (E_agg, T, d_e) edge features per step, ``pad_value`` where absent
            (plus the time feature column when used).
        node_history: (N, T, F) node features per step (plus the time feature column).
        batch: (N,) graph id per node, or None.
        num_graphs: Number of graphs in the batch.
    """

    edge_index: torch.Tensor
    edge_history: torch.Tensor
    node_history: torch.Tensor
    batch: torch.Tensor | None
    num_graphs: int
    pad_value: float = -1.0

    def presence_counts(self) -> torch.Tensor:
        """(E_agg, 1) number of steps each union edge is present (order discarded)."""
        return (self.edge_history[:, :, 0] != self.pad_value).sum(dim=1, keepdim=True).to(self.edge_history.dtype)


class WindowAggregator:
    """Window -> union graph E_agg = U_t E_t, edge histories and node histories (vectorised).

    Edge (i, j) of the union gets s_{ij,t} = a_{ij,t} if (i, j) in E_t else ``pad_value``
    (-1.0: distinct from a weight 0); weights default to 1. ``time_feature="inc"`` appends
    the time increment Delta t (0 at the first step, 1 after, for daily snapshots) to every
    edge and node step; ``"none"`` appends nothing. Direction is kept.

    Args:
        pad_value: Value of an absent edge's step (official -1.0).
        time_feature: ``"inc"`` (official) or ``"none"``.
        edge_transform: Optional map applied to present edge weights (e.g. ``torch.log1p``).

    References:
        Gao & Ribeiro (2022), Sec. 4; official ``dynedge.py`` aggregation (Python loops there).
    """

    def __init__(self, pad_value: float = -1.0, time_feature: str = "inc", edge_transform=None) -> None:
        if time_feature not in ("inc", "none"):
            raise ValueError(f"time_feature={time_feature!r} must be 'inc' or 'none'")
        self.pad_value, self.time_feature, self.edge_transform = pad_value, time_feature, edge_transform

    def __call__(self, signal: DynamicGraphSignal) -> Aggregated:
        """Aggregate one (possibly batched) window."""
        n, steps = signal.num_nodes, signal.num_steps
        keys = [ei[0].long() * n + ei[1].long() for ei in signal.edge_indices]
        union = torch.unique(torch.cat(keys))
        weights = signal.edge_weights
        d_e = 1 if weights is None or weights[0].dim() == 1 else weights[0].shape[1]
        history = torch.full((len(union), steps, d_e), self.pad_value, dtype=signal.features.dtype)
        for t, key in enumerate(keys):
            w = torch.ones(len(key), 1) if weights is None else weights[t].reshape(len(key), -1).to(history.dtype)
            if self.edge_transform is not None:
                w = self.edge_transform(w)
            history[torch.searchsorted(union, key), t] = w
        nodes = signal.features.permute(1, 0, 2)
        if self.time_feature == "inc":
            inc = torch.ones(steps, dtype=history.dtype)
            inc[0] = 0.0
            history = torch.cat([history, inc.expand(len(union), steps)[:, :, None]], dim=2)
            nodes = torch.cat([nodes, inc.expand(n, steps)[:, :, None]], dim=2)
        num_graphs = 1 if signal.batch is None else int(signal.batch.max()) + 1
        return Aggregated(
            torch.stack([union // n, union % n]), history, nodes, signal.batch, num_graphs, self.pad_value
        )


class HistoryEncoder(nn.Module):
    """Sequence model over histories (B, T, d) -> (B, hidden): its last hidden state.

    ``kind``: ``"gru"`` (official), ``"lstm"``, or ``"attention"`` (one Transformer encoder
    layer with learned positions; the last position's output).

    References:
        Gao & Ribeiro (2022), Sec. 4 (GRU-GCN: GRU node and edge encoders).
    """

    def __init__(self, in_dim: int, hidden: int = 16, kind: str = "gru", steps: int = 64) -> None:
        super().__init__()
        if kind not in ("gru", "lstm", "attention"):
            raise ValueError(f"kind={kind!r} must be 'gru', 'lstm' or 'attention'")
        if in_dim < 1 or hidden < 1:
            raise ValueError(f"in_dim={in_dim!r} and hidden={hidden!r} must be >= 1")
        self.kind, self.hidden = kind, hidden
        if kind == "gru":
            self.rnn = nn.GRU(in_dim, hidden, batch_first=True)
        elif kind == "lstm":
            self.rnn = nn.LSTM(in_dim, hidden, batch_first=True)
        else:
            self.proj = nn.Linear(in_dim, hidden)
            self.position = nn.Parameter(torch.zeros(steps, hidden))
            self.layer = nn.TransformerEncoderLayer(hidden, nhead=1, dim_feedforward=2 * hidden, batch_first=True)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Encode (B, T, d) sequences into (B, hidden)."""
        if self.kind == "gru":
            return self.rnn(seq)[1][-1]
        if self.kind == "lstm":
            return self.rnn(seq)[1][0][-1]
        h = self.proj(seq) + self.position[: seq.shape[1]]
        return self.layer(h)[:, -1]


class _SumConv(nn.Module):
    """The official DynCSL 'SIMPLEST' layer: z_i = sum_{j -> i} w_e Linear(h)_j (no norm, no self-loop)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        msg = self.lin(h)[edge_index[0]]
        if weight is not None:
            msg = msg * weight[:, None]
        return torch.zeros(h.shape[0], msg.shape[1], dtype=msg.dtype, device=msg.device).index_add_(
            0, edge_index[1], msg
        )


class _Head(nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int, act: str) -> None:
        super().__init__()
        self.l1, self.l2, self.act = nn.Linear(in_dim, hidden), nn.Linear(hidden, out_dim), _act(act)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.l2(self.act(self.l1(h)))


def _encode(encoder: nn.Module, seq: torch.Tensor, dedupe: bool) -> torch.Tensor:
    """``encoder(seq)``, optionally computed once per distinct sequence (rows of ``seq``)."""
    if not dedupe or seq.shape[0] < 2:
        return encoder(seq)
    unique, inverse = torch.unique(seq.reshape(seq.shape[0], -1), dim=0, return_inverse=True)
    if len(unique) > 0.8 * seq.shape[0]:
        return encoder(seq)
    return encoder(unique.reshape(len(unique), *seq.shape[1:]))[inverse]


class TimeThenGraph(nn.Module):
    """Time-then-graph (GRU-GCN): sequence encoders on node and edge histories, then one static GNN.

    h_i = act(NodeEnc(x_{i,1..T})), e_ij = EdgeEnc(s_{ij,1..T}) on the union graph; then
    ``gnn``:

    * ``"gcn"``: w_ij = softplus(Linear_{d->1}(e_ij)); z = GCNConv_2(act(GCNConv_1(h, w)), w);
    * ``"gat"`` / ``"gin"``: ``GATConv`` / ``GINEConv`` with edge_attr = e_ij;
    * ``"sum"``: the official DynCSL path: w_ij = mean(e_ij), z = S(S(h)) with
      S(h)_i = sum_{j->i} w_ij Linear(h)_j, no normalisation or non-linearity between.

    out = [z || h] (``concat_input``), then an MLP head per node (``readout="node"``) or on
    the mean over each graph's nodes (``readout="mean"``). ``edge_encoder="count"`` replaces
    the edge sequence model by a Linear on the number of steps present (the order-blind
    ablation).

    Args:
        node_in, edge_in: Feature sizes of node and edge histories (incl. a time column).
        out_dim: Outputs per node (or per graph).
        hidden: d (official 16).
        gnn: ``"gcn"``, ``"gat"``, ``"gin"`` or ``"sum"``.
        act: ``"softplus"`` (official) or ``"tanh"`` (official DynCSL).
        encoder: Sequence model kind (``"gru"`` official).
        edge_encoder: ``"seq"`` (same kind as ``encoder``) or ``"count"``.
        concat_input: Concatenate h to the GNN output (official "2x2").
        readout: ``"node"`` or ``"mean"``.
        dedupe: Encode each distinct history once and share the result (exact: identical
            sequences have identical encodings; large savings when histories repeat).

    Example:
        >>> agg = WindowAggregator()(signal)            # doctest: +SKIP
        >>> model = TimeThenGraph(2, 2, 1)               # doctest: +SKIP
        >>> y = model(agg)                               # doctest: +SKIP

    References:
        Gao & Ribeiro (2022), Sec. 4, GRU-GCN; official ``GRUoGCN2x2`` / ``snnognnx2.py``.
    """

    def __init__(
        self,
        node_in: int,
        edge_in: int,
        out_dim: int,
        hidden: int = 16,
        gnn: str = "gcn",
        act: str = "softplus",
        encoder: str = "gru",
        edge_encoder: str = "seq",
        concat_input: bool = True,
        readout: str = "node",
        dedupe: bool = True,
    ) -> None:
        super().__init__()
        self.dedupe = dedupe
        if gnn not in ("gcn", "gat", "gin", "sum"):
            raise ValueError(f"gnn={gnn!r} must be 'gcn', 'gat', 'gin' or 'sum'")
        if edge_encoder not in ("seq", "count"):
            raise ValueError(f"edge_encoder={edge_encoder!r} must be 'seq' or 'count'")
        if readout not in ("node", "mean"):
            raise ValueError(f"readout={readout!r} must be 'node' or 'mean'")
        self.gnn, self.act, self.concat_input, self.readout = gnn, _act(act), concat_input, readout
        self.edge_encoder_kind = edge_encoder
        self.node_enc = HistoryEncoder(node_in, hidden, encoder)
        self.edge_enc = HistoryEncoder(edge_in, hidden, encoder) if edge_encoder == "seq" else nn.Linear(1, hidden)
        if gnn == "gcn":
            self.edge_weight = nn.Linear(hidden, 1)
            self.conv1, self.conv2 = GCNConv(hidden, hidden), GCNConv(hidden, hidden)
        elif gnn == "gat":
            self.conv1 = GATConv(hidden, hidden, edge_dim=hidden, add_self_loops=False)
            self.conv2 = GATConv(hidden, hidden, edge_dim=hidden, add_self_loops=False)
        elif gnn == "gin":
            mlp = lambda: nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))  # noqa: E731
            self.conv1, self.conv2 = GINEConv(mlp(), edge_dim=hidden), GINEConv(mlp(), edge_dim=hidden)
        else:
            self.conv1, self.conv2 = _SumConv(hidden, hidden), _SumConv(hidden, hidden)
        self.head = _Head(2 * hidden if concat_input else hidden, hidden, out_dim, act)

    def embed(self, agg: Aggregated) -> torch.Tensor:
        """Per-node representation [z || h] (N, 2 hidden) or z."""
        h = self.act(_encode(self.node_enc, agg.node_history, self.dedupe))
        if self.edge_encoder_kind == "seq":
            e = _encode(self.edge_enc, agg.edge_history, self.dedupe)
        else:
            e = self.edge_enc(agg.presence_counts())
        ei = agg.edge_index
        if self.gnn == "gcn":
            w = F.softplus(self.edge_weight(e)).squeeze(-1)
            z = self.conv2(self.act(self.conv1(h, ei, w)), ei, w)
        elif self.gnn in ("gat", "gin"):
            z = self.conv2(self.act(self.conv1(h, ei, e)), ei, e)
        else:
            w = e.mean(dim=-1)
            z = self.conv2(self.conv1(h, ei, w), ei, w)
        return torch.cat([z, h], dim=-1) if self.concat_input else z

    def forward(self, agg: Aggregated) -> torch.Tensor:
        """(N, out_dim) for ``readout="node"``, (num_graphs, out_dim) for ``"mean"``."""
        out = self.embed(agg)
        if self.readout == "mean":
            out = mean_pool(out, agg.batch, agg.num_graphs)
        return self.head(out)


class GCNGRU(nn.Module):
    """Time-and-graph GCN-GRU: a 2-layer GNN per snapshot, then a GRU over time per node.

    g_{i,t} = GNN(G_t, X_t)_i (``gnn="gcn"``: PyG GCNConv with the snapshot's edge weights;
    ``"sum"``: un-normalised sum aggregation), h_{i,t} = GRUCell(g_{i,t}, h_{i,t-1}); the
    last state feeds an MLP head per node or after mean-pooling. ``ignore_edges=True``
    reproduces the official upload's bug (each snapshot's slice is empty: the GCN sees only
    self-loops, an MLP + GRU).

    Args:
        in_dim, out_dim, hidden: Sizes (official hidden 16).
        gnn: ``"gcn"`` or ``"sum"``.
        act: Activation between the GNN layers and in the head.
        ignore_edges: The official bug flag.
        readout: ``"node"`` or ``"mean"``.
        use_weights: Pass the snapshot edge weights to the GCN (else weight 1).

    References:
        Gao & Ribeiro (2022), baselines; official ``gnnx2osnn.py`` (edge_ranges[0, t] to
        edge_ranges[0, t]: the empty slice).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: int = 16,
        gnn: str = "gcn",
        act: str = "softplus",
        ignore_edges: bool = False,
        readout: str = "node",
        use_weights: bool = True,
    ) -> None:
        super().__init__()
        if gnn not in ("gcn", "sum"):
            raise ValueError(f"gnn={gnn!r} must be 'gcn' or 'sum'")
        if readout not in ("node", "mean"):
            raise ValueError(f"readout={readout!r} must be 'node' or 'mean'")
        self.gnn, self.act, self.ignore_edges, self.readout, self.use_weights = (
            gnn,
            _act(act),
            ignore_edges,
            readout,
            use_weights,
        )
        if gnn == "gcn":
            self.conv1, self.conv2 = GCNConv(in_dim, hidden), GCNConv(hidden, hidden)
        else:
            self.conv1, self.conv2 = _SumConv(in_dim, hidden), _SumConv(hidden, hidden)
        self.cell = nn.GRUCell(hidden, hidden)
        self.head = _Head(hidden, hidden, out_dim, act)

    def embed(self, signal: DynamicGraphSignal) -> torch.Tensor:
        """Last GRU state per node (N, hidden)."""
        state = None
        for t in range(signal.num_steps):
            ei = signal.edge_indices[t]
            w = signal.edge_weights[t] if (signal.edge_weights is not None and self.use_weights) else None
            if self.ignore_edges:
                ei, w = ei[:, :0], None if w is None else w[:0]
            x = signal.features[t]
            g = self.conv2(self.act(self.conv1(x, ei, w)), ei, w)
            state = self.cell(g, state)
        return state

    def forward(self, signal: DynamicGraphSignal) -> torch.Tensor:
        """(N, out_dim) for ``readout="node"``, (num_graphs, out_dim) for ``"mean"``."""
        out = self.embed(signal)
        if self.readout == "mean":
            num_graphs = 1 if signal.batch is None else int(signal.batch.max()) + 1
            out = mean_pool(out, signal.batch, num_graphs)
        return self.head(out)


class EvolveGCNO(nn.Module):
    """EvolveGCN-O: a GRU evolves the GCN weight matrix; one GCN per snapshot with W_t.

    W_t = GRU(W_{t-1}, W_{t-1}) (columns of W as the GRU batch, the matrix as both input
    and hidden state); H_t = act(A_hat_t X_t W_t); the last snapshot's H_T feeds an MLP head.

    References:
        Pareja et al. (2020), EvolveGCN, Eq. 4-6 (-O version); PyG Temporal ``EvolveGCNO``.
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden: int = 16, act: str = "softplus", readout: str = "node"
    ) -> None:
        super().__init__()
        if readout not in ("node", "mean"):
            raise ValueError(f"readout={readout!r} must be 'node' or 'mean'")
        self.act, self.readout = _act(act), readout
        self.lin = nn.Linear(in_dim, hidden)
        self.initial = nn.Parameter(torch.empty(hidden, hidden))
        nn.init.xavier_uniform_(self.initial)
        self.evolve = nn.GRUCell(hidden, hidden)
        self.head = _Head(hidden, hidden, out_dim, act)

    def forward(self, signal: DynamicGraphSignal) -> torch.Tensor:
        """(N, out_dim) or (num_graphs, out_dim)."""
        weight, h = self.initial, None
        for t in range(signal.num_steps):
            weight = self.evolve(weight, weight)
            ei = signal.edge_indices[t]
            w = signal.edge_weights[t] if signal.edge_weights is not None else None
            ei_n, w_n = gcn_norm(ei, w, signal.num_nodes, add_self_loops=True)
            x = self.lin(signal.features[t]) @ weight
            h = self.act(torch.zeros_like(x).index_add_(0, ei_n[1], x[ei_n[0]] * w_n[:, None]))
        if self.readout == "mean":
            num_graphs = 1 if signal.batch is None else int(signal.batch.max()) + 1
            h = mean_pool(h, signal.batch, num_graphs)
        return self.head(h)
