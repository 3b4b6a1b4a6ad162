"""Random generators on the compute device, seeded from a CPU stream.

The solvers of this package draw their noise (Langevin steps, minibatches, restarts) with a
``generator`` argument, on the device of the tensors they work on. CUDA tensors need a
CUDA generator, while a run's streams are CPU generators derived from its seed
(``icml22dl.runner.derive_generator``); :func:`device_generator` bridges the two, so the
same seed gives the same draws on a given device whatever ran before.
"""

from __future__ import annotations

import torch

__all__ = ["device_generator"]


def device_generator(source: torch.Generator, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator on ``device``, seeded with one 62-bit integer drawn from the CPU ``source``.

    Math: ``seed = randint(0, 2**62)`` from ``source``; the result is
    ``torch.Generator(device).manual_seed(seed)``. ``source`` advances by one draw.

    Args:
        source: a CPU generator (e.g. one stream of the run seed).
        device: where the new generator draws (``"cpu"``, ``"cuda"``, a ``torch.device``).

    Returns:
        The seeded generator on ``device``.

    Example:
        >>> a = device_generator(torch.Generator().manual_seed(5))
        >>> b = device_generator(torch.Generator().manual_seed(5))
        >>> torch.equal(torch.randn(3, generator=a), torch.randn(3, generator=b))
        True

    References:
        PyTorch reproducibility notes: one generator per device, seeded explicitly
        (``torch.Generator(device=...)``); the SGILO experiment (docs/papers/sgilo.md) draws
        every chain, minibatch and measurement noise from such generators.
    """
    if not isinstance(source, torch.Generator) or source.device.type != "cpu":
        raise ValueError(f"source={source!r} must be a CPU torch.Generator")
    value = int(torch.randint(0, 2**62, (1,), generator=source))
    return torch.Generator(device=device).manual_seed(value)
