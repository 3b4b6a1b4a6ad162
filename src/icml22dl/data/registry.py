"""A name -> loader registry of the data sets."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from icml22dl.data.cifar10 import load_cifar10
from icml22dl.data.digits import load_digits
from icml22dl.data.mnist import load_mnist
from icml22dl.data.mnist1d import load_mnist1d
from icml22dl.data.planetoid import load_planetoid
from icml22dl.registry import Registry

#: Data set name -> loader (call it with the loader's own keyword arguments).
DATASETS: Registry[Callable[..., Any]] = Registry("data set")
DATASETS.register("mnist", load_mnist)
DATASETS.register("cifar10", load_cifar10)
DATASETS.register("cora", partial(load_planetoid, "cora"))
DATASETS.register("citeseer", partial(load_planetoid, "citeseer"))
DATASETS.register("pubmed", partial(load_planetoid, "pubmed"))
DATASETS.register("digits", load_digits)
DATASETS.register("mnist1d", load_mnist1d)

list_datasets = DATASETS.list
get_dataset = DATASETS.get
