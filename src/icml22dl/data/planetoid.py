"""The Planetoid citation graphs (Cora, CiteSeer, PubMed) with their public split.

Reproduces the standard preprocessing of the raw ``ind.<name>.*`` files (Yang et al.,
2016; Kipf & Welling, 2017; PyTorch Geometric's ``Planetoid``):

* features and one-hot labels are ``allx``/``ally`` (the first ``len(y)`` rows are the
  training nodes) followed by ``tx``/``ty`` (test nodes), whose rows are permuted so that
  node ``test.index[i]`` receives test row ``i`` (the test indices, sorted, are the
  consecutive ids after ``allx``);
* CiteSeer has 15 isolated nodes in that id range that have no test row: they get
  all-zero features and no label. Following the common convention ``y = argmax`` of the
  one-hot rows, they carry label 0, and they belong to no mask;
* edges come from the ``graph`` adjacency lists, made undirected (both directions),
  without self loops (CiteSeer's lists hold 124) or duplicates (both data sets' lists
  repeat some neighbours), sorted by (source, target);
* public split: ``train`` = the first ``len(y)`` nodes (20 per class), ``val`` = the next
  500, ``test`` = the 1000 test indices.

Sizes obtained (and checked by the tests): Cora 2708 nodes, 1433 features, 7 classes,
10556 directed edges (5278 undirected); CiteSeer 3327 nodes, 3703 features, 6 classes,
9104 directed edges (4552 undirected). These equal PyTorch Geometric's. PubMed (19717
nodes, 500 features, 3 classes) is not in the offline data pack: it is only available
with ``download=True`` (or ``icml22dl data fetch pubmed``); its files are checked against
the upstream checksums, except ``allx``, whose checksum is unknown (used unverified).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from icml22dl.data.checksums import PLANETOID_EXTENSIONS, verified_path
from icml22dl.data.download import fetch
from icml22dl.data.safe_pickle import safe_load
from icml22dl.validation import check_choice

PLANETOID_NAMES: tuple[str, ...] = ("cora", "citeseer", "pubmed")

#: name -> (nodes, features, classes) of the standard preprocessing.
STANDARD_SIZES: dict[str, tuple[int, int, int]] = {
    "cora": (2708, 1433, 7),
    "citeseer": (3327, 3703, 6),
    "pubmed": (19717, 500, 3),
}

_NUM_VAL = 500


@dataclass(frozen=True)
class PlanetoidData:
    """A Planetoid graph with the public split.

    Attributes:
        name: ``"cora"``, ``"citeseer"`` or ``"pubmed"``.
        x: Dense float32 node features, shape (N, F).
        y: int64 labels, shape (N,).
        edge_index: int64 (2, E), undirected (both directions), no self loops or duplicates.
        train_mask: bool (N,), the labelled training nodes (20 per class).
        val_mask: bool (N,), the 500 validation nodes.
        test_mask: bool (N,), the 1000 test nodes.
        num_classes: Number of classes (width of the one-hot label files).

    Example:
        >>> graph = PlanetoidData("toy", torch.eye(3), torch.tensor([0, 1, 0]), torch.tensor([[0, 1], [1, 0]]),
        ...                       *(torch.ones(3, dtype=torch.bool),) * 3, num_classes=2)
        >>> graph.num_nodes, graph.num_features
        (3, 3)

    References:
        Yang et al. (2016), Planetoid; PyTorch Geometric's ``Planetoid`` ``Data`` object
        (``x``, ``y``, ``edge_index`` and the three masks).
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    edge_index: torch.Tensor
    train_mask: torch.Tensor
    val_mask: torch.Tensor
    test_mask: torch.Tensor
    num_classes: int

    @property
    def num_nodes(self) -> int:
        """Number of nodes N."""
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        """Number of node features F."""
        return self.x.shape[1]


def _dense(obj: Any, path: Path) -> np.ndarray:
    """Return a 2-D array from a scipy sparse matrix or ndarray read from ``path``."""
    if scipy.sparse.issparse(obj):
        obj = obj.toarray()
    if not isinstance(obj, np.ndarray) or obj.ndim != 2:
        raise ValueError(f"{path} does not hold a 2-D matrix (got {type(obj).__name__})")
    return obj


def _read_test_index(path: Path) -> np.ndarray:
    """Read the one-integer-per-line test index file."""
    try:
        return np.array([int(token) for token in path.read_text().split()], dtype=np.int64)
    except ValueError as err:
        raise ValueError(f"{path} is not a list of integers: {err}") from None


def _edge_index(graph: Any, num_nodes: int, path: Path) -> torch.Tensor:
    """Build a sorted, undirected, duplicate- and self-loop-free edge index from adjacency lists."""
    if not isinstance(graph, dict):
        raise ValueError(f"{path} does not hold an adjacency dict (got {type(graph).__name__})")
    rows = np.concatenate([np.full(len(nbrs), node, dtype=np.int64) for node, nbrs in graph.items()])
    cols = np.concatenate([np.asarray(nbrs, dtype=np.int64).reshape(-1) for nbrs in graph.values()])
    if rows.size and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= num_nodes):
        raise ValueError(f"{path} names nodes outside 0..{num_nodes - 1}")
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    keys = np.unique(np.concatenate([rows * num_nodes + cols, cols * num_nodes + rows]))
    return torch.from_numpy(np.stack([keys // num_nodes, keys % num_nodes]))


def _mask(indices: np.ndarray, num_nodes: int) -> torch.Tensor:
    """Return a boolean mask of length ``num_nodes`` that is True at ``indices``."""
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[torch.from_numpy(indices)] = True
    return mask


def load_planetoid(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> PlanetoidData:
    """Load Cora, CiteSeer or PubMed with the public Planetoid split.

    See the module docstring for the preprocessing and the sizes obtained. The raw files
    are read with the restricted unpickler (:func:`~icml22dl.data.safe_pickle.safe_load`)
    and verified against their checksums (PubMed: unknown, used unverified).

    Args:
        name: ``"cora"``, ``"citeseer"`` or ``"pubmed"`` (case-insensitive).
        data_dir: An explicit data folder (holding ``planetoid/``), or None for the default.
        download: Download missing files from the Planetoid GitHub repository.

    Returns:
        The graph as a :class:`PlanetoidData`.

    Raises:
        ValueError: If ``name`` is unknown or the files are inconsistent.
        FileNotFoundError: If a file is missing and ``download`` is False.

    Example:
        >>> load_planetoid("reddit")
        Traceback (most recent call last):
        ValueError: name='reddit' is not allowed: choose one of ['cora', 'citeseer', 'pubmed']

    References:
        Yang et al. (2016), the public split; Kipf & Welling (2017), Sec. 5.1; PyTorch
        Geometric's ``Planetoid`` (the tests compare the two element by element).
    """
    key = name.lower() if isinstance(name, str) else name
    check_choice("name", key, PLANETOID_NAMES)
    locate = fetch if download else verified_path
    paths = {ext: locate(f"planetoid/ind.{key}.{ext}", data_dir) for ext in PLANETOID_EXTENSIONS}
    raw = {ext: safe_load(paths[ext].read_bytes()) for ext in ("y", "tx", "ty", "allx", "ally", "graph")}
    test_index = _read_test_index(paths["test.index"])

    allx, tx = _dense(raw["allx"], paths["allx"]), _dense(raw["tx"], paths["tx"])
    ally, ty = _dense(raw["ally"], paths["ally"]), _dense(raw["ty"], paths["ty"])
    num_train = len(raw["y"])
    if len(test_index) != len(tx) or len(tx) != len(ty) or len(allx) != len(ally):
        raise ValueError(f"inconsistent row counts in the {key} files under {paths['x'].parent}")

    sorted_test = np.sort(test_index)
    first = sorted_test[0]
    if first != len(allx):
        raise ValueError(f"{paths['test.index']}: test ids start at {first}, expected {len(allx)}")
    span = sorted_test[-1] - first + 1
    # Nodes in the test id range without a test row (CiteSeer) keep zero features/labels.
    tx_full = np.zeros((span, tx.shape[1]), dtype=np.float32)
    ty_full = np.zeros((span, ty.shape[1]), dtype=ty.dtype)
    tx_full[sorted_test - first] = tx
    ty_full[sorted_test - first] = ty

    features = np.concatenate([allx, tx_full]).astype(np.float32)
    onehot = np.concatenate([ally, ty_full])
    features[test_index] = features[sorted_test]
    onehot[test_index] = onehot[sorted_test]

    num_nodes, num_features = features.shape
    num_classes = onehot.shape[1]
    if (num_nodes, num_features, num_classes) != STANDARD_SIZES[key]:
        raise ValueError(
            f"{key}: got {num_nodes} nodes, {num_features} features, {num_classes} classes; "
            f"expected {STANDARD_SIZES[key]}"
        )
    return PlanetoidData(
        name=key,
        x=torch.from_numpy(features),
        y=torch.from_numpy(onehot.argmax(axis=1).astype(np.int64)),
        edge_index=_edge_index(raw["graph"], num_nodes, paths["graph"]),
        train_mask=_mask(np.arange(num_train), num_nodes),
        val_mask=_mask(np.arange(num_train, num_train + _NUM_VAL), num_nodes),
        test_mask=_mask(sorted_test, num_nodes),
        num_classes=num_classes,
    )
