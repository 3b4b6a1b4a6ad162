"""The compute device a config asks for."""

from __future__ import annotations

import torch

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> torch.device:
    """``"cpu"`` / ``"cuda"`` as given; ``"auto"``: CUDA when available, else the CPU.

    Raises:
        ValueError: naming ``name`` when it is not one of :data:`DEVICES`.
    """
    if name not in DEVICES:
        raise ValueError(f"device={name!r} is not one of {DEVICES}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
