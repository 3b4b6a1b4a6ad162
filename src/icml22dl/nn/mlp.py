"""A plain multi-layer perceptron with optional BatchNorm (Linear -> BatchNorm1d -> ReLU blocks)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

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
        >>> MLP(64, (128, 128, 128), 10)(torch.randn(4, 8, 8)).shape
        torch.Size([4, 10])

    References:
        Card 02 (Vlaar & Frankle, ICML 2022) quick model: 64 -> 128 -> 128 -> 128 -> 10 with
        BatchNorm on scikit-learn digits (our design).
    """

    def __init__(
        self, in_features: int, hidden: Sequence[int] = (128, 128, 128), num_classes: int = 10, batchnorm: bool = True
    ) -> None:
        super().__init__()
        widths = [in_features, *hidden]
        if any(not isinstance(w, int) or w < 1 for w in [*widths, num_classes]):
            raise ValueError(
                f"in_features, hidden and num_classes must be positive integers, got "
                f"{in_features!r}, {tuple(hidden)!r}, {num_classes!r}"
            )
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
