"""LA-GNN backbones: one first-layer branch per input [X_bar_1 .. X_bar_concat, X_tilde].

Liu et al., *Local Augmentation for Graph Neural Networks*, ICML 2022, Sec. 3.4.

* :class:`LAGCN`, :class:`LAGAT`, :class:`LAGCNII` -- branch-per-input backbones on PyG's
  ``GCNConv`` (``cached=True``) / ``GATConv`` / ``GCN2Conv``; ``concat=0`` gives the plain backbone;
* :class:`PlainBackbone` -- the ``model(x, edge_index)`` view of a ``concat=0`` backbone;
* :func:`feature_concat`, :func:`sparse_dropout`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.validation import check_int, check_probability

try:
    from torch_geometric.nn import GATConv, GCN2Conv, GCNConv
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("icml22dl.graphs needs torch-geometric: pip install 'icml22dl[graphs]'") from error

__all__ = ["LAGAT", "LAGCN", "LAGCNII", "PlainBackbone", "feature_concat", "sparse_dropout"]


def feature_concat(x: torch.Tensor, x_bar: torch.Tensor) -> torch.Tensor:
    """[X || X_bar]: the author's alternative plug-in for an unchanged backbone.

    Args:
        x: (N, F) original (normalised) features.
        x_bar: (N, F') generated features.

    Returns:
        (N, F + F') concatenation.

    Example:
        >>> feature_concat(torch.ones(3, 2), torch.zeros(3, 4)).shape
        torch.Size([3, 6])

    References:
        Liu et al. (2022); the official repository's issue #3 (concatenate the generated
        features to the input of an unchanged model).
    """
    if x.shape[0] != x_bar.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but x_bar has {x_bar.shape[0]}")
    return torch.cat([x, x_bar], dim=1)


def sparse_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout of a sparse CSR/COO matrix's stored values (= input dropout on the dense matrix).

    Args:
        x: A sparse CSR or COO matrix.
        p: Drop probability.
        training: Apply dropout (else return ``x``).

    Returns:
        A sparse matrix of the same layout and pattern, values dropped and scaled by 1 / (1 - p).

    Example:
        >>> out = sparse_dropout(torch.tensor([[0.0, 2.0], [4.0, 0.0]]).to_sparse_coo(), 0.5)
        >>> set(out.to_dense().flatten().tolist()) <= {0.0, 4.0, 8.0}
        True

    References:
        Official ``gcn/layers.py`` (GCN on sparse features); Kipf & Welling (2017) input dropout.
    """
    if not training or p == 0.0:
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if x.layout == torch.sparse_csr:
            return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), F.dropout(x.values(), p), x.shape)
        x = x.coalesce()
        return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p), x.shape, is_coalesced=True)


def _is_sparse(x: torch.Tensor) -> bool:
    return x.is_sparse or x.layout == torch.sparse_csr


def _dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    return sparse_dropout(x, p, training) if _is_sparse(x) else F.dropout(x, p, training)


class _LABase(nn.Module):
    concat: int
    dropout: float
    generated_dropout: bool

    def _inputs(self, x: torch.Tensor, x_bars: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        x_bars = list(x_bars or [])
        if len(x_bars) != self.concat:
            raise ValueError(f"x_bars has {len(x_bars)} matrices; this model takes concat={self.concat}")
        return x_bars + [x]  # official order: generated matrices first, the original last

    def _branch_dropout(self, k: int) -> float:
        generated = k < self.concat
        return self.dropout if (not generated or self.generated_dropout) else 0.0


class LAGCN(_LABase):
    """LA-GCN: one GCN branch per input [X_bar_1..X_bar_concat, X_tilde], concatenated, then a GCN layer.

    Branch k: ReLU(A_hat dropout(X_k) W_k + b_k) (PyG ``GCNConv``); hidden = concat of
    the (concat + 1) branches -> dropout -> ``GCNConv`` -> C logits. ``concat=0`` is the
    plain 2-layer GCN (Kipf & Welling). ``x`` may be a sparse tensor (dropout then acts on
    its stored values: the same as dense input dropout). The layers are ``GCNConv(cached=True)``:
    A_hat is computed on the first call and reused (transductive training on one graph); a
    call with another ``edge_index`` tensor clears the caches.

    Args:
        in_dim: F.
        hidden: Width of each branch (official 8; 16 for the plain GCN).
        out_dim: C classes.
        concat: Number of generated matrices (official citation default 1).
        dropout: Input and hidden dropout (official 0.5).
        generated_dropout: Apply input dropout to the generated matrices too (official:
            yes; ``False`` is the quick preset's cost-saving deviation).

    Example:
        >>> model = LAGCN(4, 8, 3, concat=1).eval()
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> model(torch.rand(3, 4), [torch.rand(3, 4)], edge_index).shape
        torch.Size([3, 3])

    References:
        Liu et al. (2022), Sec. 3.4; official ``gcn/models.py`` ``LAGCN`` (weights there are
        normal(-1/sqrt(out), 1/sqrt(out)); here Glorot, as PyG).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        out_dim: int,
        concat: int = 1,
        dropout: float = 0.5,
        generated_dropout: bool = True,
    ) -> None:
        super().__init__()
        check_int("concat", concat, low=0)
        check_probability("dropout", dropout, allow_one=False)
        self.concat, self.dropout, self.generated_dropout = concat, dropout, generated_dropout
        self.branches = nn.ModuleList(GCNConv(in_dim, hidden, cached=True) for _ in range(concat + 1))
        self.conv2 = GCNConv((concat + 1) * hidden, out_dim, cached=True)
        self._graph_key: tuple | None = None

    def _check_graph(self, edge_index: torch.Tensor, num_nodes: int) -> None:
        """Clear PyG's cached normalisation when the graph tensor changes."""
        key = (edge_index.data_ptr(), edge_index.shape[1], num_nodes, edge_index.device)
        if key != self._graph_key:
            for conv in (*self.branches, self.conv2):
                conv._cached_edge_index = None
            self._graph_key = key

    def forward(self, x: torch.Tensor, x_bars: Sequence[torch.Tensor] | None, edge_index: torch.Tensor) -> torch.Tensor:
        """Logits (N, C) from the original features ``x`` and ``concat`` generated matrices."""
        self._check_graph(edge_index, x.shape[0])
        hidden = []
        for k, (conv, inp) in enumerate(zip(self.branches, self._inputs(x, x_bars))):
            inp = _dropout(inp, self._branch_dropout(k), self.training)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # sparse CSR products are beta in torch
                hidden.append(F.relu(conv(inp, edge_index)))
        h = F.dropout(torch.cat(hidden, dim=-1), self.dropout, self.training)
        return self.conv2(h, edge_index)


class LAGAT(_LABase):
    """LA-GAT: one ``GATConv`` branch per input with ELU, concatenated, then an averaging GATConv.

    Branch k: ELU(GATConv(F, hidden, heads)(dropout(X_k))); then dropout ->
    GATConv((concat+1) hidden heads, C, heads=out_heads, concat=False). Attention dropout
    equals ``dropout``. ``concat=0`` is the plain GAT.

    Args:
        in_dim, hidden, out_dim: F, per-head width (official 8), C.
        concat: Number of generated matrices (official 1).
        heads: Heads of the branches (official 4 citation; plain GAT 8).
        out_heads: Heads of the output layer (official ``nb_heads_2`` 1).
        dropout: Input, hidden and attention dropout (official 0.6).
        elu_alpha: ELU alpha (the official script passes its ``alpha`` 0.2 here).
        generated_dropout: Input dropout on the generated matrices too.

    Example:
        >>> model = LAGAT(4, 2, 3, concat=1, heads=2).eval()
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> model(torch.rand(3, 4), [torch.rand(3, 4)], edge_index).shape
        torch.Size([3, 3])

    References:
        Liu et al. (2022), Sec. 4 (LA-GAT); official ``lagat.py`` ``LAGAT``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        out_dim: int,
        concat: int = 1,
        heads: int = 4,
        out_heads: int = 1,
        dropout: float = 0.6,
        elu_alpha: float = 0.2,
        generated_dropout: bool = True,
    ) -> None:
        super().__init__()
        check_int("concat", concat, low=0)
        check_probability("dropout", dropout, allow_one=False)
        self.concat, self.dropout, self.generated_dropout, self.elu_alpha = (
            concat,
            dropout,
            generated_dropout,
            elu_alpha,
        )
        self.branches = nn.ModuleList(GATConv(in_dim, hidden, heads=heads, dropout=dropout) for _ in range(concat + 1))
        self.conv2 = GATConv((concat + 1) * hidden * heads, out_dim, heads=out_heads, concat=False, dropout=dropout)

    def forward(self, x: torch.Tensor, x_bars: Sequence[torch.Tensor] | None, edge_index: torch.Tensor) -> torch.Tensor:
        """Logits (N, C); ``x`` dense."""
        hidden = [
            F.elu(conv(F.dropout(inp, self._branch_dropout(k), self.training), edge_index), alpha=self.elu_alpha)
            for k, (conv, inp) in enumerate(zip(self.branches, self._inputs(x, x_bars)))
        ]
        h = F.dropout(torch.cat(hidden, dim=-1), self.dropout, self.training)
        return self.conv2(h, edge_index)


class LAGCNII(_LABase):
    """LA-GCNII: Linear + ReLU per input, concatenated as H0, then ``layers`` GCN2Conv layers.

    H0 = concat_k ReLU(Linear_k(dropout(X_k))); H_l = ReLU(GCN2Conv_l(dropout(H_{l-1}), H0))
    with theta_l = log(lamda / l + 1) (PyG's ``theta``/``layer`` arguments); out =
    Linear(dropout(H_L)). ``concat=0`` is the plain GCNII.

    Args:
        in_dim, hidden, out_dim: F, per-branch width (official Cora 32), C.
        concat: Number of generated matrices.
        layers: Number of GCN2Conv layers (official Cora 64).
        alpha: Initial-residual weight (official 0.1).
        lamda: lambda of theta_l (official Cora 0.5).
        dropout: Dropout (official Cora 0.6).
        generated_dropout: Input dropout on the generated matrices too.

    Use :meth:`parameter_groups` for the official two weight decays (wd1 on convolutions,
    wd2 on linears).

    Example:
        >>> model = LAGCNII(4, 8, 3, concat=1, layers=2)
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> model(torch.rand(3, 4), [torch.rand(3, 4)], edge_index).shape
        torch.Size([3, 3])
        >>> [len(g["params"]) for g in model.parameter_groups(0.01, 5e-4)]
        [2, 6]

    References:
        Liu et al. (2022), Sec. 4 (LA-GCNII); official ``gcnii/model.py``; Chen et al. (2020), GCNII.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        out_dim: int,
        concat: int = 1,
        layers: int = 64,
        alpha: float = 0.1,
        lamda: float = 0.5,
        dropout: float = 0.6,
        generated_dropout: bool = True,
    ) -> None:
        super().__init__()
        check_int("concat", concat, low=0)
        check_int("layers", layers, low=1)
        check_probability("dropout", dropout, allow_one=False)
        self.concat, self.dropout, self.generated_dropout = concat, dropout, generated_dropout
        width = (concat + 1) * hidden
        self.inputs = nn.ModuleList(nn.Linear(in_dim, hidden) for _ in range(concat + 1))
        self.convs = nn.ModuleList(
            GCN2Conv(width, alpha=alpha, theta=lamda, layer=layer + 1, shared_weights=True) for layer in range(layers)
        )
        self.out = nn.Linear(width, out_dim)

    def parameter_groups(self, wd_conv: float, wd_linear: float) -> list[dict]:
        """Optimizer groups: convolutions with ``wd_conv`` (wd1), linears with ``wd_linear`` (wd2)."""
        linear = list(self.inputs.parameters()) + list(self.out.parameters())
        return [
            {"params": list(self.convs.parameters()), "weight_decay": wd_conv},
            {"params": linear, "weight_decay": wd_linear},
        ]

    def forward(self, x: torch.Tensor, x_bars: Sequence[torch.Tensor] | None, edge_index: torch.Tensor) -> torch.Tensor:
        """Logits (N, C); ``x`` dense."""
        h0 = torch.cat(
            [
                F.relu(lin(F.dropout(inp, self._branch_dropout(k), self.training)))
                for k, (lin, inp) in enumerate(zip(self.inputs, self._inputs(x, x_bars)))
            ],
            dim=-1,
        )
        h = h0
        for conv in self.convs:
            h = F.relu(conv(F.dropout(h, self.dropout, self.training), h0, edge_index))
        return self.out(F.dropout(h, self.dropout, self.training))


class PlainBackbone(nn.Module):
    """The ``model(x, edge_index)`` view of a ``concat=0`` LA backbone (no generated matrices).

    The U-score's helper GNN (:class:`~icml22dl.graphs.UScoreSelection`) is called as
    ``helper(x, edge_index)``; this wraps a plain :class:`LAGCN` / :class:`LAGAT` /
    :class:`LAGCNII` for it.

    Args:
        model: A backbone built with ``concat=0``.

    Example:
        >>> helper = PlainBackbone(LAGCN(4, 8, 3, concat=0)).eval()
        >>> helper(torch.rand(3, 4), torch.tensor([[0, 1], [1, 0]])).shape
        torch.Size([3, 3])

    References:
        Liu et al. (2022), Sec. 3.3; official ``cvae_pretrain.py`` (a plain GCN of width 32 as
        the U-score's helper).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if getattr(model, "concat", 0) != 0:
            raise ValueError(f"model.concat={model.concat!r}: PlainBackbone needs a backbone built with concat=0")
        self.model = model

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Logits of the wrapped backbone on ``x`` alone."""
        return self.model(x, [], edge_index)
