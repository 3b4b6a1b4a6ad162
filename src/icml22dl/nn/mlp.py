"""A plain multi-layer perceptron with optional BatchNorm (Linear -> BatchNorm1d -> ReLU blocks)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from icml22dl.validation import check_int

__all__ = ["MLP"]


class MLP(nn.Module):
    r"""Fully connected network: hidden blocks ``Linear -> [BatchNorm1d] -> ReLU``, then a linear classifier.

    .. math::
        h_0 = \mathrm{flatten}(x),\quad h_k = \mathrm{relu}(\mathrm{bn}_k(W_k h_{k-1} + b_k)),
        \quad f(x) = W_{L+1} h_L + b_{L+1}

    Parameter names: ``blocks.<k>.0`` (Linear), ``blocks.<k>.1`` (BatchNorm) and
    ``classifier``; :func:`icml22dl.analysis.mlp_layer_groups` groups them per layer.

    Args:
        in_features: input size (inputs are flattened).
        hidden: hidden widths.
        num_classes: outputs.
        batchnorm: add BatchNorm1d after every hidden Linear.

    Returns:
        ``forward(x)`` maps ``(B, ...)`` with ``in_features`` entries to ``(B, num_classes)``.

    Example:
        >>> import torch
        >>> MLP(64, (128, 128, 128), 10)(torch.randn(4, 8, 8)).shape
        torch.Size([4, 10])
        >>> sum(p.numel() for p in MLP(4, (3,), 2, batchnorm=False).parameters())  # 4*3+3 + 3*2+2
        23

    References:
        The quick model of the interpolation experiment (Vlaar & Frankle, ICML 2022; our design,
        docs/papers/interpolation.md#defaults): 64 -> 128 -> 128 -> 128 -> 10 with BatchNorm on
        scikit-learn's digits; without BatchNorm, 784 -> 64 -> 10 is the quick model of the EFLD
        experiment (docs/papers/efld.md#defaults).
    """

    def __init__(
        self, in_features: int, hidden: Sequence[int] = (128, 128, 128), num_classes: int = 10, batchnorm: bool = True
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, low=1)
        for k, width in enumerate(hidden):
            check_int(f"hidden[{k}]", width, low=1)
        check_int("num_classes", num_classes, low=1)
        widths = [in_features, *hidden]
        blocks = []
        for d_in, d_out in zip(widths[:-1], widths[1:]):
            layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
            if batchnorm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(nn.ReLU())
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.blocks(x.flatten(1)))
