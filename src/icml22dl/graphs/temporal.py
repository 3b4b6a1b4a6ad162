"""Time-then-graph vs time-and-graph temporal graph representations (Gao & Ribeiro, ICML 2022).

*Time-and-graph* (TaG) runs a GNN on every snapshot and mixes node states over time
(:class:`GCNGRU`, :class:`EvolveGCNO`, :class:`EvolveGCNH`, and :class:`GConvGRU` with graph
convolutions inside every recurrent gate). *Time-then-graph* (TtG, :class:`TimeThenGraph`,
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
    "EvolveGCNH",
    "EvolveGCNO",
    "GCNGRU",
    "GConvGRU",
    "HistoryEncoder",
    "TemporalBatch",
    "TimeThenGraph",
    "WindowAggregator",
    "history_groups",
    "mean_pool",
    "propagate",
    "scaled_laplacian",
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
        node_groups, edge_groups: ``(distinct, inverse)`` of the node / edge histories
            (``torch.unique`` over rows, computed once per batch by the aggregator), or None
            when the histories are mostly distinct (over 80 %) or grouping is off; a
            time-then-graph model then encodes each distinct history once.

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
    node_groups: tuple[torch.Tensor, torch.Tensor] | None = None
    edge_groups: tuple[torch.Tensor, torch.Tensor] | None = None

    def presence_counts(self) -> torch.Tensor:
        """(E_agg, 1) number of steps each union edge is present (order discarded)."""
        return (self.edge_history[:, :, 0] != self.pad_value).sum(dim=1, keepdim=True).to(self.edge_history.dtype)

    def to(self, device: torch.device | str) -> Aggregated:
        """A copy with every tensor on ``device``."""

        def move(groups: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor] | None:
            return None if groups is None else (groups[0].to(device), groups[1].to(device))

        return Aggregated(
            self.edge_index.to(device),
            self.edge_history.to(device),
            self.node_history.to(device),
            None if self.batch is None else self.batch.to(device),
            self.num_graphs,
            self.pad_value,
            move(self.node_groups),
            move(self.edge_groups),
        )


def history_groups(seq: torch.Tensor, max_fraction: float = 0.8) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(distinct, inverse)`` rows of (B, T, d) histories, or None when over ``max_fraction`` are distinct.

    ``distinct[inverse]`` equals ``seq``: a sequence model run on ``distinct`` and indexed by
    ``inverse`` gives exactly its outputs on ``seq`` (identical inputs, identical outputs).

    Args:
        seq: (B, T, d) histories.
        max_fraction: Keep the grouping only when at most this fraction of rows is distinct.

    Returns:
        ``(distinct (U, T, d), inverse (B,))`` or None.

    Example:
        >>> seq = torch.tensor([[[1.0]], [[2.0]], [[1.0]], [[1.0]]])
        >>> distinct, inverse = history_groups(seq)
        >>> distinct.shape[0], bool(torch.equal(distinct[inverse], seq))
        (2, True)

    References:
        Ours (exact sharing of sequence encodings); computed once per batch of windows, not
        in every forward pass.
    """
    if seq.shape[0] < 2:
        return None
    unique, inverse = torch.unique(seq.reshape(seq.shape[0], -1), dim=0, return_inverse=True)
    if len(unique) > max_fraction * seq.shape[0]:
        return None
    return unique.reshape(len(unique), *seq.shape[1:]), inverse


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
        group: Also store the distinct node and edge histories (:func:`history_groups`), once
            per batch, for :class:`TimeThenGraph` to encode each distinct history once.

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
        group: bool = True,
    ) -> None:
        check_choice("time_feature", time_feature, ("inc", "none"))
        self.pad_value, self.time_feature, self.edge_transform = pad_value, time_feature, edge_transform
        self.group = group

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
            torch.stack([union // n, union % n]),
            history,
            nodes,
            signal.batch,
            num_graphs,
            self.pad_value,
            history_groups(nodes) if self.group else None,
            history_groups(history) if self.group else None,
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


def _encode(encoder: nn.Module, seq: torch.Tensor, groups: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """``encoder(seq)``, computed once per distinct sequence when the batch's ``groups`` are given."""
    if groups is None:
        return encoder(seq)
    distinct, inverse = groups
    return encoder(distinct)[inverse]


def _read_out(h: torch.Tensor, signal: DynamicGraphSignal, readout: str, head: nn.Module) -> torch.Tensor:
    """The time-and-graph models' output: ``head`` of the node states, mean-pooled per graph for ``"mean"``."""
    if readout == "mean":
        num_graphs = 1 if signal.batch is None else int(signal.batch.max()) + 1
        h = mean_pool(h, signal.batch, num_graphs)
    return head(h)


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
        dedupe: Encode each distinct history once and share the result, using the groups the
            aggregator stored once per batch (exact: identical sequences have identical
            encodings; large savings when histories repeat).

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
        h = self.act(_encode(self.node_enc, agg.node_history, agg.node_groups if self.dedupe else None))
        if self.edge_encoder_kind == "seq":
            e = _encode(self.edge_enc, agg.edge_history, agg.edge_groups if self.dedupe else None)
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
        return _read_out(self.embed(signal), signal, self.readout, self.head)


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
            h = self.act(propagate(x, ei_n, w_n))
        if h is None:
            raise ValueError("signal has no steps")
        return _read_out(h, signal, self.readout, self.head)


def scaled_laplacian(
    edge_index: torch.Tensor, weight: torch.Tensor | None, num_nodes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rescaled Laplacian L~ = 2 L / lambda_max - I of ChebNet with lambda_max = 2: L~ = -D^-1/2 A D^-1/2.

    Args:
        edge_index: (2, E) directed edges j -> i (self-loops dropped: L~ has a zero diagonal).
        weight: (E,) edge weights, or None (1).
        num_nodes: N.

    Returns:
        ``(edge_index, values)`` of L~'s off-diagonal entries, for :func:`propagate`.

    Example:
        >>> ei, w = scaled_laplacian(torch.tensor([[0, 1], [1, 0]]), None, 2)
        >>> w.tolist()  # two nodes of degree 1: -1 / sqrt(1 * 1)
        [-1.0, -1.0]

    References:
        Defferrard et al. (2016), Eq. 4 (lambda_max = 2 as PyG's ``ChebConv``); the filters of
        GCRN (Seo et al., 2018).
    """
    keep = edge_index[0] != edge_index[1]
    edge_index = edge_index[:, keep]
    w = torch.ones(edge_index.shape[1], device=edge_index.device) if weight is None else weight[keep].float()
    deg = torch.zeros(num_nodes, device=w.device).index_add_(0, edge_index[1], w)
    inv = deg.clamp(min=1e-12).pow(-0.5) * (deg > 0)
    return edge_index, -inv[edge_index[0]] * w * inv[edge_index[1]]


def propagate(x: torch.Tensor, edge_index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """y_i = sum_{j -> i} v_ji x_j: the sparse product of a weighted edge list with node features.

    Args:
        x: Node features ``[num_nodes, dim]``.
        edge_index: ``[2, num_edges]`` (source row 0, target row 1).
        values: One weight per edge.

    References:
        Message passing with a weighted adjacency (the product A^T x behind the Chebyshev
        filters of Seo et al. 2018, GCRN, Eq. 8).

    Example:
        >>> x = torch.tensor([[1.0], [2.0], [4.0]])
        >>> propagate(x, torch.tensor([[0, 1], [2, 2]]), torch.tensor([1.0, 0.5])).flatten().tolist()
        [0.0, 0.0, 2.0]
    """
    return torch.zeros_like(x).index_add_(0, edge_index[1], x[edge_index[0]] * values[:, None])


def _chebyshev(x: torch.Tensor, laplacian: tuple[torch.Tensor, torch.Tensor], order: int) -> torch.Tensor:
    """[T_0(L~) x || .. || T_{K-1}(L~) x], T_0 = I, T_1 = L~, T_k = 2 L~ T_{k-1} - T_{k-2}."""
    basis = [x]
    if order > 1:
        basis.append(propagate(x, *laplacian))
    for _ in range(2, order):
        basis.append(2 * propagate(basis[-1], *laplacian) - basis[-2])
    return torch.cat(basis, dim=-1)


class GConvGRU(nn.Module):
    """Time-and-graph GCRN (model 2): a GRU whose every gate is a Chebyshev graph convolution.

    Per snapshot t, with C_K a K-order Chebyshev filter on the snapshot's L~:
    z = sigmoid(C_K^{xz}(x_t) + C_K^{hz}(h)), r = sigmoid(C_K^{xr}(x_t) + C_K^{hr}(h)),
    h~ = tanh(C_K^{xh}(x_t) + C_K^{hh}(r * h)), h = z * h + (1 - z) * h~: six graph
    convolutions per step. The Chebyshev basis of x_t is built once for the three
    x-filters and that of h once for the z and r filters (the same arithmetic as six
    separate convolutions, fewer propagations). The last state feeds an MLP head.

    Args:
        in_dim, out_dim, hidden: Sizes (hidden 16 as the other models here).
        order: K, the Chebyshev order (K = 1: no propagation; GCRN uses K >= 2).
        act: Activation of the head.
        readout: ``"node"`` or ``"mean"``.
        use_weights: Use the snapshot's edge weights in L~ (else 1).

    Example:
        >>> ring = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> signal = DynamicGraphSignal([ring, ring.flip(0)], None, torch.ones(2, 3, 1))
        >>> GConvGRU(1, 2)(signal).shape
        torch.Size([3, 2])

    References:
        Seo et al. (2018), GCRN, Eq. 8 (model 2, "GConvGRU" in PyG Temporal); a time-and-graph
        model with graph convolutions in every gate (Gao & Ribeiro, 2022, Sec. 5 baselines).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: int = 16,
        order: int = 2,
        act: str = "softplus",
        readout: str = "node",
        use_weights: bool = True,
    ) -> None:
        super().__init__()
        check_int("order", order, low=1)
        check_choice("readout", readout, ("node", "mean"))
        self.order, self.hidden, self.readout, self.use_weights = order, hidden, readout, use_weights
        self.x_filters = nn.Linear(order * in_dim, 3 * hidden)  # z, r, candidate (with the biases)
        self.h_filters = nn.Linear(order * hidden, 2 * hidden, bias=False)  # z, r
        self.rh_filter = nn.Linear(order * hidden, hidden, bias=False)  # candidate on r * h
        self.head = _Head(hidden, hidden, out_dim, act)

    def embed(self, signal: DynamicGraphSignal) -> torch.Tensor:
        """Last state per node (N, hidden)."""
        if signal.num_steps == 0:
            raise ValueError("signal has no steps")
        n = signal.num_nodes
        h = signal.features.new_zeros(n, self.hidden)
        for t in range(signal.num_steps):
            w = signal.edge_weights[t] if (signal.edge_weights is not None and self.use_weights) else None
            laplacian = scaled_laplacian(signal.edge_indices[t], None if w is None else w.reshape(-1), n)
            xz, xr, xh = self.x_filters(_chebyshev(signal.features[t], laplacian, self.order)).chunk(3, dim=-1)
            hz, hr = self.h_filters(_chebyshev(h, laplacian, self.order)).chunk(2, dim=-1)
            z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
            candidate = torch.tanh(xh + self.rh_filter(_chebyshev(r * h, laplacian, self.order)))
            h = z * h + (1 - z) * candidate
        return h

    def forward(self, signal: DynamicGraphSignal) -> torch.Tensor:
        """(N, out_dim) for ``readout="node"``, (num_graphs, out_dim) for ``"mean"``."""
        return _read_out(self.embed(signal), signal, self.readout, self.head)


class EvolveGCNH(nn.Module):
    """EvolveGCN-H: a GRU evolves the GCN weight, fed by a summary of the snapshot's node states.

    Per snapshot t, with X_t = Linear(x_t) (N, d) and W_{t-1} (d, d): the summary scores
    y = X_t p / ||p||, keeps the top-d nodes, Z_t = [X_t * tanh(y)]_top (d, d); then
    W_t = GRU(Z_t, W_{t-1}) (rows as the GRU batch, Z_t the input, W the hidden state) and
    H_t = act(A_hat_t X_t W_t). The last snapshot's H_T feeds an MLP head. On a batch of
    disjoint graphs the top-d nodes are chosen over the whole batch.

    Args:
        in_dim, out_dim, hidden: Sizes (hidden 16 as the other models here).
        act: Activation of the GCN output and in the head.
        readout: ``"node"`` or ``"mean"``.

    Example:
        >>> ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
        >>> signal = DynamicGraphSignal([ring, ring.flip(0)], None, torch.randn(2, 4, 1))
        >>> EvolveGCNH(1, 2, hidden=3)(signal).shape
        torch.Size([4, 2])

    References:
        Pareja et al. (2020), EvolveGCN, Eq. 5-7 and Alg. 2 (-H version, summarize with top-k);
        a time-and-graph baseline of Gao & Ribeiro (2022).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden: int = 16, act: str = "softplus", readout: str = "node"
    ) -> None:
        super().__init__()
        check_choice("readout", readout, ("node", "mean"))
        self.act, self.readout, self.hidden = _act(act), readout, hidden
        self.lin = nn.Linear(in_dim, hidden)
        self.score = nn.Parameter(torch.empty(hidden))
        nn.init.uniform_(self.score, -1.0 / hidden**0.5, 1.0 / hidden**0.5)
        self.initial = nn.Parameter(torch.empty(hidden, hidden))
        nn.init.xavier_uniform_(self.initial)
        self.evolve = nn.GRUCell(hidden, hidden)
        self.head = _Head(hidden, hidden, out_dim, act)

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        """(d, d) summary: the top-d rows of x * tanh(x p / ||p||) (zero rows pad a graph of fewer nodes)."""
        y = x @ self.score / self.score.norm()
        k = min(self.hidden, x.shape[0])
        top = torch.topk(y, k).indices
        z = x[top] * torch.tanh(y[top])[:, None]
        return F.pad(z, (0, 0, 0, self.hidden - k))

    def forward(self, signal: DynamicGraphSignal) -> torch.Tensor:
        """(N, out_dim) or (num_graphs, out_dim)."""
        weight, h = self.initial, None
        for t in range(signal.num_steps):
            x = self.lin(signal.features[t])
            weight = self.evolve(self.summarize(x), weight)
            ei = signal.edge_indices[t]
            w = signal.edge_weights[t].reshape(-1) if signal.edge_weights is not None else None
            ei_n, w_n = gcn_norm(ei, w, signal.num_nodes, add_self_loops=True)
            h = self.act(propagate(x @ weight, ei_n, w_n))
        if h is None:
            raise ValueError("signal has no steps")
        return _read_out(h, signal, self.readout, self.head)


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
