"""Seeding and seed-list parsing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

MAX_SEED = 2**31 - 1


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch from one integer and return a fresh torch generator.

    Experiments draw data, noise and initialisation from generators derived from the run
    seed (see :func:`derive_generator`), never from global state; seeding the globals too
    guards third-party code that does use them.

    Args:
        seed: integer in ``[0, 2**31 - 1]``.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``.

    References:
        :func:`random.seed`, :func:`numpy.random.seed` and :func:`torch.manual_seed`
        (PyTorch reproducibility notes).

    Example:
        >>> import torch
        >>> generator = seed_everything(3)
        >>> a = torch.rand(2, generator=generator)
        >>> torch.equal(a, torch.rand(2, generator=seed_everything(3)))
        True
    """
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator inside the block only; the previous global state is restored after.

    For code that draws from the global generator and takes no ``generator`` argument
    (``nn.Module`` constructors' default initialisation, dropout): the block is
    reproducible from ``seed`` and leaks no state to the code around it.

    Example:
        >>> import torch
        >>> with torch_seeded(3):
        ...     a = torch.nn.Linear(2, 2).weight.clone()
        >>> with torch_seeded(3):
        ...     b = torch.nn.Linear(2, 2).weight.clone()
        >>> torch.equal(a, b)
        True

    References:
        :func:`torch.random.fork_rng` (PyTorch reproducibility notes).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed!r} is out of range: must be an integer in [0, 2**64 - 1]")
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def derive_seed(seed: int, stream: int) -> int:
    """A 63-bit integer seed for one named stream of a run seed (see :func:`derive_generator`).

    For APIs that take an integer seed rather than a generator (``torch_seeded``, numpy,
    scikit-learn): the value is the stream's 64-bit mixed seed shifted right by one bit.

    References:
        :class:`numpy.random.SeedSequence` (O'Neill's seed-mixing algorithm).

    Example:
        >>> derive_seed(0, 0) == derive_seed(0, 0) != derive_seed(0, 1)
        True
        >>> 0 <= derive_seed(5, 3) < 2**63
        True
    """
    check_seed(seed)
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def derive_generator(seed: int, stream: int) -> torch.Generator:
    """A CPU generator for one named stream (data, init, noise...) of a run seed.

    Streams of one seed are independent of each other and of other seeds: the generator
    is seeded with a 64-bit value mixed from ``(seed, stream)`` by numpy's SeedSequence.

    References:
        :class:`numpy.random.SeedSequence` mixes ``(seed, stream)`` into the seed of a
        ``torch.Generator``.

    Example:
        >>> import torch
        >>> data = torch.rand(3, generator=derive_generator(0, 1))
        >>> torch.equal(data, torch.rand(3, generator=derive_generator(0, 1)))
        True
        >>> torch.equal(data, torch.rand(3, generator=derive_generator(0, 2)))
        False
    """
    check_seed(seed)
    mixed = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(mixed))


def check_seed(seed: int) -> None:
    """Raise ``ValueError`` naming ``seed`` unless it is an int in ``[0, 2**31 - 1]``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed={seed!r} is out of range: must be an integer in [0, {MAX_SEED}]")


def parse_seeds(text: str) -> list[int]:
    """Parse a seed list: ``"0-2"`` -> [0, 1, 2], ``"0,3,5-6"`` -> [0, 3, 5, 6].

    Raises:
        ValueError: naming the bad part, for empty parts, reversed ranges, negative or
            too large seeds, or repeated seeds.

    References:
        The ``--seeds`` syntax of ``icml22dl run`` (ranges inclusive, as in ``cut -f``).

    Example:
        >>> parse_seeds("0,3,5-6")
        [0, 3, 5, 6]
        >>> parse_seeds("2-0")
        Traceback (most recent call last):
        ValueError: seeds='2-0': range '2-0' is reversed
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise ValueError(f"seeds={text!r}: cannot parse {part!r} (use e.g. 0-2 or 0,3,5-6)") from None
        if last < first:
            raise ValueError(f"seeds={text!r}: range {part!r} is reversed")
        for seed in (first, last):
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f"seeds={text!r}: seed {seed} is out of range [0, {MAX_SEED}]")
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={text!r}: a seed is repeated")
    return seeds
