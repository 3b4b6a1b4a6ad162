"""Local augmentation for GNNs (LA-GNN): a neighbour-conditional feature generator and its plug-in.

Liu et al., *Local Augmentation for Graph Neural Networks*, ICML 2022 (arXiv 2109.03856).
A conditional VAE learns p(x_j | x_i) over the ordered edges i -> j of the graph; sampled
feature matrices X_bar = rownorm(dec(z, X)), z ~ N(0, I), are fed to a GNN beside the
row-normalised original features X_tilde, one first-layer branch per input, and the model
is trained with the S-sample supervised loss plus a consistency loss.

Pieces:

* :func:`neighbour_pairs` -- the (condition, target) node pairs of the CVAE's training set;
* :class:`FeatureCVAE` -- the CVAE (citation version: sigmoid/BCE; OGB version: tanh/MSE
  with BatchNorm), with :meth:`FeatureCVAE.from_official` for the official state dicts;
* :func:`pretrain_cvae`, :class:`UScoreSelection`, :func:`u_score` -- pre-training, with
  the official U-score checkpoint selection on a schedule;
* :class:`FeatureBank` -- a bank of pre-decoded, row-normalised X_bar matrices;
* :class:`LAGCN`, :class:`LAGAT`, :class:`LAGCNII` -- branch-per-input backbones on PyG's
  ``GCNConv`` / ``GATConv`` / ``GCN2Conv``; ``concat=0`` gives the plain backbone;
* :func:`consistency_loss`, :func:`feature_concat`, :func:`row_normalise`.

Requires the ``graphs`` extra (``pip install icml22dl[graphs]``: torch-geometric).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

try:
    from torch_geometric.nn import GATConv, GCN2Conv, GCNConv
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("icml22dl.graphs needs torch-geometric: pip install 'icml22dl[graphs]'") from error

__all__ = [
    "FeatureBank",
    "FeatureCVAE",
    "LAGAT",
    "LAGCN",
    "LAGCNII",
    "LAResult",
    "UScoreSelection",
    "consistency_loss",
    "cvae_loss",
    "feature_concat",
    "neighbour_pairs",
    "pretrain_cvae",
    "row_normalise",
    "sparse_dropout",
    "train_local_augmentation",
    "u_score",
]


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is out of range: must be {bound}")


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} is out of range: must be in [0, 1)")


def neighbour_pairs(edge_index: torch.Tensor, num_nodes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ordered (condition, target) node pairs the CVAE trains on.

    Every ordered edge i -> j with i != j gives one pair: condition c = X_i (the centre),
    target x = X_j (the neighbour). Duplicate edges are kept once.

    Args:
        edge_index: int64 (2, E) edges; an undirected graph lists both directions.
        num_nodes: Number of nodes (default: 1 + the largest id).

    Returns:
        ``(centre, neighbour)``: two int64 vectors of equal length, sorted by (centre, neighbour).

    Example:
        >>> neighbour_pairs(torch.tensor([[0, 1, 1], [1, 0, 1]]))
        (tensor([0, 1]), tensor([1, 0]))

    References:
        Liu et al. (2022), Sec. 3.2; official ``cvae_pretrain.py`` (one pair per non-zero
        of the adjacency row; Cora: 10,556 pairs).
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index has shape {tuple(edge_index.shape)}; expected (2, E)")
    n = int(edge_index.max()) + 1 if num_nodes is None and edge_index.numel() else int(num_nodes or 0)
    src, dst = edge_index[0].long(), edge_index[1].long()
    keep = src != dst
    keys = torch.unique(src[keep] * n + dst[keep])
    return keys // n, keys % n


def row_normalise(x: torch.Tensor) -> torch.Tensor:
    """Divide each row by its sum; all-zero rows stay zero.

    ``X_tilde = D_X^{-1} X`` (official ``normalize_features`` / ``feature_tensor_normalize``).

    Args:
        x: Non-negative (N, F) features.

    Returns:
        The row-normalised features, same shape and dtype.
    """
    total = x.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, x / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(x))


def cvae_loss(
    recon: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, kind: str = "bce"
) -> torch.Tensor:
    """Negative ELBO per example: [reconstruction_sum + KL] / batch.

    KL = -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2); reconstruction = summed binary
    cross-entropy (citation version) or summed squared error (OGB version).

    References:
        Official ``cvae_pretrain.loss_fn`` (BCE) and the OGB scripts (MSE).
    """
    if kind == "bce":
        rec = F.binary_cross_entropy(recon, x, reduction="sum")
    elif kind == "mse":
        rec = F.mse_loss(recon, x, reduction="sum")
    else:
        raise ValueError(f"kind={kind!r} must be 'bce' or 'mse'")
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    return (rec + kl) / x.shape[0]


class FeatureCVAE(nn.Module):
    """Conditional VAE of a neighbour's features given the centre node's: p(x_j | x_i).

    Encoder: concat(x, c) (2F) -> Linear(hidden) -> ReLU -> heads Linear(hidden, latent)
    for mu and log sigma^2. Decoder: concat(z, c) (latent + F) -> Linear(hidden) -> ReLU ->
    Linear(F) -> sigmoid (citation) or tanh (OGB). ``batch_norm=True`` puts a BatchNorm1d
    after every Linear of the encoder MLP and the decoder (OGB version). z = mu + eps * exp(log sigma^2 / 2).

    Args:
        in_dim: F, the feature dimension (of both x and c).
        hidden: Width of the hidden layers (official 256).
        latent: Latent dimension (official 10; the shipped PubMed generator uses 5).
        out: ``"sigmoid"`` (binary bag-of-words features) or ``"tanh"``.
        batch_norm: BatchNorm1d after the hidden Linears (OGB version).

    Example:
        >>> cvae = FeatureCVAE(1433)
        >>> x_bar = cvae.generate(torch.zeros(5, 1433), torch.Generator().manual_seed(0))

    References:
        Liu et al. (2022), Sec. 3.2 and App.; official ``cvae_models.py`` (encoder
        [F, 256], latent 10, decoder [256, F], conditional).
    """

    def __init__(
        self, in_dim: int, hidden: int = 256, latent: int = 10, out: str = "sigmoid", batch_norm: bool = False
    ) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden", hidden), ("latent", latent)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is out of range: must be an integer >= 1")
        if out not in ("sigmoid", "tanh"):
            raise ValueError(f"out={out!r} must be 'sigmoid' or 'tanh'")
        self.in_dim, self.hidden, self.latent, self.out, self.batch_norm = in_dim, hidden, latent, out, batch_norm
        self.enc = nn.Linear(2 * in_dim, hidden)
        self.enc_bn = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.mean = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.dec_hidden = nn.Linear(latent + in_dim, hidden)
        self.dec_bn = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.dec_out = nn.Linear(hidden, in_dim)
        self.dec_out_bn = nn.BatchNorm1d(in_dim) if batch_norm else nn.Identity()

    @property
    def reconstruction(self) -> str:
        """``"bce"`` for the sigmoid decoder, ``"mse"`` for tanh."""
        return "bce" if self.out == "sigmoid" else "mse"

    def encode(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mu, log sigma^2) of q(z | x, c)."""
        h = F.relu(self.enc_bn(self.enc(torch.cat([x, c], dim=-1))))
        return self.mean(h), self.log_var(h)

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Return the decoder's output (probabilities for ``sigmoid``) for latent z and condition c."""
        h = F.relu(self.dec_bn(self.dec_hidden(torch.cat([z, c], dim=-1))))
        out = self.dec_out_bn(self.dec_out(h))
        return torch.sigmoid(out) if self.out == "sigmoid" else torch.tanh(out)

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct x given c: returns (recon, mu, log sigma^2); ``eps`` fixes the noise."""
        mean, log_var = self.encode(x, c)
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        z = mean + eps * torch.exp(0.5 * log_var)
        return self.decode(z, c), mean, log_var

    def loss(self, x: torch.Tensor, c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The negative ELBO per example of a batch (see :func:`cvae_loss`)."""
        recon, mean, log_var = self(x, c, generator=generator)
        return cvae_loss(recon, x, mean, log_var, self.reconstruction)

    @torch.no_grad()
    def generate(
        self, c: torch.Tensor, generator: torch.Generator | None = None, normalise: bool = True
    ) -> torch.Tensor:
        """One generated feature matrix: dec(z, c), z ~ N(0, I) independently per row.

        Args:
            c: (N, F) raw condition features (the graph's own X).
            generator: Source of z.
            normalise: Row-normalise the output (X_bar = rownorm(dec(z, X)), as the GNN sees it).

        Returns:
            (N, F) probabilities (no Bernoulli sampling, no threshold), row-normalised if asked.
        """
        z = torch.randn(c.shape[0], self.latent, generator=generator, dtype=c.dtype).to(c.device)
        out = self.decode(z, c)
        return row_normalise(out) if normalise else out

    #: Official parameter names -> ours (``cvae_models.VAE`` with encoder [F, H], decoder [H, F]).
    OFFICIAL_NAMES = {
        "encoder.MLP.L0": "enc",
        "encoder.MLP.B0": "enc_bn",
        "encoder.linear_means": "mean",
        "encoder.linear_log_var": "log_var",
        "decoder.MLP.L0": "dec_hidden",
        "decoder.MLP.B0": "dec_bn",
        "decoder.MLP.L1": "dec_out",
        "decoder.MLP.B1": "dec_out_bn",
    }

    @classmethod
    def from_official(cls, state_dict: dict[str, torch.Tensor], out: str | None = None) -> FeatureCVAE:
        """Build a CVAE from an official ``cvae_models.VAE`` state dict (citation or OGB).

        Sizes (F, hidden, latent) and BatchNorm are read from the tensors; ``out`` defaults
        to ``tanh`` when BatchNorm is present (OGB) and ``sigmoid`` otherwise.

        Raises:
            ValueError: naming the first key that has no counterpart.
        """
        mapped = {}
        for key, value in state_dict.items():
            prefix, _, leaf = key.rpartition(".")
            if prefix not in cls.OFFICIAL_NAMES:
                raise ValueError(f"state_dict key {key!r} has no counterpart in FeatureCVAE")
            mapped[f"{cls.OFFICIAL_NAMES[prefix]}.{leaf}"] = value
        hidden, two_f = mapped["enc.weight"].shape
        latent = mapped["mean.weight"].shape[0]
        batch_norm = "enc_bn.weight" in mapped
        model = cls(two_f // 2, hidden, latent, out or ("tanh" if batch_norm else "sigmoid"), batch_norm)
        model.load_state_dict(mapped)
        return model


@dataclass
class UScoreSelection:
    """The official U-score checkpoint selection of the CVAE (citation scripts).

    A helper GNN trained on X_tilde judges each generator: U = CE(log mean_k p_k) - mean_k
    CE_k over ``passes`` train-mode forwards on a fresh X_bar (U <= 0 by Jensen). When U
    beats the best, the CVAE is kept (after ``warmup`` steps) and the helper is trained
    ``update_epochs`` more epochs on that X_bar.

    Attributes:
        helper: The helper GNN, ``helper(x, edge_index) -> logits``, already trained.
        edge_index: The graph.
        labels: Node labels.
        train_mask: The nodes U is computed on.
        passes: M, forwards per score (official 100).
        every: Score every ``every`` CVAE steps (official 1; a cheaper schedule is a deviation).
        warmup: Steps before a checkpoint can be kept (official 200).
        update_epochs: Helper epochs on the kept X_bar (official 20).
        lr, weight_decay: The helper's Adam (official 0.01, 5e-4).
    """

    helper: nn.Module
    edge_index: torch.Tensor
    labels: torch.Tensor
    train_mask: torch.Tensor
    passes: int = 100
    every: int = 1
    warmup: int = 200
    update_epochs: int = 20
    lr: float = 0.01
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        for name in ("passes", "every", "update_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} is out of range: must be >= 1")
        if self.warmup < 0:
            raise ValueError(f"warmup={self.warmup!r} is out of range: must be >= 0")
        self.optimizer = torch.optim.Adam(self.helper.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def u_score(
    helper: nn.Module,
    x_bar: torch.Tensor,
    edge_index: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    passes: int = 100,
) -> float:
    """The U-score of generated features: CE(log mean_k p_k) - mean_k CE_k (<= 0).

    The helper runs ``passes`` times **in train mode** (its dropout differs per pass) on
    (X_bar, graph); p_k are its softmax outputs and CE_k its cross-entropies on ``mask``.
    A score near 0 means the helper's predictions vary little across dropout masks.

    Args:
        helper: ``helper(x, edge_index) -> logits``.
        x_bar: (N, F) generated, row-normalised features.
        edge_index: The graph.
        labels: (N,) labels.
        mask: Boolean (N,) mask of the scored nodes (official: training nodes).
        passes: M (official ``num_models`` 100).

    Returns:
        U, a float <= 0 up to rounding.

    References:
        Liu et al. (2022), Sec. 3.3; official ``cvae_pretrain.generated_generator``.
    """
    if passes < 1:
        raise ValueError(f"passes={passes!r} is out of range: must be >= 1")
    was_training = helper.training
    helper.train()
    total, ce = 0.0, 0.0
    with torch.no_grad():
        for _ in range(passes):
            logits = helper(x_bar, edge_index)[mask]
            total = total + F.softmax(logits, dim=1)
            ce += F.cross_entropy(logits, labels[mask]).item()
        score = F.nll_loss(torch.log(total / passes), labels[mask]).item() - ce / passes
    helper.train(was_training)
    return score


def pretrain_cvae(
    cvae: FeatureCVAE,
    features: torch.Tensor,
    pairs: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 0.01,
    generator: torch.Generator | None = None,
    selection: UScoreSelection | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[FeatureCVAE, dict[str, list[float]]]:
    """Pre-train the CVAE on (centre, neighbour) pairs of **raw** features.

    Mini-batches of ``batch_size`` pairs in a fresh random order each epoch; Adam on the
    negative ELBO. Without ``selection`` the final CVAE is returned; with it, the CVAE of
    the best U-score after the warm-up (or the final one if none qualified).

    Args:
        cvae: The model to train (trained in place).
        features: (N, F) raw features X (binary for the citation graphs).
        pairs: ``(centre, neighbour)`` from :func:`neighbour_pairs`.
        epochs: Passes over the pairs (official ``pretrain_epochs`` 10).
        batch_size: Official 64.
        lr: Adam step (official ``pretrain_lr`` 0.01).
        generator: Source of the batch order, of eps and of the scored X_bar.
        selection: Optional U-score checkpoint selection.
        callback: Called as ``callback(step, loss)`` after every step.

    Returns:
        ``(generator_cvae, history)``; history has ``loss`` per step, and ``u_score`` /
        ``u_step`` when scored.

    References:
        Official ``cvae_pretrain.py`` (BCE + KL per batch, U-score after every step,
        warm-up 200, helper update 20 epochs).
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name}={value!r} is out of range: must be >= 1")
    _check_positive("lr", lr)
    centre, neighbour = pairs
    optimizer = torch.optim.Adam(cvae.parameters(), lr=lr)
    history: dict[str, list[float]] = {"loss": [], "u_score": [], "u_step": []}
    best, best_state, step = -math.inf, None, 0
    for _ in range(epochs):
        order = torch.randperm(len(centre), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            cvae.train()
            loss = cvae.loss(features[neighbour[batch]], features[centre[batch]], generator=generator)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            history["loss"].append(loss.item())
            if callback is not None:
                callback(step, loss.item())
            if selection is None or step % selection.every:
                continue
            cvae.eval()
            x_bar = cvae.generate(features, generator)
            score = u_score(
                selection.helper, x_bar, selection.edge_index, selection.labels, selection.train_mask, selection.passes
            )
            history["u_score"].append(score)
            history["u_step"].append(float(step))
            if score > best:  # as the official code: the best is tracked during the warm-up too
                best = score
                if step > selection.warmup:
                    best_state = copy.deepcopy(cvae.state_dict())
                    _train_helper(selection, x_bar)
    if best_state is not None:
        cvae.load_state_dict(best_state)
    cvae.eval()
    return cvae, history


def _train_helper(selection: UScoreSelection, x: torch.Tensor) -> None:
    helper = selection.helper
    helper.train()
    for _ in range(selection.update_epochs):
        selection.optimizer.zero_grad()
        logits = helper(x, selection.edge_index)
        F.cross_entropy(logits[selection.train_mask], selection.labels[selection.train_mask]).backward()
        selection.optimizer.step()


class FeatureBank:
    """A bank of ``size`` generated feature matrices X_bar = rownorm(dec(z, X)), drawn from.

    Decoding all N nodes costs two (N x F x hidden) products; the official code decodes
    afresh for each of the S samples of every epoch. The bank decodes ``size`` matrices
    once and draws from them (a documented approximation: S x epochs draws reuse
    ``size`` matrices).

    Args:
        cvae: The trained generator.
        features: (N, F) raw features X (the condition).
        size: Number of matrices (16 in the card's quick setting).
        generator: Source of z.
        transform: Optional map applied to each stored matrix (e.g. a pre-propagation).

    Example:
        >>> bank = FeatureBank(FeatureCVAE(8), torch.rand(5, 8).round(), size=2)
        >>> [x.shape for x in bank.sample(1, torch.Generator().manual_seed(0))]
        [torch.Size([5, 8])]

    References:
        Official ``lagcn.py`` ``get_augmented_features`` (fresh z per call).
    """

    def __init__(
        self,
        cvae: FeatureCVAE,
        features: torch.Tensor,
        size: int = 16,
        generator: torch.Generator | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size={size!r} is out of range: must be >= 1")
        cvae.eval()
        mats = []
        for _ in range(size):
            x_bar = cvae.generate(features, generator)
            mats.append(transform(x_bar) if transform is not None else x_bar)
        self.matrices = torch.stack(mats)

    def __len__(self) -> int:
        return self.matrices.shape[0]

    def sample(self, k: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Draw ``k`` distinct matrices (k <= size) uniformly at random."""
        if not 0 <= k <= len(self):
            raise ValueError(f"k={k!r} is out of range: must be in [0, {len(self)}]")
        idx = torch.randperm(len(self), generator=generator)[:k]
        return [self.matrices[i] for i in idx.tolist()]


def consistency_loss(probs: Sequence[torch.Tensor], temperature: float = 0.5) -> torch.Tensor:
    """Consistency regulariser: mean squared distance of each sample's p to the sharpened mean.

    L = (1/S) sum_s mean_i ||p_{s,i} - pbar_i^sharp||^2, pbar = (1/S) sum_s p_s,
    pbar^sharp proportional to pbar^(1/T) row-wise, **detached** (no gradient through it).

    Args:
        probs: S tensors (N, C) of class probabilities.
        temperature: T (official ``tem`` 0.5).

    Returns:
        The scalar loss (multiply by lambda, official ``lam`` 1.0).

    References:
        Liu et al. (2022), Eq. 9 (from GRAND, Feng et al. 2020); official ``consis_loss``.
    """
    if not len(probs):
        raise ValueError("probs is empty: give at least one sample")
    _check_positive("temperature", temperature)
    mean = torch.stack(list(probs)).mean(dim=0)
    sharp = mean.pow(1.0 / temperature)
    sharp = (sharp / sharp.sum(dim=1, keepdim=True)).detach()
    return sum((p - sharp).pow(2).sum(dim=1).mean() for p in probs) / len(probs)


def feature_concat(x: torch.Tensor, x_bar: torch.Tensor) -> torch.Tensor:
    """[X || X_bar]: the author's alternative plug-in for an unchanged backbone (issue #3).

    Args:
        x: (N, F) original (normalised) features.
        x_bar: (N, F') generated features.

    Returns:
        (N, F + F') concatenation.
    """
    if x.shape[0] != x_bar.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but x_bar has {x_bar.shape[0]}")
    return torch.cat([x, x_bar], dim=1)


def sparse_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout of a sparse CSR/COO matrix's stored values (= input dropout on the dense matrix)."""
    if not training or p == 0.0:
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if x.layout == torch.sparse_csr:
            return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), F.dropout(x.values(), p), x.shape)
        x = x.coalesce()
        return torch.sparse_coo_tensor(x.indices(), F.dropout(x.values(), p), x.shape, is_coalesced=True)


def _dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    return sparse_dropout(x, p, training) if x.is_sparse or x.layout == torch.sparse_csr else F.dropout(x, p, training)


class _NormalisedGraph:
    """Cache of gcn_norm(edge_index) (self-loops, symmetric normalisation) per graph."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (edge_index.data_ptr(), edge_index.shape[1], num_nodes, edge_index.device)
        if key != self._key:
            self._value = gcn_norm(edge_index, None, num_nodes, add_self_loops=True)
            self._key = key
        return self._value


def _gcn_branch(conv: GCNConv, x: torch.Tensor, graph: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``conv(x, edge_index)`` of PyG's GCNConv, also for a sparse ``x`` (X @ W first, then propagate)."""
    if x.is_sparse or x.layout == torch.sparse_csr:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            h = x @ conv.lin.weight.t()
    else:
        h = conv.lin(x)
    out = conv.propagate(graph[0], x=h, edge_weight=graph[1])
    return out + conv.bias if conv.bias is not None else out


class _LABase(nn.Module):
    concat: int

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
    its stored values: the same as dense input dropout).

    Args:
        in_dim: F.
        hidden: Width of each branch (official 8; 16 for the plain GCN).
        out_dim: C classes.
        concat: Number of generated matrices (official citation default 1).
        dropout: Input and hidden dropout (official 0.5).
        generated_dropout: Apply input dropout to the generated matrices too (official:
            yes; ``False`` is the quick preset's cost-saving deviation).

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
        if concat < 0:
            raise ValueError(f"concat={concat!r} is out of range: must be >= 0")
        _check_probability("dropout", dropout)
        self.concat, self.dropout, self.generated_dropout = concat, dropout, generated_dropout
        self.branches = nn.ModuleList(GCNConv(in_dim, hidden) for _ in range(concat + 1))
        self.conv2 = GCNConv((concat + 1) * hidden, out_dim)
        self._graph = _NormalisedGraph()

    def forward(self, x: torch.Tensor, x_bars: Sequence[torch.Tensor] | None, edge_index: torch.Tensor) -> torch.Tensor:
        """Logits (N, C) from the original features ``x`` and ``concat`` generated matrices."""
        graph = self._graph(edge_index, x.shape[0])
        hidden = [
            F.relu(_gcn_branch(conv, _dropout(inp, self._branch_dropout(k), self.training), graph))
            for k, (conv, inp) in enumerate(zip(self.branches, self._inputs(x, x_bars)))
        ]
        h = F.dropout(torch.cat(hidden, dim=-1), self.dropout, self.training)
        return _gcn_branch(self.conv2, h, graph)


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

    References:
        Liu et al. (2022); official ``lagat.py`` ``LAGAT``.
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
        if concat < 0:
            raise ValueError(f"concat={concat!r} is out of range: must be >= 0")
        _check_probability("dropout", dropout)
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

    References:
        Liu et al. (2022); official ``gcnii/model.py``; Chen et al. (2020), GCNII.
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
        if concat < 0:
            raise ValueError(f"concat={concat!r} is out of range: must be >= 0")
        if layers < 1:
            raise ValueError(f"layers={layers!r} is out of range: must be >= 1")
        _check_probability("dropout", dropout)
        self.concat, self.dropout, self.generated_dropout = concat, dropout, generated_dropout
        width = (concat + 1) * hidden
        self.inputs = nn.ModuleList(nn.Linear(in_dim, hidden) for _ in range(concat + 1))
        self.convs = nn.ModuleList(
            GCN2Conv(width, alpha=alpha, theta=lamda, layer=l + 1, shared_weights=True) for l in range(layers)
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


@dataclass(frozen=True)
class LAResult:
    """Outcome of :func:`train_local_augmentation`.

    Attributes:
        test_acc: Test accuracy of the selected model on its stored X_bar.
        val_acc: Validation accuracy of the selected model.
        val_loss: Its validation NLL (the selection criterion).
        best_epoch: Epoch (1-based) of the selected model.
        train_loss: Final epoch's training loss (supervised + lambda * consistency).
        consistency: Final epoch's consistency loss (before lambda).
    """

    test_acc: float
    val_acc: float
    val_loss: float
    best_epoch: int
    train_loss: float
    consistency: float


def train_local_augmentation(
    model: nn.Module,
    x: torch.Tensor,
    edge_index: torch.Tensor,
    y: torch.Tensor,
    train_mask: torch.Tensor,
    val_mask: torch.Tensor,
    test_mask: torch.Tensor,
    *,
    bank: FeatureBank | None = None,
    samples: int = 4,
    lam: float = 1.0,
    temperature: float = 0.5,
    epochs: int = 2000,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> LAResult:
    """Train a branch-per-input backbone the LA-GNN way and select on validation NLL.

    Each epoch: for s = 1..S draw ``model.concat`` generated matrices (fresh per sample)
    and run the model in train mode -> log p_s; L = (1/S) sum_s NLL(log p_s[train], y) +
    lam * consistency_loss(p_1..p_S, T). Adam with weight decay on all parameters. Then,
    in eval mode, one new draw scores the validation NLL; the model with the lowest one is
    kept **with that draw**, and tested with it (no early stopping).

    With ``model.concat == 0`` no generated features are used: ``samples > 1`` and
    ``lam > 0`` give the consistency-only ablation; ``samples=1, lam=0`` plain training.

    Args:
        model: :class:`LAGCN`, :class:`LAGAT` or :class:`LAGCNII` (``model.concat`` inputs).
        x: (N, F) row-normalised original features (dense or sparse for LAGCN).
        edge_index: The graph.
        y, train_mask, val_mask, test_mask: Labels and the split.
        bank: Source of generated matrices (required when ``model.concat > 0``).
        samples: S (official 4).
        lam: lambda of the consistency loss (official 1.0).
        temperature: T of the sharpening (official 0.5).
        epochs: Official 2000 (Cora, CiteSeer LA-GCN).
        lr, weight_decay: Adam (official 0.01, 5e-4); ignored if ``optimizer`` is given.
        optimizer: A ready optimizer (e.g. LA-GCNII's two weight-decay groups).
        generator: Source of the bank draws (dropout uses torch's global generator).
        callback: ``callback(epoch, values)`` after every epoch (train/val losses).

    Returns:
        An :class:`LAResult`.

    References:
        Liu et al. (2022), Alg. 1; official ``lagcn.py`` training loop.
    """
    concat = getattr(model, "concat", 0)
    if concat and bank is None:
        raise ValueError(f"the model takes concat={concat} generated matrices but bank is None")
    if samples < 1:
        raise ValueError(f"samples={samples!r} is out of range: must be >= 1")
    if epochs < 1:
        raise ValueError(f"epochs={epochs!r} is out of range: must be >= 1")
    _check_positive("lam", lam, allow_zero=True)

    def draw() -> list[torch.Tensor]:
        return bank.sample(concat, generator) if concat else []

    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best = (math.inf, None, None, 0)
    train_loss = cons_value = math.nan
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        log_probs = [F.log_softmax(model(x, draw(), edge_index), dim=-1) for _ in range(samples)]
        loss = sum(F.nll_loss(lp[train_mask], y[train_mask]) for lp in log_probs) / samples
        cons = consistency_loss([lp.exp() for lp in log_probs], temperature) if lam > 0 else torch.zeros(())
        total = loss + lam * cons
        total.backward()
        optimizer.step()
        train_loss, cons_value = total.item(), cons.item()
        model.eval()
        x_bars = draw()
        with torch.no_grad():
            val_loss = F.nll_loss(F.log_softmax(model(x, x_bars, edge_index), dim=-1)[val_mask], y[val_mask]).item()
        if callback is not None:
            callback(epoch, {"train_loss": train_loss, "consistency": cons_value, "val_loss": val_loss})
        if not math.isfinite(train_loss):
            break
        if val_loss < best[0]:
            best = (val_loss, copy.deepcopy(model.state_dict()), x_bars, epoch)
    val_loss, state, x_bars, best_epoch = best
    if state is not None:
        model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        pred = model(x, x_bars or [], edge_index).argmax(dim=-1)
    return LAResult(
        test_acc=(pred[test_mask] == y[test_mask]).float().mean().item(),
        val_acc=(pred[val_mask] == y[val_mask]).float().mean().item(),
        val_loss=val_loss,
        best_epoch=best_epoch,
        train_loss=train_loss,
        consistency=cons_value,
    )
