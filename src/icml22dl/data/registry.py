"""A name -> loader registry of the data sets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.digits import load_digits
from icml22dl.data.mnist import load_mnist
from icml22dl.data.mnist1d import load_mnist1d
from icml22dl.data.planetoid import load_planetoid

#: Data set name -> loader (call it with the loader's own keyword arguments).
DATASETS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "mnist": load_mnist,
        "cifar10": load_cifar10,
        "cora": partial(load_planetoid, "cora"),
        "citeseer": partial(load_planetoid, "citeseer"),
        "pubmed": partial(load_planetoid, "pubmed"),
        "digits": load_digits,
        "mnist1d": load_mnist1d,
    }
)


def list_datasets() -> list[str]:
    """List the registered data set names.

    Returns:
        The names, sorted.
    """
    return sorted(DATASETS)


def get_dataset(name: str) -> Callable[..., Any]:
    """Look up the loader of a data set.

    Args:
        name: A registered name (see :func:`list_datasets`).

    Returns:
        The loader callable.

    Raises:
        ValueError: If ``name`` is unknown; the message lists the known names.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(list_datasets())}") from None
