"""Local augmentation for GNNs (LA-GNN): a neighbour-conditional feature generator and its plug-in.

Liu et al., *Local Augmentation for Graph Neural Networks*, ICML 2022 (arXiv 2109.03856).
A conditional VAE learns p(x_j | x_i) over the ordered edges i -> j of the graph; sampled
feature matrices X_bar = rownorm(dec(z, X)), z ~ N(0, I), are fed to a GNN beside the
row-normalised original features X_tilde, one first-layer branch per input, and the model
is trained with the S-sample supervised loss plus a consistency loss.

Modules, by role:

* :mod:`~icml22dl.graphs.local_augmentation.cvae` -- :func:`neighbour_pairs`,
  :func:`row_normalise`, :class:`FeatureCVAE` and :func:`cvae_loss`, :func:`pretrain_cvae`
  with the official U-score selection (:class:`UScoreSelection`, :func:`u_score`);
* :mod:`~icml22dl.graphs.local_augmentation.models` -- :class:`LAGCN`, :class:`LAGAT`,
  :class:`LAGCNII` (branch-per-input backbones on PyG layers; ``concat=0`` gives the plain
  backbone), :class:`PlainBackbone`, :func:`feature_concat`, :func:`sparse_dropout`;
* :mod:`~icml22dl.graphs.local_augmentation.training` -- :class:`FeatureBank` and
  :class:`FreshDraws` (sources of X_bar), :func:`consistency_loss`,
  :func:`train_local_augmentation` and :class:`LAResult`.

Requires the ``graphs`` extra (``pip install icml22dl[graphs]``: torch-geometric).

References:
    Liu et al. (2022), Sec. 3 and Alg. 1; official code ``SongtaoLiu0823/LAGNN``; see
    ``docs/papers/local_augmentation.md#method``.

Example:
    >>> import torch
    >>> from icml22dl.graphs.local_augmentation import FeatureBank, FeatureCVAE, LAGCN, train_local_augmentation
    >>> _ = torch.manual_seed(0)
    >>> x, y = torch.eye(4), torch.tensor([0, 1, 0, 1])
    >>> edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    >>> bank = FeatureBank(FeatureCVAE(4, 8, 2), x, size=2, generator=torch.Generator().manual_seed(0))
    >>> mask = torch.ones(4, dtype=torch.bool)
    >>> result = train_local_augmentation(LAGCN(4, 8, 2, concat=1), x, edge_index, y, mask, mask, mask,
    ...                                   bank=bank, samples=2, epochs=3)
    >>> result.best_epoch in (1, 2, 3)
    True
"""

from icml22dl.graphs.local_augmentation.cvae import (
    FeatureCVAE,
    UScoreSelection,
    cvae_loss,
    neighbour_pairs,
    pretrain_cvae,
    row_normalise,
    u_score,
)
from icml22dl.graphs.local_augmentation.models import (
    LAGAT,
    LAGCN,
    LAGCNII,
    PlainBackbone,
    feature_concat,
    sparse_dropout,
)
from icml22dl.graphs.local_augmentation.training import (
    FeatureBank,
    FreshDraws,
    LAResult,
    consistency_loss,
    paired_lower_bound,
    train_local_augmentation,
)

__all__ = [
    "FeatureBank",
    "FeatureCVAE",
    "FreshDraws",
    "LAGAT",
    "LAGCN",
    "LAGCNII",
    "LAResult",
    "PlainBackbone",
    "UScoreSelection",
    "consistency_loss",
    "cvae_loss",
    "feature_concat",
    "neighbour_pairs",
    "paired_lower_bound",
    "pretrain_cvae",
    "row_normalise",
    "sparse_dropout",
    "train_local_augmentation",
    "u_score",
]
