"""The compute device a config asks for."""

from __future__ import annotations

import torch

from icml22dl.validation import check_choice

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> torch.device:
    """``"cpu"`` / ``"cuda"`` as given; ``"auto"``: CUDA when available, else the CPU.

    Raises:
        ValueError: naming ``name`` when it is not one of :data:`DEVICES`.

    References:
        :class:`torch.device` and :func:`torch.cuda.is_available` (PyTorch CUDA semantics).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("auto").type in ("cpu", "cuda")
        True
        >>> resolve_device("tpu")
        Traceback (most recent call last):
        ValueError: device='tpu' is not allowed: choose one of ['cpu', 'cuda', 'auto']
    """
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
