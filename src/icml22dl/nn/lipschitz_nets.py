"""1-Lipschitz classifiers built from orthogonal convolutions (paraunitary paper, Sec. 6).

:func:`small_ortho_net` is our small MNIST network (14x14 inputs); :func:`kw_large` the
KW-Large CIFAR-10 network of the official ``ortho_conv/train.py``. ``conv="plain"`` swaps every
orthogonal layer for an unconstrained ``nn.Conv2d`` / ``nn.Linear`` of the same shape (no
certificate: its Lipschitz constant is only bounded by the product of the layers' norms).
"""

from __future__ import annotations

import torch
from torch import nn

from icml22dl.nn.paraunitary import GroupSort, LipschitzAvgPool2d, OrthogonalLinear, ParaunitaryConv2d
from icml22dl.validation import check_choice, check_int

__all__ = ["CONVS", "kw_large", "small_ortho_net"]

CONVS = ("scfac", "plain")


def _conv(kind: str, c_in: int, c_out: int, k: int, s: int, generator: torch.Generator | None, init: str) -> nn.Module:
    if kind == "scfac":
        return ParaunitaryConv2d(
            c_in, c_out, k, stride=s, init=init if (k // s) % 2 else "uniform", generator=generator
        )
    # a plain conv with the same output size as the circular SC-Fac layer
    return nn.Conv2d(c_in, c_out, k, stride=s, padding=(k - s) // 2 if k > s else 0, padding_mode="circular")


def _linear(kind: str, n_in: int, n_out: int, generator: torch.Generator | None) -> nn.Module:
    return OrthogonalLinear(n_in, n_out, generator=generator) if kind == "scfac" else nn.Linear(n_in, n_out)


def small_ortho_net(
    conv: str = "scfac", num_classes: int = 10, init: str = "permutation", generator: torch.Generator | None = None
) -> nn.Sequential:
    """A small certified MNIST net on 14 x 14 inputs (1-Lipschitz with ``conv="scfac"``).

    SCFac(1->16, k3) - GS - SCFac(16->64, k2, s2) - GS - SCFac(64->64, k3) - GS -
    AvgPool(7, divisor 7) - OrthoLinear(64->64) - GS - OrthoLinear(64->10).

    Args:
        conv: ``"scfac"`` (orthogonal layers) or ``"plain"`` (unconstrained, default torch init
            from the global generator: seed it around the call).
        num_classes: outputs.
        init: SC-Fac initialisation (see :class:`icml22dl.nn.ParaunitaryConv2d`).
        generator: torch generator of the orthogonal layers' initial factors.

    Example:
        >>> net = small_ortho_net(generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(2, 1, 14, 14)
        >>> d_out, d_in = (net(x[:1]) - net(x[1:])).norm(), (x[0] - x[1]).norm()
        >>> net(x).shape, bool(d_out <= d_in * (1 + 1e-5))  # 1-Lipschitz
        (torch.Size([2, 10]), True)

    References:
        Our small design after Su, Byeon & Huang, ICML 2022, Sec. 6 (SC-Fac convolutions,
        GroupSort, orthogonal linear head); docs/papers/paraunitary.md#deviations-from-the-paper.
    """
    check_choice("conv", conv, CONVS)
    check_int("num_classes", num_classes, low=2)
    return nn.Sequential(
        _conv(conv, 1, 16, 3, 1, generator, init),
        GroupSort(),
        _conv(conv, 16, 64, 2, 2, generator, init),
        GroupSort(),
        _conv(conv, 64, 64, 3, 1, generator, init),
        GroupSort(),
        LipschitzAvgPool2d(7),
        nn.Flatten(),
        _linear(conv, 64, 64, generator),
        GroupSort(),
        _linear(conv, 64, num_classes, generator),
    )


def kw_large(
    conv: str = "scfac", num_classes: int = 10, init: str = "permutation", generator: torch.Generator | None = None
) -> nn.Sequential:
    """KW-Large on 32 x 32 x 3 inputs, 1-Lipschitz with ``conv="scfac"``.

    conv(3->32,k3) conv(32->32,k2,s2) conv(32->64,k3) conv(64->64,k2,s2) linear(4096->512)
    linear(512->512) linear(512->10), GroupSort after each but the last.

    Args:
        conv, num_classes, init, generator: as in :func:`small_ortho_net`.

    Example:
        >>> net = kw_large(conv="plain")  # the orthogonal 4096 x 4096 head is slow on a CPU
        >>> net(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])

    References:
        Su, Byeon & Huang, ICML 2022, Sec. 6 and Table 3; official ``ortho_conv/train.py``
        (KWLarge, factor 1, kernel 3, GroupSort).
    """
    check_choice("conv", conv, CONVS)
    check_int("num_classes", num_classes, low=2)
    return nn.Sequential(
        _conv(conv, 3, 32, 3, 1, generator, init),
        GroupSort(),
        _conv(conv, 32, 32, 2, 2, generator, init),
        GroupSort(),
        _conv(conv, 32, 64, 3, 1, generator, init),
        GroupSort(),
        _conv(conv, 64, 64, 2, 2, generator, init),
        GroupSort(),
        nn.Flatten(),
        _linear(conv, 4096, 512, generator),
        GroupSort(),
        _linear(conv, 512, 512, generator),
        GroupSort(),
        _linear(conv, 512, num_classes, generator),
    )
