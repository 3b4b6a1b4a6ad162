"""Models and a training loop for neural-collapse experiments under MSE loss.

* :class:`ETFClassifier`: the frozen simplex-ETF last layer of Zhou et al. (ICML 2022),
  ``W = sqrt(K/(K-1)) (I_K - 11^T/K) [I_K, 0]`` (unit rows, zero-padded to d columns).
* :class:`CollapseMLP`: an MLP with BatchNorm + ReLU hidden layers whose last hidden layer
  has ``feature_dim`` units (``feature_dim = K`` is the paper's "fixdim"), then ``fc``.
* :func:`resnet18_collapse`: the CIFAR ResNet-18 (3x3 stem) with an optional ETF ``fc``
  and an optional projection to ``fixdim`` features.
* :func:`train_mse`: mini-batch SGD with momentum, weight decay and a step schedule on the
  MSE to one-hot targets averaged over N x K entries (``nn.MSELoss``; the official
  ``Rescale_Square_Loss`` with k = M = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from icml22dl.nn.cifar_models import resnet18_cifar

__all__ = ["CollapseMLP", "ETFClassifier", "etf_weight", "resnet18_collapse", "train_mse"]


def etf_weight(num_classes: int, feature_dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``sqrt(K/(K-1)) (I_K - 11^T/K) [I_K, 0]``: K unit rows forming a simplex ETF in R^d.

    Raises:
        ValueError: unless 2 <= num_classes <= feature_dim.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is out of range: must be an integer >= 2")
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < num_classes:
        raise ValueError(
            f"feature_dim={feature_dim!r} is out of range: must be an integer >= num_classes={num_classes}"
        )
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
        width: hidden width (128 in card 10's network check); depth: hidden layers (3).
        feature_dim: units of the last hidden layer (default ``width``; K for "fixdim").
        fc_bias: bias of the last layer (off for the bias-free model of card 14).
        etf_fc: freeze ``fc`` at a simplex ETF (:class:`ETFClassifier`).

    The penultimate features are the input of ``self.fc`` (hook it with
    ``icml22dl.analysis.FeatureHook(model.fc)``).
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
        for name, value, low in (
            ("in_features", in_features, 1),
            ("num_classes", num_classes, 2),
            ("width", width, 1),
            ("depth", depth, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} is out of range: must be an integer >= {low}")
        feature_dim = width if feature_dim is None else feature_dim
        sizes = [in_features] + [width] * (depth - 1) + [feature_dim]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = (
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
    """
    model = resnet18_cifar(num_classes)
    dim = 512
    if fixdim is not None:
        model.pool = nn.Sequential(model.pool, nn.Flatten(), nn.Linear(512, fixdim), nn.BatchNorm1d(fixdim), nn.ReLU())
        dim = fixdim
    model.fc = ETFClassifier(dim, num_classes, fc_bias) if etf_fc else nn.Linear(dim, num_classes, fc_bias)
    return model


def train_mse(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    num_classes: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
    generator: torch.Generator | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
) -> float:
    """Mini-batch SGD on the MSE to one-hot targets (mean over N x K entries).

    Weight decay hits every parameter (BN and biases included), as the official
    ``train_1st_order.py`` does; the learning rate is multiplied by ``gamma`` at each
    epoch in ``milestones``. ``on_epoch(epoch, mean_loss)`` is called after every epoch (a
    caller can raise there to stop on divergence). Returns the last epoch's mean loss.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimiser, list(milestones), gamma)
    device = next(model.parameters()).device
    targets = nn.functional.one_hot(y, num_classes).to(torch.float32)
    loss_value = float("nan")
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb = x[idx].to(device)
            if transform is not None:
                xb = transform(xb)
            loss = ((model(xb) - targets[idx].to(device)) ** 2).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        scheduler.step()
        loss_value = total / max(count, 1)
        if on_epoch is not None:
            on_epoch(epoch, loss_value)
        if not math.isfinite(loss_value):
            break
    return loss_value
