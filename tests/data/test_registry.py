"""Tests of icml22dl.data.registry and the package exports."""

import pytest

import icml22dl.data
from icml22dl.data.mnist import load_mnist
from icml22dl.data.planetoid import PlanetoidData
from icml22dl.data.registry import DATASETS, get_dataset, list_datasets


def test_names():
    assert list_datasets() == sorted(["mnist", "cifar10", "cora", "citeseer", "pubmed", "digits", "mnist1d"])
    assert all(callable(loader) for loader in DATASETS.values())


@pytest.mark.requires_data("cora")
def test_lookup_returns_working_loaders():
    assert get_dataset("mnist") is load_mnist
    cora = get_dataset("cora")()
    assert isinstance(cora, PlanetoidData) and cora.name == "cora"
    images, _ = get_dataset("digits")()
    assert images.shape == (1797, 8, 8)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="'imagenet'.*cifar10.*mnist1d"):
        get_dataset("imagenet")


def test_package_exports_resolve():
    for name in icml22dl.data.__all__:
        assert getattr(icml22dl.data, name) is not None
