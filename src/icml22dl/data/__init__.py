"""Data sets: verified local files, loaders, label noise and a registry."""

from icml22dl.data.augment import WeakStrongAugment, cutout, pad_crop_flip, random_crop_flip
from icml22dl.data.catalog import CATALOG, DataFile, DataSet, needed
from icml22dl.data.checksums import SHA256, ChecksumError, sha256_file, verified_path, verify
from icml22dl.data.cifar10 import CIFAR10_CLASSES, load_cifar10, read_cifar10_jpeg, read_cifar10_python
from icml22dl.data.digits import load_digits
from icml22dl.data.download import URLS, download, fetch, fetch_file, fetch_sets
from icml22dl.data.implicit_bias import wilson_data, wilson_labels
from icml22dl.data.indexed import IndexedDataset, TwoViewDataset
from icml22dl.data.linear_targets import random_orthogonal, spectral_target
from icml22dl.data.mnist import MNIST_MEAN, MNIST_STD, load_mnist, mnist_as_rgb32, mnist_split, read_idx
from icml22dl.data.mnist1d import load_mnist1d
from icml22dl.data.mnist14 import lipschitz_downsample, mnist14_split
from icml22dl.data.noise import CIFAR10_ASYMMETRIC, MNIST_ASYMMETRIC, asymmetric_noise, symmetric_noise
from icml22dl.data.planetoid import PlanetoidData, load_planetoid
from icml22dl.data.registry import DATASETS, get_dataset, list_datasets
from icml22dl.data.root import data_root
from icml22dl.data.safe_pickle import safe_load
from icml22dl.data.sampling import StreamSampler
from icml22dl.data.sparse_regression import SparseRegression, sparse_regression_data
from icml22dl.data.splits import DIGITS_SPLIT_SEED, DIGITS_TRAIN_SIZE, digits_split
from icml22dl.data.standardize import INTERPOLATION_SPLIT_SEED, FeatureStandardize, standardized_digits
from icml22dl.data.subsets import random_subset, stratified_split
from icml22dl.data.synthetic import MarginPatches, margin_patches, random_unit_vector
from icml22dl.data.temporal_graphs import (
    DynamicGraphSignal,
    dyncsl_like,
    forecast_windows,
    load_england_covid,
    node_split,
    persistent_graph_signal,
)
from icml22dl.data.transforms import CIFAR10_MEAN, CIFAR10_STD, ChannelStandardize

__all__ = [
    "FeatureStandardize",
    "INTERPOLATION_SPLIT_SEED",
    "standardized_digits",
    "asymmetric_noise",
    "CATALOG",
    "ChannelStandardize",
    "ChecksumError",
    "CIFAR10_ASYMMETRIC",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "cutout",
    "data_root",
    "DataFile",
    "DataSet",
    "DATASETS",
    "download",
    "DynamicGraphSignal",
    "dyncsl_like",
    "fetch",
    "fetch_file",
    "fetch_sets",
    "forecast_windows",
    "get_dataset",
    "IndexedDataset",
    "list_datasets",
    "load_cifar10",
    "load_digits",
    "load_england_covid",
    "persistent_graph_signal",
    "load_mnist",
    "load_mnist1d",
    "load_planetoid",
    "lipschitz_downsample",
    "margin_patches",
    "MarginPatches",
    "mnist_as_rgb32",
    "MNIST_ASYMMETRIC",
    "MNIST_MEAN",
    "mnist14_split",
    "mnist_split",
    "needed",
    "node_split",
    "MNIST_STD",
    "pad_crop_flip",
    "PlanetoidData",
    "random_crop_flip",
    "random_orthogonal",
    "random_subset",
    "random_unit_vector",
    "read_cifar10_jpeg",
    "read_cifar10_python",
    "read_idx",
    "StreamSampler",
    "digits_split",
    "DIGITS_SPLIT_SEED",
    "DIGITS_TRAIN_SIZE",
    "safe_load",
    "SHA256",
    "sha256_file",
    "sparse_regression_data",
    "SparseRegression",
    "spectral_target",
    "stratified_split",
    "symmetric_noise",
    "TwoViewDataset",
    "URLS",
    "verified_path",
    "verify",
    "WeakStrongAugment",
    "wilson_data",
    "wilson_labels",
]
