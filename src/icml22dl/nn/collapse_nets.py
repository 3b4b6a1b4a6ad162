"""Models for neural-collapse experiments: a frozen simplex-ETF classifier, an MLP and a ResNet-18.

* :class:`ETFClassifier`: the frozen simplex-ETF last layer of Zhou et al. (ICML 2022),
  ``W = sqrt(K/(K-1)) (I_K - 11^T/K) [I_K, 0]`` (unit rows, zero-padded to d columns).
* :class:`CollapseMLP`: an MLP with BatchNorm + ReLU hidden layers whose last hidden layer
  has ``feature_dim`` units (``feature_dim = K`` is the paper's "fixdim"), then ``fc``.
* :func:`resnet18_collapse`: the CIFAR ResNet-18 (3x3 stem) with an optional ETF ``fc``
  and an optional projection to ``fixdim`` features.

Every model ends in ``self.fc``, whose input is the penultimate feature
(:func:`icml22dl.analysis.evaluate_collapse` hooks it). Train them with
:func:`icml22dl.train.fit` and :class:`icml22dl.losses.OneHotMSELoss` (the MSE to one-hot
targets of both MSE collapse papers).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from icml22dl.nn.cifar_models import resnet18_cifar
from icml22dl.validation import check_int

__all__ = ["CollapseMLP", "ETFClassifier", "etf_weight", "resnet18_collapse"]


def etf_weight(num_classes: int, feature_dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``sqrt(K/(K-1)) (I_K - 11^T/K) [I_K, 0]``: K unit rows forming a simplex ETF in R^d.

    Raises:
        ValueError: unless 2 <= num_classes <= feature_dim.

    Example:
        >>> W = etf_weight(3, 5)
        >>> W.shape, torch.allclose(W.norm(dim=1), torch.ones(3)), torch.allclose(W.sum(0), torch.zeros(5), atol=1e-6)
        (torch.Size([3, 5]), True, True)

    References: Zhou et al., ICML 2022, Sec. 5 (the official ``ETF_fc`` weight).
    """
    check_int("num_classes", num_classes, low=2)
    check_int("feature_dim", feature_dim, low=num_classes)
    K = num_classes
    M = math.sqrt(K / (K - 1)) * (torch.eye(K, dtype=dtype) - 1.0 / K)
    return M @ torch.eye(K, feature_dim, dtype=dtype)


class ETFClassifier(nn.Module):
    """A linear classifier frozen at a simplex ETF (weight is a buffer, not a parameter).

    Math: ``z = W h + b``, ``W = M_ETF [I_K, 0]``, ``W W^T = K/(K-1) (I - 11^T/K)``.

    Args:
        feature_dim: d >= K; num_classes: K; bias: a learnable bias (the official
            ``ETF_fc`` keeps ``fc.bias`` trainable).

    Example:
        >>> fc = ETFClassifier(10, 10)
        >>> torch.allclose(fc.weight @ fc.weight.T, 10 / 9 * (torch.eye(10) - 0.1), atol=1e-6)
        True

    References: Zhou et al., ICML 2022, Sec. 5 (fixed ETF classifier; official
    ``models/resnet.py``, flag ``--ETF_fc``).
    """

    weight: Tensor

    def __init__(self, feature_dim: int, num_classes: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = feature_dim, num_classes
        self.register_buffer("weight", etf_weight(num_classes, feature_dim))
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


class CollapseMLP(nn.Module):
    """MLP: ``depth`` x (Linear + BatchNorm1d + ReLU), the last with ``feature_dim`` units, then ``fc``.

    Args:
        in_features: input size (784 for MNIST); num_classes: K.
        width: hidden width; depth: hidden layers (128 and 3 in collapse_mse's MNIST check,
            docs/papers/collapse_mse.md#defaults).
        feature_dim: units of the last hidden layer (default ``width``; K for "fixdim").
        fc_bias: bias of the last layer (off for the bias-free model of Tirer & Bruna).
        etf_fc: freeze ``fc`` at a simplex ETF (:class:`ETFClassifier`).

    The penultimate features are the input of ``self.fc`` (hook it with
    ``icml22dl.analysis.FeatureHook(model.fc)``).

    Example:
        >>> model = CollapseMLP(784, 10, width=32, depth=2, feature_dim=10, etf_fc=True)
        >>> model(torch.randn(4, 28, 28)).shape, isinstance(model.fc, ETFClassifier)
        (torch.Size([4, 10]), True)

    References: Zhou et al., ICML 2022, Sec. 5 (MLP with BatchNorm on MNIST; "fixdim" d = K
    with a fixed ETF classifier).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        width: int = 128,
        depth: int = 3,
        feature_dim: int | None = None,
        fc_bias: bool = True,
        etf_fc: bool = False,
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, low=1)
        check_int("num_classes", num_classes, low=2)
        check_int("width", width, low=1)
        check_int("depth", depth, low=1)
        feature_dim = width if feature_dim is None else feature_dim
        sizes = [in_features] + [width] * (depth - 1) + [feature_dim]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc: nn.Module = (
            ETFClassifier(feature_dim, num_classes, fc_bias) if etf_fc else nn.Linear(feature_dim, num_classes, fc_bias)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.body(x.flatten(1)))


def resnet18_collapse(
    num_classes: int = 10, fc_bias: bool = True, etf_fc: bool = False, fixdim: int | None = None
) -> nn.Module:
    """CIFAR ResNet-18 (3x3 stem, the official "SOTA" stem) for collapse experiments.

    ``fixdim`` adds a projection ``Linear(512, fixdim) + BatchNorm1d + ReLU`` before ``fc``
    (the official code instead widens the last block's output to ``fixdim`` channels with
    an extra 1x1 conv + BN; a documented simplification). ``etf_fc`` freezes ``fc``.

    Example:
        >>> model = resnet18_collapse(10, etf_fc=True, fixdim=10).eval()
        >>> model(torch.randn(1, 3, 32, 32)).shape, model.fc.in_features
        (torch.Size([1, 10]), 10)

    References: Zhou et al., ICML 2022, Sec. 5 (ResNet-18 with a fixed ETF classifier and
    d = K, official ``models/resnet.py``, flags ``--ETF_fc --fixdim``).
    """
    model: nn.Module = resnet18_cifar(num_classes)
    dim = 512
    if fixdim is not None:
        pool = model.get_submodule("pool")
        model.pool = nn.Sequential(pool, nn.Flatten(), nn.Linear(512, fixdim), nn.BatchNorm1d(fixdim), nn.ReLU())
        dim = fixdim
    model.fc = ETFClassifier(dim, num_classes, fc_bias) if etf_fc else nn.Linear(dim, num_classes, fc_bias)
    return model
