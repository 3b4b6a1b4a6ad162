"""Time-then-graph vs time-and-graph temporal graph representations (Gao & Ribeiro, ICML 2022).

*Time-and-graph* (TaG) runs a GNN on every snapshot and mixes node states over time
(:class:`GCNGRU`, :class:`EvolveGCNO`). *Time-then-graph* (TtG, :class:`TimeThenGraph`,
the paper's GRU-GCN) first encodes every node's and every edge's whole history with a
sequence model, then runs one static GNN on the union graph whose edges carry their
history embeddings. With 1-WL GNNs, TtG is strictly more expressive (paper, Thm. 1).

The temporal pieces are plain torch (PyG Temporal needs compiled extensions); the static
layers are PyG's ``GCNConv`` / ``GATConv`` / ``GINEConv`` / ``SimpleConv`` and its
``global_mean_pool``. Windows of snapshots come as
:class:`~icml22dl.data.temporal_graphs.DynamicGraphSignal`; :class:`WindowAggregator`
turns one into the union graph with padded histories; :func:`temporal_batches` cuts a list
of windows into :class:`TemporalBatch` es that feed both model families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.data.temporal_graphs import DynamicGraphSignal
from icml22dl.validation import check_choice, check_int

try:
    from torch_geometric.nn import GATConv, GCNConv, GINEConv, SimpleConv, global_mean_pool
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("icml22dl.graphs needs torch-geometric: pip install 'icml22dl[graphs]'") from error

__all__ = [
    "Aggregated",
    "DynamicGraphSignal",
    "EvolveGCNO",
    "GCNGRU",
    "HistoryEncoder",
    "TemporalBatch",
    "TimeThenGraph",
    "WindowAggregator",
    "mean_pool",
    "temporal_batches",
]

_ACTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"softplus": F.softplus, "tanh": torch.tanh, "relu": F.relu}


def _act(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    check_choice("act", name, sorted(_ACTS))
    return _ACTS[name]


def mean_pool(h: torch.Tensor, batch: torch.Tensor | None, num_graphs: int | None = None) -> torch.Tensor:
    """Mean of node rows per graph (``batch`` None: one graph): PyG's ``global_mean_pool``.

    Args:
        h: (N, d) node rows.
        batch: (N,) graph id per node, or None.
        num_graphs: Number of graphs (default 1 + the largest id); graphs without nodes give 0.

    Returns:
        (num_graphs, d) means.

    Example:
        >>> mean_pool(torch.arange(8.0).reshape(4, 2), torch.tensor([0, 0, 1, 1])).tolist()
        [[1.0, 2.0], [5.0, 6.0]]

    References:
        Gao & Ribeiro (2022), graph-level readout of the DynCSL models (mean over nodes);
        ``torch_geometric.nn.global_mean_pool``.
    """
    return global_mean_pool(h, batch, num_graphs)


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
        pad_value: The value of an absent edge's step.

    Example:
        >>> ring = torch.tensor([[0, 1], [1, 0]])
        >>> signal = DynamicGraphSignal([ring, ring[:, :1]], None, torch.ones(2, 2, 1))
        >>> WindowAggregator(time_feature="none")(signal).presence_counts().tolist()
        [[2.0], [1.0]]

    References:
        Gao & Ribeiro (2022), time-then-graph: the aggregated graph with per-edge and
        per-node histories; official ``dynedge.py``.
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

    def to(self, device: torch.device | str) -> Aggregated:
        """A copy with every tensor on ``device``."""
        return Aggregated(
            self.edge_index.to(device),
            self.edge_history.to(device),
            self.node_history.to(device),
            None if self.batch is None else self.batch.to(device),
            self.num_graphs,
            self.pad_value,
        )


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

    Example:
        >>> ring = torch.tensor([[0, 1], [1, 0]])
        >>> agg = WindowAggregator()(DynamicGraphSignal([ring, ring[:, :1]], None, torch.ones(2, 2, 1)))
        >>> agg.edge_history[:, :, 0].tolist(), agg.edge_history[0, :, 1].tolist()  # weights, then Delta t
        ([[1.0, 1.0], [1.0, -1.0]], [0.0, 1.0])

    References:
        Gao & Ribeiro (2022), Sec. 4; official ``dynedge.py`` aggregation (Python loops there).
    """

    def __init__(
        self,
        pad_value: float = -1.0,
        time_feature: str = "inc",
        edge_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        check_choice("time_feature", time_feature, ("inc", "none"))
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

    Args:
        in_dim: d, features per step.
        hidden: Output width (official 16).
        kind: ``"gru"``, ``"lstm"`` or ``"attention"``.
        steps: Longest sequence of the attention kind (its learned positions).

    Example:
        >>> HistoryEncoder(3, 5)(torch.randn(4, 6, 3)).shape
        torch.Size([4, 5])

    References:
        Gao & Ribeiro (2022), Sec. 4 (GRU-GCN: GRU node and edge encoders).
    """

    def __init__(self, in_dim: int, hidden: int = 16, kind: str = "gru", steps: int = 64) -> None:
        super().__init__()
        check_choice("kind", kind, ("gru", "lstm", "attention"))
        check_int("in_dim", in_dim, low=1)
        check_int("hidden", hidden, low=1)
        self.kind, self.hidden = kind, hidden
        self.rnn: nn.Module
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
    """The official DynCSL 'SIMPLEST' layer: z_i = sum_{j -> i} w_e Linear(h)_j (no norm, no self-loop).

    ``Linear`` then PyG's ``SimpleConv(aggr="sum")`` (weighted sum of the neighbours' rows).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim)
        self.conv = SimpleConv(aggr="sum")

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(self.lin(h), edge_index, weight)


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
        >>> ring = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> signal = DynamicGraphSignal([ring, ring.flip(0)], None, torch.ones(2, 3, 1))
        >>> agg = WindowAggregator()(signal)  # node and edge histories: 1 feature + Delta t
        >>> TimeThenGraph(2, 2, 1)(agg).shape
        torch.Size([3, 1])

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
        check_choice("gnn", gnn, ("gcn", "gat", "gin", "sum"))
        check_choice("edge_encoder", edge_encoder, ("seq", "count"))
        check_choice("readout", readout, ("node", "mean"))
        self.gnn, self.act, self.concat_input, self.readout = gnn, _act(act), concat_input, readout
        self.edge_encoder_kind = edge_encoder
        self.node_enc = HistoryEncoder(node_in, hidden, encoder)
        self.edge_enc: nn.Module = (
            HistoryEncoder(edge_in, hidden, encoder) if edge_encoder == "seq" else nn.Linear(1, hidden)
        )
        self.conv1: nn.Module
        self.conv2: nn.Module
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

    Example:
        >>> ring = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> signal = DynamicGraphSignal([ring, ring.flip(0)], None, torch.ones(2, 3, 1))
        >>> GCNGRU(1, 2)(signal).shape
        torch.Size([3, 2])

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
        check_choice("gnn", gnn, ("gcn", "sum"))
        check_choice("readout", readout, ("node", "mean"))
        self.gnn, self.act, self.ignore_edges, self.readout, self.use_weights = (
            gnn,
            _act(act),
            ignore_edges,
            readout,
            use_weights,
        )
        self.conv1: nn.Module
        self.conv2: nn.Module
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
        if state is None:
            raise ValueError("signal has no steps")
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

    Args:
        in_dim, out_dim, hidden: Sizes (official hidden 16).
        act: Activation of the GCN output and in the head.
        readout: ``"node"`` or ``"mean"``.

    Example:
        >>> ring = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> signal = DynamicGraphSignal([ring, ring.flip(0)], None, torch.ones(2, 3, 1))
        >>> EvolveGCNO(1, 2)(signal).shape
        torch.Size([3, 2])

    References:
        Pareja et al. (2020), EvolveGCN, Eq. 4-6 (-O version); PyG Temporal ``EvolveGCNO``;
        a time-and-graph baseline of Gao & Ribeiro (2022).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden: int = 16, act: str = "softplus", readout: str = "node"
    ) -> None:
        super().__init__()
        check_choice("readout", readout, ("node", "mean"))
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
        if h is None:
            raise ValueError("signal has no steps")
        if self.readout == "mean":
            num_graphs = 1 if signal.batch is None else int(signal.batch.max()) + 1
            h = mean_pool(h, signal.batch, num_graphs)
        return self.head(h)


@dataclass
class TemporalBatch:
    """A batch of windows in both forms: the snapshots (time-and-graph) and their union graph (time-then-graph).

    Attributes:
        signal: The disjoint union of the windows (:meth:`DynamicGraphSignal.collate`).
        aggregated: ``aggregate(signal)``.

    Example:
        >>> ring = torch.tensor([[0, 1], [1, 0]])
        >>> windows = [DynamicGraphSignal([ring] * 3, None, torch.ones(3, 2, 1)) for _ in range(5)]
        >>> [b.signal.num_nodes for b in temporal_batches(windows, 2, WindowAggregator())]
        [4, 4, 2]

    References:
        Gao & Ribeiro (2022): both model families see the same windows; the batch is a
        disjoint union of graphs, as PyG's mini-batching.
    """

    signal: DynamicGraphSignal
    aggregated: Aggregated

    def to(self, device: torch.device | str) -> TemporalBatch:
        """A copy with every tensor on ``device``."""
        return TemporalBatch(self.signal.to(device), self.aggregated.to(device))


def temporal_batches(
    samples: Sequence[DynamicGraphSignal], batch_size: int, aggregate: WindowAggregator
) -> list[TemporalBatch]:
    """Cut ``samples`` into consecutive groups of ``batch_size``, collated and aggregated.

    Args:
        samples: Windows with equal T, in the order wanted.
        batch_size: Windows per batch (the last batch may be smaller).
        aggregate: The :class:`WindowAggregator` giving each batch's union graph.

    Returns:
        ceil(len(samples) / batch_size) :class:`TemporalBatch` es, on the samples' device.

    Example:
        >>> samples = [DynamicGraphSignal([torch.tensor([[0], [1]])] * 2, None, torch.ones(2, 2, 1))] * 3
        >>> [b.aggregated.num_graphs for b in temporal_batches(samples, 2, WindowAggregator())]
        [2, 1]

    References:
        Gao & Ribeiro (2022), experiments (mini-batches of graphs or windows).
    """
    check_int("batch_size", batch_size, low=1)
    batches = []
    for start in range(0, len(samples), batch_size):
        signal = DynamicGraphSignal.collate(list(samples[start : start + batch_size]))
        batches.append(TemporalBatch(signal, aggregate(signal)))
    return batches
