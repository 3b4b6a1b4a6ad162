"""Data sets: verified local files, loaders, label noise and a registry."""

from icml22dl.data.checksums import SHA256, ChecksumError, sha256_file, verified_path, verify
from icml22dl.data.cifar10 import CIFAR10_CLASSES, load_cifar10, read_cifar10_jpeg, read_cifar10_python
from icml22dl.data.digits import load_digits
from icml22dl.data.download import URLS, download, fetch
from icml22dl.data.mnist import load_mnist, read_idx
from icml22dl.data.mnist1d import load_mnist1d
from icml22dl.data.noise import CIFAR10_ASYMMETRIC, MNIST_ASYMMETRIC, asymmetric_noise, symmetric_noise
from icml22dl.data.planetoid import PlanetoidData, load_planetoid
from icml22dl.data.registry import DATASETS, get_dataset, list_datasets
from icml22dl.data.root import data_root
from icml22dl.data.safe_pickle import safe_load
from icml22dl.data.synthetic import MarginPatches, margin_patches, random_unit_vector

__all__ = [
    "CIFAR10_ASYMMETRIC",
    "CIFAR10_CLASSES",
    "DATASETS",
    "MNIST_ASYMMETRIC",
    "MarginPatches",
    "SHA256",
    "URLS",
    "ChecksumError",
    "PlanetoidData",
    "asymmetric_noise",
    "data_root",
    "download",
    "fetch",
    "get_dataset",
    "list_datasets",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "load_mnist1d",
    "load_planetoid",
    "margin_patches",
    "random_unit_vector",
    "read_cifar10_jpeg",
    "read_cifar10_python",
    "read_idx",
    "safe_load",
    "sha256_file",
    "symmetric_noise",
    "verified_path",
    "verify",
]
