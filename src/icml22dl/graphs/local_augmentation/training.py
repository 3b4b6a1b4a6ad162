"""LA-GNN training: sources of generated matrices, the consistency loss and the training loop.

Liu et al., *Local Augmentation for Graph Neural Networks*, ICML 2022, Sec. 3.4 and Alg. 1.

* :class:`FeatureBank` -- a bank of pre-decoded, row-normalised X_bar matrices;
* :class:`FreshDraws` -- the official source: a new X_bar decoded for every draw;
* :func:`consistency_loss` -- the sharpened-mean consistency regulariser;
* :func:`train_local_augmentation`, :class:`LAResult` -- the S-sample training loop with
  selection on the validation loss.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn

from icml22dl.graphs.local_augmentation.cvae import FeatureCVAE
from icml22dl.validation import check_int, check_positive

__all__ = [
    "FeatureBank",
    "FreshDraws",
    "LAResult",
    "consistency_loss",
    "paired_lower_bound",
    "train_local_augmentation",
]


class FeatureSource(Protocol):
    """Anything that draws ``k`` generated matrices: :class:`FeatureBank`, :class:`FreshDraws`."""

    def sample(self, k: int, generator: torch.Generator | None = None) -> list[torch.Tensor]: ...


class FeatureBank:
    """A bank of ``size`` generated feature matrices X_bar = rownorm(dec(z, X)), drawn from.

    Decoding all N nodes costs two (N x F x hidden) products; the official code decodes
    afresh for each of the S samples of every epoch. The bank decodes ``size`` matrices
    once and draws from them (a documented approximation: S x epochs draws reuse
    ``size`` matrices).

    Args:
        cvae: The trained generator.
        features: (N, F) raw features X (the condition).
        size: Number of matrices (16 in the quick preset).
        generator: Source of z.
        transform: Optional map applied to each stored matrix (e.g. a pre-propagation).

    Example:
        >>> bank = FeatureBank(FeatureCVAE(8), torch.rand(5, 8).round(), size=2)
        >>> [x.shape for x in bank.sample(1, torch.Generator().manual_seed(0))]
        [torch.Size([5, 8])]

    References:
        Official ``lagcn.py`` ``get_augmented_features`` (fresh z per call); the bank is
        ours (``docs/papers/local_augmentation.md#deviations-from-the-paper``).
    """

    def __init__(
        self,
        cvae: FeatureCVAE,
        features: torch.Tensor,
        size: int = 16,
        generator: torch.Generator | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        check_int("size", size, low=1)
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
        check_int("k", k, low=0, high=len(self))
        idx = torch.randperm(len(self), generator=generator)[:k]
        return [self.matrices[i] for i in idx.tolist()]


class FreshDraws:
    """The official source of generated matrices: every draw decodes a new X_bar = rownorm(dec(z, X)).

    Same interface as :class:`FeatureBank` (``sample(k, generator)``), without its reuse.

    Args:
        cvae: The trained generator.
        features: (N, F) raw features X (the condition).

    Example:
        >>> source = FreshDraws(FeatureCVAE(8), torch.rand(5, 8).round())
        >>> a, b = source.sample(2, torch.Generator().manual_seed(0))
        >>> a.shape, bool(torch.equal(a, b))
        (torch.Size([5, 8]), False)

    References:
        Liu et al. (2022), Alg. 1; official ``lagcn.py`` ``get_augmented_features``
        (a fresh z for each of the S samples of every epoch).
    """

    def __init__(self, cvae: FeatureCVAE, features: torch.Tensor) -> None:
        self.cvae, self.features = cvae, features

    def sample(self, k: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Decode ``k`` new matrices, drawing z from ``generator``."""
        check_int("k", k, low=0)
        return [self.cvae.generate(self.features, generator) for _ in range(k)]


def consistency_loss(probs: Sequence[torch.Tensor], temperature: float = 0.5) -> torch.Tensor:
    """Consistency regulariser: mean squared distance of each sample's p to the sharpened mean.

    L = (1/S) sum_s mean_i ||p_{s,i} - pbar_i^sharp||^2, pbar = (1/S) sum_s p_s,
    pbar^sharp proportional to pbar^(1/T) row-wise, **detached** (no gradient through it).

    Args:
        probs: S tensors (N, C) of class probabilities.
        temperature: T (official ``tem`` 0.5).

    Returns:
        The scalar loss (multiply by lambda, official ``lam`` 1.0).

    Example:
        >>> one_hot = torch.eye(3)[:2]
        >>> consistency_loss([one_hot, one_hot]).item()  # agreeing, already sharp
        0.0

    References:
        Liu et al. (2022), Eq. 9 (from GRAND, Feng et al. 2020); official ``consis_loss``.
    """
    if not len(probs):
        raise ValueError("probs is empty: give at least one sample")
    check_positive("temperature", temperature)
    mean = torch.stack(list(probs)).mean(dim=0)
    sharp = mean.pow(1.0 / temperature)
    sharp = (sharp / sharp.sum(dim=1, keepdim=True)).detach()
    return cast(torch.Tensor, sum((p - sharp).pow(2).sum(dim=1).mean() for p in probs) / len(probs))


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

    Example:
        >>> LAResult(0.8, 0.79, 0.6, 120, 0.3, 0.01).best_epoch
        120

    References:
        Liu et al. (2022), Sec. 4 (test accuracy of the model selected on validation).
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
    bank: FeatureSource | None = None,
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
        bank: Source of generated matrices (:class:`FeatureBank`, :class:`FreshDraws`;
            required when ``model.concat > 0``).
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

    Example:
        >>> from icml22dl.graphs import LAGCN
        >>> _ = torch.manual_seed(0)
        >>> x, y = torch.eye(4), torch.tensor([0, 1, 0, 1])
        >>> edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
        >>> mask = torch.ones(4, dtype=torch.bool)
        >>> result = train_local_augmentation(LAGCN(4, 8, 2, concat=0), x, edge_index, y, mask, mask, mask,
        ...                                   samples=2, epochs=5)
        >>> 1 <= result.best_epoch <= 5 and 0.0 <= result.test_acc <= 1.0
        True

    References:
        Liu et al. (2022), Alg. 1; official ``lagcn.py`` training loop.
    """
    concat = getattr(model, "concat", 0)
    if concat and bank is None:
        raise ValueError(f"the model takes concat={concat} generated matrices but bank is None")
    check_int("samples", samples, low=1)
    check_int("epochs", epochs, low=1)
    check_positive("lam", lam, allow_zero=True)

    def draw() -> list[torch.Tensor]:
        return bank.sample(concat, generator) if concat and bank is not None else []

    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best: tuple[float, dict | None, list[torch.Tensor] | None, int] = (math.inf, None, None, 0)
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
    val_loss, state, best_bars, best_epoch = best
    if state is not None:
        model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        pred = model(x, best_bars or [], edge_index).argmax(dim=-1)
    return LAResult(
        test_acc=(pred[test_mask] == y[test_mask]).float().mean().item(),
        val_acc=(pred[val_mask] == y[val_mask]).float().mean().item(),
        val_loss=val_loss,
        best_epoch=best_epoch,
        train_loss=train_loss,
        consistency=cons_value,
    )


def paired_lower_bound(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean of paired differences and its one-sided Student-t lower confidence bound.

    bound = mean - t_{confidence, n-1} * sd / sqrt(n), with sd the sample standard deviation
    of the n >= 2 differences (each one a pair of models sharing data, initialisation
    stream and dropout stream, e.g. LA-GCN minus its consistency-only twin).

    Args:
        differences: n paired differences.
        confidence: One-sided level (0.95: the bound is exceeded by the true mean with 95 %
            probability under normal, independent pairs).

    Returns:
        ``(mean, bound)``.

    Example:
        >>> mean, bound = paired_lower_bound([0.01, 0.02, 0.03])
        >>> round(mean, 4), round(bound, 4)  # t_{0.95, 2} = 2.92, sd = 0.01
        (0.02, 0.0031)

    References:
        Student's paired t interval (one-sided); the gate of
        ``docs/papers/local_augmentation.md#claim-and-thresholds``.
    """
    from scipy.stats import t as student_t

    values = [float(v) for v in differences]
    if len(values) < 2:
        raise ValueError(f"differences has {len(values)} values; a paired bound needs at least 2")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie in (0.5, 1)")
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, mean - float(student_t.ppf(confidence, n - 1)) * sd / math.sqrt(n)
