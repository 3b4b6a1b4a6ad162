"""Graph neural network components (needs the ``graphs`` extra: torch-geometric).

* :mod:`icml22dl.graphs.local_augmentation` -- LA-GNN (Liu et al., ICML 2022).
* :mod:`icml22dl.graphs.temporal` -- time-and-graph vs time-then-graph (Gao & Ribeiro, ICML 2022).
"""

from icml22dl.graphs.local_augmentation import (
    LAGAT,
    LAGCN,
    LAGCNII,
    FeatureBank,
    FeatureCVAE,
    LAResult,
    UScoreSelection,
    consistency_loss,
    cvae_loss,
    feature_concat,
    neighbour_pairs,
    pretrain_cvae,
    row_normalise,
    sparse_dropout,
    train_local_augmentation,
    u_score,
)
from icml22dl.graphs.temporal import (
    GCNGRU,
    Aggregated,
    DynamicGraphSignal,
    EvolveGCNO,
    HistoryEncoder,
    TimeThenGraph,
    WindowAggregator,
    mean_pool,
)

__all__ = [
    "Aggregated",
    "DynamicGraphSignal",
    "EvolveGCNO",
    "GCNGRU",
    "HistoryEncoder",
    "TimeThenGraph",
    "WindowAggregator",
    "mean_pool",
    "LAGAT",
    "LAGCN",
    "LAGCNII",
    "FeatureBank",
    "FeatureCVAE",
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
