"""Temporal graphs: a snapshot-sequence container, a DynCSL-like generator and England-COVID.

* :class:`DynamicGraphSignal` -- T snapshots over a fixed node set: per step an edge list,
  optional edge weights, node features and targets; sliced into windows and batched as a
  disjoint union (the temporal-signal API of PyTorch Geometric Temporal, in plain torch).
* :func:`dyncsl_like` -- a procedural expressivity task in the spirit of DynCSL (Gao &
  Ribeiro, ICML 2022 use DynCSL, whose file is not obtainable): every snapshot is a
  4-regular circulant graph on 19 nodes with constant features, the class says which steps
  share a skip jump;
* :func:`load_england_covid` -- the England-COVID mobility graph (129 regions, 61 days),
  verified by SHA-256 from the data folder;
* :func:`persistent_graph_signal` -- a synthetic signal on one random graph whose unweighted
  edges persist over every step (the regime of the paper's cost argument);
* :func:`node_split` and :func:`forecast_windows` -- the transductive node split and the
  (window -> value ``horizon`` days later) samples of a node-level forecasting task.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field

import torch

from icml22dl.data.checksums import verified_path
from icml22dl.validation import check_int

__all__ = [
    "DYNCSL_PATTERNS",
    "DynamicGraphSignal",
    "circulant_edges",
    "dyncsl_like",
    "forecast_windows",
    "load_england_covid",
    "node_split",
    "persistent_graph_signal",
]

#: The DynCSL-like classes: which of the T = 8 steps share a skip jump (``docs/papers/time_then_graph.md#method``).
DYNCSL_PATTERNS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0, 0, 0, 0, 0),  # all equal
    (0, 0, 0, 0, 1, 1, 1, 1),  # halves
    (0, 1, 0, 1, 0, 1, 0, 1),  # alternating
    (0, 1, 2, 3, 4, 5, 6, 7),  # all distinct
    (0, 0, 1, 1, 2, 2, 3, 3),  # pairs
    (0, 1, 2, 3, 0, 1, 2, 3),  # period 4
)


@dataclass
class DynamicGraphSignal:
    """A sequence of T graph snapshots over N fixed nodes.

    Attributes:
        edge_indices: T tensors (2, E_t), int64, directed edges of each step.
        edge_weights: T tensors (E_t,) or (E_t, d_e) of edge features, or None (weight 1).
        features: (T, N, F) node features.
        targets: Per-step node targets (T, N) / (T, N, d), or None.
        label: Graph-level label (int64 scalar, or (B,) after :meth:`collate`), or None.
        batch: (N,) graph id of each node after :meth:`collate`, or None for one graph.

    Example:
        >>> ring = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> signal = DynamicGraphSignal([ring, ring.flip(0)], None, torch.ones(2, 3, 1))
        >>> signal.num_steps, signal.num_nodes
        (2, 3)
        >>> both = DynamicGraphSignal.collate([signal, signal])
        >>> both.num_nodes, both.batch.tolist()
        (6, [0, 0, 0, 1, 1, 1])

    References:
        The ``DynamicGraphTemporalSignal`` of PyTorch Geometric Temporal (Rozemberczki et
        al., 2021), in plain torch; Gao & Ribeiro (2022), problem setup (a temporal graph as a
        sequence of snapshots).
    """

    edge_indices: list[torch.Tensor]
    edge_weights: list[torch.Tensor] | None
    features: torch.Tensor
    targets: torch.Tensor | None = None
    label: torch.Tensor | None = None
    batch: torch.Tensor | None = field(default=None)

    def __post_init__(self) -> None:
        if self.features.dim() != 3:
            raise ValueError(f"features has shape {tuple(self.features.shape)}; expected (T, N, F)")
        if len(self.edge_indices) != self.features.shape[0]:
            raise ValueError(f"{len(self.edge_indices)} edge lists for {self.features.shape[0]} feature steps")
        if self.edge_weights is not None and len(self.edge_weights) != len(self.edge_indices):
            raise ValueError(f"{len(self.edge_weights)} weight lists for {len(self.edge_indices)} edge lists")

    @property
    def num_steps(self) -> int:
        """T."""
        return self.features.shape[0]

    @property
    def num_nodes(self) -> int:
        """N."""
        return self.features.shape[1]

    def to(self, device: torch.device | str) -> DynamicGraphSignal:
        """A copy with every tensor on ``device``."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return DynamicGraphSignal(
            [e.to(device) for e in self.edge_indices],
            None if self.edge_weights is None else [w.to(device) for w in self.edge_weights],
            self.features.to(device),
            move(self.targets),
            move(self.label),
            move(self.batch),
        )

    def window(self, start: int, length: int) -> DynamicGraphSignal:
        """Steps ``start .. start + length - 1`` (targets sliced the same way)."""
        if length < 1 or start < 0 or start + length > self.num_steps:
            raise ValueError(f"window start={start}, length={length} does not fit T={self.num_steps}")
        sl = slice(start, start + length)
        return DynamicGraphSignal(
            self.edge_indices[sl],
            None if self.edge_weights is None else self.edge_weights[sl],
            self.features[sl],
            None if self.targets is None else self.targets[sl],
            self.label,
            self.batch,
        )

    def permute_nodes(self, perm: torch.Tensor) -> DynamicGraphSignal:
        """Relabel nodes: old node ``perm[i]`` becomes node ``i`` (features and targets follow)."""
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(len(perm))
        return DynamicGraphSignal(
            [inverse[ei] for ei in self.edge_indices],
            self.edge_weights,
            self.features[:, perm],
            None if self.targets is None else self.targets[:, perm],
            self.label,
            None if self.batch is None else self.batch[perm],
        )

    @staticmethod
    def collate(signals: list[DynamicGraphSignal]) -> DynamicGraphSignal:
        """Disjoint union of graphs with equal T: node ids offset, ``batch`` and ``label`` stacked."""
        if not signals:
            raise ValueError("signals is empty")
        steps = signals[0].num_steps
        if any(s.num_steps != steps for s in signals):
            raise ValueError("all signals must have the same number of steps to be batched")
        offsets = [0]
        for s in signals[:-1]:
            offsets.append(offsets[-1] + s.num_nodes)
        edges = [torch.cat([s.edge_indices[t] + o for s, o in zip(signals, offsets)], dim=1) for t in range(steps)]
        weight_lists = [s.edge_weights for s in signals if s.edge_weights is not None]
        weights = None
        if len(weight_lists) == len(signals):
            weights = [torch.cat([w[t] for w in weight_lists]) for t in range(steps)]
        target_list = [s.targets for s in signals if s.targets is not None]
        targets = torch.cat(target_list, 1) if len(target_list) == len(signals) else None
        label_list = [s.label.reshape(()) for s in signals if s.label is not None]
        label = torch.stack(label_list) if len(label_list) == len(signals) else None
        batch = torch.cat([torch.full((s.num_nodes,), i, dtype=torch.long) for i, s in enumerate(signals)])
        return DynamicGraphSignal(
            edges, weights, torch.cat([s.features for s in signals], dim=1), targets, label, batch
        )


def circulant_edges(n: int, jumps: list[int] | tuple[int, ...]) -> torch.Tensor:
    """Directed edges i -> i +- r (mod n) for every jump r (both directions), shape (2, 2 n |jumps|).

    Example:
        >>> circulant_edges(5, [1]).tolist()
        [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4], [1, 2, 3, 4, 0, 4, 0, 1, 2, 3]]

    References:
        The circulant skip-link graphs C_n(1, R) of the CSL task (Murphy et al., 2019), used by
        DynCSL (Gao & Ribeiro, 2022, experiments).
    """
    src = torch.arange(n).repeat(2 * len(jumps))
    steps = torch.tensor([s * r for r in jumps for s in (1, -1)]).repeat_interleave(n)
    return torch.stack([src, (src + steps) % n])


def dyncsl_like(
    num_graphs: int, n: int = 19, steps: int = 8, patterns: int = 6, generator: torch.Generator | None = None
) -> list[DynamicGraphSignal]:
    """The DynCSL-like task: which snapshots share a skip jump, on 4-regular circulant graphs.

    Snapshot t of a sample is the circulant graph C_n(1, R_t) (cycle plus one skip jump
    R_t in {2, .., (n-1)/2}; 4-regular). The class is a pattern saying which steps share a
    jump (:data:`DYNCSL_PATTERNS`: all equal, halves, alternating, all distinct, pairs,
    period 4); each sample draws distinct random jumps for the pattern's groups and a random
    node permutation. Node features are constant (ones), so 1-WL on any snapshot gives one
    colour: a time-and-graph model is constant. Labels cycle with the sample index.

    Args:
        num_graphs: Number of samples.
        n: Nodes, odd (default 19: jumps 2..9 are 8 distinct skip lengths).
        steps: T, must be 8 for the built-in patterns.
        patterns: Number of classes used (first ``patterns`` of :data:`DYNCSL_PATTERNS`).
        generator: Source of jumps and permutations.

    Returns:
        A list of :class:`DynamicGraphSignal` with ``label`` set (edge weights 1).

    Example:
        >>> samples = dyncsl_like(6, generator=torch.Generator().manual_seed(0))
        >>> [int(s.label) for s in samples], samples[0].num_steps, samples[0].num_nodes
        ([0, 1, 2, 3, 4, 5], 8, 19)

    References:
        Gao & Ribeiro (2022), experiments, DynCSL (their file: 19 nodes, 8 snapshots, constant
        features); this construction is ours (``docs/papers/time_then_graph.md#deviations-from-the-paper``).
    """
    check_int("n", n, low=5)
    if n % 2 == 0:
        raise ValueError(f"n={n!r} is out of range: must be odd and >= 5")
    if steps != len(DYNCSL_PATTERNS[0]):
        raise ValueError(f"steps={steps!r}: the built-in patterns have T = {len(DYNCSL_PATTERNS[0])}")
    check_int("patterns", patterns, low=1, high=len(DYNCSL_PATTERNS))
    jumps_available = torch.arange(2, (n - 1) // 2 + 1)
    groups = max(max(p) + 1 for p in DYNCSL_PATTERNS[:patterns])
    if len(jumps_available) < groups:
        raise ValueError(f"n={n} offers {len(jumps_available)} skip jumps; the patterns need {groups}")
    samples = []
    for index in range(num_graphs):
        label = index % patterns
        pattern = DYNCSL_PATTERNS[label]
        jumps = jumps_available[torch.randperm(len(jumps_available), generator=generator)[:groups]].tolist()
        perm = torch.randperm(n, generator=generator)
        edges = [perm[circulant_edges(n, [1, jumps[g]])] for g in pattern]
        samples.append(
            DynamicGraphSignal(
                edges, [torch.ones(e.shape[1]) for e in edges], torch.ones(steps, n, 1), label=torch.tensor(label)
            )
        )
    return samples


def load_england_covid(data_dir: str | os.PathLike[str] | None = None) -> DynamicGraphSignal:
    """England-COVID: 129 English regions, 61 days of new cases and mobility flows.

    Node feature and target of day t: the region's new-case count (raw, float). Edges:
    the directed mobility flows of day t with their weights (836-2158 per day).

    Args:
        data_dir: A folder holding ``england-covid/england_covid.json.gz``, or None.

    Returns:
        A :class:`DynamicGraphSignal` with T = 61, N = 129, features (61, 129, 1) and
        targets (61, 129).

    Raises:
        FileNotFoundError / ChecksumError: if the file is missing or differs.

    Example:
        >>> load_england_covid("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: data file /nonexistent/england-covid/england_covid.json.gz not found...

    References:
        Panagopoulos et al. (2021); PyTorch Geometric Temporal's ``england_covid.json``
        (the file the official time-then-graph code reads).
    """
    path = verified_path("england-covid/england_covid.json.gz", data_dir)
    with gzip.open(path, "rt") as handle:
        raw = json.load(handle)
    steps = int(raw["time_periods"])
    cases = torch.tensor(raw["y"], dtype=torch.float32)
    mapping = raw["edge_mapping"]
    edges = [
        torch.tensor(mapping["edge_index"][str(t)], dtype=torch.long).reshape(-1, 2).t().contiguous()
        for t in range(steps)
    ]
    weights = [torch.tensor(mapping["edge_weight"][str(t)], dtype=torch.float32) for t in range(steps)]
    if cases.shape[0] != steps:
        raise ValueError(f"{path}: y has {cases.shape[0]} days, time_periods says {steps}")
    return DynamicGraphSignal(edges, weights, cases[:, :, None].clone(), targets=cases)


def node_split(
    num_nodes: int, parts: tuple[int, ...] | list[int], generator: torch.Generator | None = None
) -> tuple[torch.Tensor, ...]:
    """A random transductive node split in proportions ``parts`` (e.g. 7/1/2): one boolean mask per part.

    One permutation of the nodes is cut at the rounded cumulative fractions of ``parts``.

    Args:
        num_nodes: N.
        parts: Positive relative sizes (train, val, test, ...).
        generator: Source of the permutation.

    Returns:
        ``len(parts)`` disjoint boolean (N,) masks covering every node.

    Example:
        >>> masks = node_split(10, (7, 1, 2), torch.Generator().manual_seed(0))
        >>> [int(m.sum()) for m in masks], bool(sum(m.long() for m in masks).eq(1).all())
        ([7, 1, 2], True)

    References:
        Gao & Ribeiro (2022), experiments (transductive node split 70/10/20 on the real data sets);
        the official code's split (``split`` 7/1/2).
    """
    check_int("num_nodes", num_nodes, low=1)
    for part in parts:
        check_int("parts", part, low=1)
    perm = torch.randperm(num_nodes, generator=generator)
    sizes = torch.tensor(parts, dtype=torch.float64)
    bounds = [0] + (sizes.cumsum(0) / sizes.sum() * num_nodes).round().long().tolist()
    masks = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[perm[lo:hi]] = True
        masks.append(mask)
    return tuple(masks)


def forecast_windows(signal: DynamicGraphSignal, window: int, horizon: int = 1) -> list[DynamicGraphSignal]:
    """Every (``window`` steps -> node targets ``horizon`` steps after the last) sample of a signal.

    Sample s holds steps s .. s + window - 1 (edges, weights, features) and as ``targets``
    the (1, N, ...) slice ``signal.targets[s + window + horizon - 1]``.

    Args:
        signal: A signal with ``targets``.
        window: Input steps (official 7 days).
        horizon: Steps ahead (official 1 day).

    Returns:
        T - window - horizon + 1 windows, in time order.

    Example:
        >>> ring = torch.tensor([[0, 1], [1, 0]])
        >>> days = torch.arange(5.0)[:, None].expand(5, 2)
        >>> signal = DynamicGraphSignal([ring] * 5, None, days[:, :, None], targets=days)
        >>> [w.targets.tolist() for w in forecast_windows(signal, 3)]
        [[[3.0, 3.0]], [[4.0, 4.0]]]

    References:
        Gao & Ribeiro (2022), experiments (England-COVID: 7 days in, the next day out); official
        code's windows.
    """
    if signal.targets is None:
        raise ValueError("signal has no targets to forecast")
    check_int("window", window, low=1)
    check_int("horizon", horizon, low=1)
    windows = []
    for start in range(signal.num_steps - window - horizon + 1):
        win = signal.window(start, window)
        target = signal.targets[start + window + horizon - 1]
        windows.append(DynamicGraphSignal(win.edge_indices, win.edge_weights, win.features, targets=target[None]))
    return windows


def persistent_graph_signal(
    num_nodes: int,
    degree: int = 10,
    steps: int = 24,
    mix: float = 0.8,
    noise: float = 0.1,
    generator: torch.Generator | None = None,
) -> DynamicGraphSignal:
    """A node signal diffusing on one random graph whose unweighted edges persist over all ``steps``.

    The graph: every node draws ``degree // 2`` random other nodes; the pairs are
    symmetrised and deduplicated (mean degree about ``degree``). The same edge list is
    every snapshot, with no weights. The signal: x_0 ~ N(0, 1) per node, then
    x_{t+1} = tanh(mix * mean_{j -> i} x_{j,t} + (1 - mix) * x_{i,t} + b_i) + noise * eps,
    b_i ~ N(0, 0.5^2) a per-node offset. ``targets`` = ``features[..., 0]`` (so
    :func:`forecast_windows` gives next-step forecasting).

    Args:
        num_nodes: N (thousands for the cost regime).
        degree: Mean degree (even; default 10).
        steps: Number of snapshots.
        mix: Weight of the neighbour mean in the update.
        noise: Standard deviation of the per-step noise.
        generator: Source of the graph, offsets and noise.

    Returns:
        A :class:`DynamicGraphSignal` with ``steps`` identical snapshots, ``edge_weights``
        None, features (steps, N, 1) and targets (steps, N).

    Example:
        >>> signal = persistent_graph_signal(50, steps=5, generator=torch.Generator().manual_seed(0))
        >>> signal.num_steps, signal.features.shape, all(e is signal.edge_indices[0] for e in signal.edge_indices)
        (5, torch.Size([5, 50, 1]), True)

    References:
        Ours: the regime of the cost comparison of Gao & Ribeiro (2022) (a time-then-graph
        model runs its GNN once on the union graph, which here equals every snapshot;
        ``docs/papers/time_then_graph.md#method``).
    """
    check_int("num_nodes", num_nodes, low=3)
    check_int("degree", degree, low=2)
    check_int("steps", steps, low=1)
    half = degree // 2
    src = torch.arange(num_nodes).repeat_interleave(half)
    dst = (src + 1 + torch.randint(num_nodes - 1, (len(src),), generator=generator)) % num_nodes  # never i itself
    keys = torch.unique(torch.cat([src * num_nodes + dst, dst * num_nodes + src]))
    edge_index = torch.stack([keys // num_nodes, keys % num_nodes])
    in_degree = torch.bincount(edge_index[1], minlength=num_nodes).clamp(min=1).float()
    offset = 0.5 * torch.randn(num_nodes, generator=generator)
    x = torch.randn(num_nodes, generator=generator)
    values = [x]
    for _ in range(steps - 1):
        neighbour = torch.zeros(num_nodes).index_add_(0, edge_index[1], x[edge_index[0]]) / in_degree
        x = torch.tanh(mix * neighbour + (1 - mix) * x + offset) + noise * torch.randn(num_nodes, generator=generator)
        values.append(x)
    features = torch.stack(values)[:, :, None]
    return DynamicGraphSignal([edge_index] * steps, None, features, targets=features[:, :, 0].clone())
