"""Graph neural network components (needs the ``graphs`` extra: torch-geometric).

* :mod:`icml22dl.graphs.local_augmentation` -- LA-GNN (Liu et al., ICML 2022): the CVAE
  feature generator (``cvae``), the branch-per-input backbones (``models``) and their
  training loop (``training``).
* :mod:`icml22dl.graphs.temporal` -- time-and-graph vs time-then-graph (Gao & Ribeiro, ICML 2022).
* :mod:`icml22dl.graphs.training` -- :func:`fit_graph_batches`, the training loop over
  pre-built graph batches.
"""

from icml22dl.graphs.local_augmentation import (
    LAGAT,
    LAGCN,
    LAGCNII,
    FeatureBank,
    FeatureCVAE,
    FreshDraws,
    LAResult,
    PlainBackbone,
    UScoreSelection,
    consistency_loss,
    cvae_loss,
    feature_concat,
    neighbour_pairs,
    paired_lower_bound,
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
    EvolveGCNH,
    EvolveGCNO,
    GConvGRU,
    HistoryEncoder,
    TemporalBatch,
    TimeThenGraph,
    WindowAggregator,
    history_groups,
    mean_pool,
    propagate,
    scaled_laplacian,
    temporal_batches,
)
from icml22dl.graphs.training import GraphFitResult, GraphTrainer, fit_graph_batches, fit_interleaved

__all__ = [
    "Aggregated",
    "DynamicGraphSignal",
    "EvolveGCNH",
    "EvolveGCNO",
    "GCNGRU",
    "GConvGRU",
    "GraphFitResult",
    "HistoryEncoder",
    "TemporalBatch",
    "TimeThenGraph",
    "WindowAggregator",
    "fit_graph_batches",
    "fit_interleaved",
    "GraphTrainer",
    "history_groups",
    "mean_pool",
    "propagate",
    "scaled_laplacian",
    "temporal_batches",
    "LAGAT",
    "LAGCN",
    "LAGCNII",
    "FeatureBank",
    "FeatureCVAE",
    "FreshDraws",
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
