"""The LA-GNN feature generator: a conditional VAE of p(x_neighbour | x_centre), its pre-training and U-score.

Liu et al., *Local Augmentation for Graph Neural Networks*, ICML 2022, Sec. 3.2-3.3.

* :func:`neighbour_pairs` -- the (condition, target) node pairs of the CVAE's training set;
* :func:`row_normalise` -- X_tilde = D_X^{-1} X, the features every GNN input sees;
* :func:`cvae_loss`, :class:`FeatureCVAE` -- the CVAE (citation version: sigmoid/BCE; OGB
  version: tanh/MSE with BatchNorm), with :meth:`FeatureCVAE.from_official`;
* :func:`pretrain_cvae`, :class:`UScoreSelection`, :func:`u_score` -- pre-training, with the
  official U-score checkpoint selection on a schedule.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.validation import check_choice, check_int, check_positive

__all__ = [
    "FeatureCVAE",
    "UScoreSelection",
    "cvae_loss",
    "neighbour_pairs",
    "pretrain_cvae",
    "row_normalise",
    "u_score",
]


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

    Example:
        >>> row_normalise(torch.tensor([[1.0, 3.0], [0.0, 0.0]]))
        tensor([[0.2500, 0.7500],
                [0.0000, 0.0000]])

    References:
        Liu et al. (2022), Sec. 3.4 (X_tilde); official ``utils.normalize_features``.
    """
    total = x.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, x / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(x))


def cvae_loss(
    recon: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, kind: str = "bce"
) -> torch.Tensor:
    """Negative ELBO per example: [reconstruction_sum + KL] / batch.

    KL = -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2); reconstruction = summed binary
    cross-entropy (citation version) or summed squared error (OGB version).

    Args:
        recon: (B, F) decoder outputs (probabilities for ``"bce"``).
        x: (B, F) targets.
        mean, log_var: (B, latent) encoder outputs.
        kind: ``"bce"`` or ``"mse"``.

    Returns:
        The scalar loss.

    Example:
        >>> z = torch.zeros(1, 2)
        >>> round(cvae_loss(torch.full((1, 2), 0.5), torch.ones(1, 2), z, z).item(), 4)  # 2 log 2, KL 0
        1.3863

    References:
        Liu et al. (2022), Eq. 4; official ``cvae_pretrain.loss_fn`` (BCE) and the OGB scripts (MSE).
    """
    check_choice("kind", kind, ("bce", "mse"))
    if kind == "bce":
        rec = F.binary_cross_entropy(recon, x, reduction="sum")
    else:
        rec = F.mse_loss(recon, x, reduction="sum")
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
        >>> x_bar.shape, bool(torch.allclose(x_bar.sum(1), torch.ones(5)))
        (torch.Size([5, 1433]), True)

    References:
        Liu et al. (2022), Sec. 3.2 and App.; official ``cvae_models.py`` (encoder
        [F, 256], latent 10, decoder [256, F], conditional).
    """

    def __init__(
        self, in_dim: int, hidden: int = 256, latent: int = 10, out: str = "sigmoid", batch_norm: bool = False
    ) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden", hidden), ("latent", latent)):
            check_int(name, value, low=1)
        check_choice("out", out, ("sigmoid", "tanh"))
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
    ``update_epochs`` more epochs on that X_bar. The helper's Adam is built on construction;
    :meth:`train_helper` trains the helper with it (also its initial 100 epochs on X_tilde).

    Attributes:
        helper: The helper GNN, ``helper(x, edge_index) -> logits`` (e.g. a
            :class:`~icml22dl.graphs.PlainBackbone` around a plain LAGCN).
        edge_index: The graph.
        labels: Node labels.
        train_mask: The nodes U is computed on.
        passes: M, forwards per score (official 100).
        every: Score every ``every`` CVAE steps (official 1; a cheaper schedule is a deviation).
        warmup: Steps before a checkpoint can be kept (official 200).
        update_epochs: Helper epochs on the kept X_bar (official 20).
        lr, weight_decay: The helper's Adam (official 0.01, 5e-4).

    Example:
        >>> class Helper(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.lin = torch.nn.Linear(3, 2)
        ...     def forward(self, x, edge_index):
        ...         return self.lin(x)
        >>> _ = torch.manual_seed(0)
        >>> selection = UScoreSelection(Helper(), torch.zeros(2, 0, dtype=torch.long), torch.tensor([0, 1]),
        ...                             torch.tensor([True, True]), passes=5)
        >>> selection.train_helper(torch.eye(2, 3), epochs=50)
        >>> selection.helper(torch.eye(2, 3), None).argmax(1).tolist()
        [0, 1]

    References:
        Liu et al. (2022), Sec. 3.3; official ``cvae_pretrain.py`` (``num_models`` 100,
        warm-up 200, helper update 20 epochs, Adam 0.01 / 5e-4).
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
            check_int(name, getattr(self, name), low=1)
        check_int("warmup", self.warmup, low=0)
        self.optimizer = torch.optim.Adam(self.helper.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def train_helper(self, x: torch.Tensor, epochs: int | None = None) -> None:
        """Train the helper (train mode, full batch, cross-entropy on ``train_mask``) on features ``x``.

        Args:
            x: (N, F) features: X_tilde for the initial training (official 100 epochs), the
                kept X_bar after a new best U-score.
            epochs: Number of epochs (default ``update_epochs``).
        """
        helper = self.helper
        helper.train()
        for _ in range(self.update_epochs if epochs is None else epochs):
            self.optimizer.zero_grad()
            logits = helper(x, self.edge_index)
            F.cross_entropy(logits[self.train_mask], self.labels[self.train_mask]).backward()
            self.optimizer.step()


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

    Example:
        >>> class Fixed(torch.nn.Module):  # no dropout: every pass agrees, so U = 0
        ...     def forward(self, x, edge_index):
        ...         return x
        >>> logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
        >>> mask = torch.ones(4, dtype=torch.bool)
        >>> abs(u_score(Fixed(), logits, None, torch.tensor([0, 1, 2, 0]), mask, passes=3)) < 1e-6
        True

    References:
        Liu et al. (2022), Sec. 3.3; official ``cvae_pretrain.generated_generator``.
    """
    check_int("passes", passes, low=1)
    was_training = helper.training
    helper.train()
    total: Any = 0.0  # 0.0 + p_1 + ... + p_M, summed in pass order
    ce = 0.0
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
    the best U-score after the warm-up (or the final one if none qualified). The U-score
    passes and the helper's updates use dropout, which draws from torch's global generator.

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

    Example:
        >>> x = torch.eye(4)
        >>> pairs = neighbour_pairs(torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]))
        >>> _, history = pretrain_cvae(FeatureCVAE(4, 8, 2), x, pairs, epochs=3, batch_size=2,
        ...                            generator=torch.Generator().manual_seed(0))
        >>> len(history["loss"])  # 4 pairs, 2 per step, 3 epochs
        6

    References:
        Liu et al. (2022), Sec. 3.2-3.3; official ``cvae_pretrain.py`` (BCE + KL per batch,
        U-score after every step, warm-up 200, helper update 20 epochs).
    """
    check_int("epochs", epochs, low=1)
    check_int("batch_size", batch_size, low=1)
    check_positive("lr", lr)
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
                    selection.train_helper(x_bar)
    if best_state is not None:
        cvae.load_state_dict(best_state)
    cvae.eval()
    return cvae, history
