"""Layers and models (``nn.Module``), full-batch gradient accumulation, and the model registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from icml22dl.nn.cifar_models import resnet18_cifar, vgg19_bn
from icml22dl.nn.collapse_nets import CollapseMLP, ETFClassifier, etf_weight, resnet18_collapse
from icml22dl.nn.cubic_cnn import CubicPatchCNN
from icml22dl.nn.deq import DEQ, FCDEQ, TanhCell
from icml22dl.nn.full_batch import full_batch_grad
from icml22dl.nn.init import haar_orthogonal, init_matrix_, matrix_family
from icml22dl.nn.linear_nets import (
    DeepLinearNet,
    DiagonalGDResult,
    DiagonalLinearNet,
    FlowResult,
    balance_drift,
    balanced_rank_one_init,
    diagonal_gd,
    factor_flow,
    factor_gradients,
)
from icml22dl.nn.linear_predictor import LinearPredictor
from icml22dl.nn.lipschitz_nets import kw_large, small_ortho_net
from icml22dl.nn.mlp import MLP
from icml22dl.nn.mnist_cnn import CNN2, default_init_
from icml22dl.nn.orthogonal_convs import CayleyConv2d, RKOConv2d, SOCConv2d
from icml22dl.nn.paraunitary import (
    ConvexSkip,
    GroupSort,
    LipschitzAvgPool2d,
    MaxMin,
    OrthogonalLinear,
    OrthogonalMatrix,
    ParaunitaryConv1d,
    ParaunitaryConv2d,
    ParaunitaryConvTranspose1d,
    ParaunitaryConvTranspose2d,
    multi_margin_hinge,
    paraunitary_variants,
)
from icml22dl.nn.small_nets import MLPClassifier, SmallConvNet
from icml22dl.nn.solvers import SolverInfo, anderson, broyden, fixed_point
from icml22dl.registry import Registry

__all__ = [
    "MLPClassifier",
    "SmallConvNet",
    "MODELS",
    "MLP",
    "CNN2",
    "default_init_",
    "DeepLinearNet",
    "DiagonalGDResult",
    "DiagonalLinearNet",
    "FlowResult",
    "LinearPredictor",
    "balance_drift",
    "balanced_rank_one_init",
    "diagonal_gd",
    "factor_flow",
    "factor_gradients",
    "DEQ",
    "FCDEQ",
    "TanhCell",
    "SolverInfo",
    "anderson",
    "broyden",
    "fixed_point",
    "haar_orthogonal",
    "init_matrix_",
    "matrix_family",
    "kw_large",
    "small_ortho_net",
    "CayleyConv2d",
    "RKOConv2d",
    "SOCConv2d",
    "ConvexSkip",
    "GroupSort",
    "LipschitzAvgPool2d",
    "MaxMin",
    "OrthogonalLinear",
    "OrthogonalMatrix",
    "ParaunitaryConv1d",
    "ParaunitaryConv2d",
    "ParaunitaryConvTranspose1d",
    "ParaunitaryConvTranspose2d",
    "multi_margin_hinge",
    "paraunitary_variants",
    "CollapseMLP",
    "CubicPatchCNN",
    "ETFClassifier",
    "etf_weight",
    "resnet18_collapse",
    "full_batch_grad",
    "get_model",
    "list_models",
    "register_model",
    "resnet18_cifar",
    "vgg19_bn",
]

ModelBuilder = Callable[..., nn.Module]


def _check_builder(builder: ModelBuilder) -> None:
    if not callable(builder):
        raise ValueError(f"builder must be callable, got {builder!r}")


MODELS: Registry[ModelBuilder] = Registry("model", _check_builder)
register_model = MODELS.register
list_models = MODELS.list


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with ``kwargs``; ValueError listing the known names.

    References:
        The registry pattern of :class:`icml22dl.registry.Registry` (a name -> builder map,
        as in timm's ``create_model``).

    Example:
        >>> type(get_model("mlp", in_features=4, hidden=(8,), num_classes=2)).__name__
        'MLP'
        >>> get_model("resnet1000")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: unknown model 'resnet1000'; registered: ...
    """
    return MODELS.get(name)(**kwargs)


register_model("cubic_patch_cnn", CubicPatchCNN)
register_model("resnet18_cifar", resnet18_cifar)
register_model("vgg19_bn", vgg19_bn)
register_model("collapse_mlp", CollapseMLP)
register_model("resnet18_collapse", resnet18_collapse)
register_model("fc_deq", FCDEQ)
register_model("small_ortho_net", small_ortho_net)
register_model("kw_large", kw_large)
register_model("mlp", MLP)
register_model("cnn2", CNN2)
register_model("small_conv_net", SmallConvNet)
register_model("mlp_classifier", MLPClassifier)
register_model("linear_predictor", LinearPredictor)
