"""Tests of icml22dl.data.planetoid on the offline Cora and CiteSeer files."""

import shutil

import pytest
import torch

from icml22dl.data.checksums import PLANETOID_EXTENSIONS
from icml22dl.data.download import URLS
from icml22dl.data.planetoid import PlanetoidData, load_planetoid
from icml22dl.data.root import data_root
from icml22dl.data.safe_pickle import safe_load

# name: (nodes, features, classes, directed edges, train, val, test)
STANDARD = {
    "cora": (2708, 1433, 7, 10556, 140, 500, 1000),
    "citeseer": (3327, 3703, 6, 9104, 120, 500, 1000),
}


@pytest.fixture(
    scope="module", params=[pytest.param(name, marks=pytest.mark.requires_data(name)) for name in sorted(STANDARD)]
)
def graph(request) -> PlanetoidData:
    return load_planetoid(request.param)


def test_sizes_match_the_standard_preprocessing(graph):
    nodes, features, classes, edges, train, val, test = STANDARD[graph.name]
    assert graph.x.shape == (nodes, features) and graph.x.dtype == torch.float32
    assert graph.y.shape == (nodes,) and graph.y.dtype == torch.int64
    assert graph.num_nodes == nodes and graph.num_features == features and graph.num_classes == classes
    assert graph.edge_index.shape == (2, edges) and graph.edge_index.dtype == torch.int64
    masks = (graph.train_mask, graph.val_mask, graph.test_mask)
    assert [int(m.sum()) for m in masks] == [train, val, test]
    assert all(m.dtype == torch.bool and m.shape == (nodes,) for m in masks)


def test_public_split(graph):
    train_idx = graph.train_mask.nonzero().squeeze(1)
    val_idx = graph.val_mask.nonzero().squeeze(1)
    assert torch.equal(train_idx, torch.arange(len(train_idx)))
    assert torch.equal(val_idx, torch.arange(len(train_idx), len(train_idx) + 500))
    assert torch.bincount(graph.y[graph.train_mask]).tolist() == [20] * graph.num_classes
    assert not (graph.train_mask & graph.test_mask).any() and not (graph.val_mask & graph.test_mask).any()


def test_edges_are_undirected_simple_and_sorted(graph):
    src, dst = graph.edge_index
    n = graph.num_nodes
    keys = src * n + dst
    assert not (src == dst).any()
    assert torch.equal(keys, torch.unique(keys))  # sorted, no duplicates
    assert torch.equal(torch.sort(dst * n + src).values, keys)  # every edge has its reverse
    assert int(graph.edge_index.min()) >= 0 and int(graph.edge_index.max()) < n


def test_test_rows_go_to_the_listed_test_nodes(graph):
    folder = data_root() / "planetoid"
    tx = torch.from_numpy(safe_load((folder / f"ind.{graph.name}.tx").read_bytes()).toarray())
    ty = torch.from_numpy(safe_load((folder / f"ind.{graph.name}.ty").read_bytes())).argmax(dim=1)
    test_index = torch.tensor([int(t) for t in (folder / f"ind.{graph.name}.test.index").read_text().split()])
    assert torch.equal(graph.x[test_index], tx)
    assert torch.equal(graph.y[test_index], ty)
    assert torch.equal(graph.test_mask.nonzero().squeeze(1), torch.sort(test_index).values)


def test_edge_homophily_matches_the_literature(graph):
    # Edge homophily: 0.81 (Cora) and 0.74 (CiteSeer); a mis-ordered label vector drops it.
    src, dst = graph.edge_index
    homophily = (graph.y[src] == graph.y[dst]).double().mean().item()
    assert homophily == pytest.approx({"cora": 0.810, "citeseer": 0.736}[graph.name], abs=1e-3)


def test_features_are_binary_bag_of_words(graph):
    assert set(torch.unique(graph.x).tolist()) == {0.0, 1.0}


@pytest.mark.requires_data("cora")
def test_cora_test_label_histogram():
    graph = load_planetoid("Cora")
    assert torch.bincount(graph.y[graph.test_mask]).tolist() == [130, 91, 144, 319, 149, 103, 64]


@pytest.mark.requires_data("citeseer")
def test_citeseer_padded_nodes_have_no_features_and_no_mask():
    graph = load_planetoid("citeseer")
    padded = graph.x.sum(dim=1) == 0
    assert int(padded.sum()) == 15
    assert not (padded & (graph.train_mask | graph.val_mask | graph.test_mask)).any()
    assert (graph.y[padded] == 0).all()


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="'reddit'"):
        load_planetoid("reddit")


def test_pubmed_is_not_offline():
    with pytest.raises(FileNotFoundError, match="ind.pubmed"):
        load_planetoid("pubmed")


def _serve_cora_as(monkeypatch, name: str) -> None:
    """Point the download URLs of ``name`` at the local Cora files (file:// URLs)."""
    for ext in PLANETOID_EXTENSIONS:
        local = data_root() / "planetoid" / f"ind.cora.{ext}"
        monkeypatch.setitem(URLS, f"planetoid/ind.{name}.{ext}", local.as_uri())


@pytest.mark.requires_data("cora")
def test_download_path(monkeypatch, tmp_path):
    _serve_cora_as(monkeypatch, "cora")
    graph = load_planetoid("cora", data_dir=tmp_path, download=True)
    assert graph.num_nodes == 2708 and graph.edge_index.shape == (2, 10556)
    assert sorted(p.name for p in (tmp_path / "planetoid").iterdir()) == sorted(
        f"ind.cora.{ext}" for ext in PLANETOID_EXTENSIONS
    )


@pytest.mark.requires_data("cora")
def test_pubmed_download_is_checked(monkeypatch, tmp_path):
    # Seven PubMed files have upstream checksums: Cora's bytes in their place fail them.
    _serve_cora_as(monkeypatch, "pubmed")
    with pytest.raises(ValueError, match="checksum mismatch .*ind.pubmed"):
        load_planetoid("pubmed", data_dir=tmp_path, download=True)


@pytest.mark.requires_data("cora", "citeseer")
def test_our_planetoid_equals_pyg_planetoid(tmp_path):
    pytest.importorskip("torch_geometric")
    from torch_geometric.datasets import Planetoid

    for name, pyg_name in (("cora", "Cora"), ("citeseer", "CiteSeer")):
        raw = tmp_path / pyg_name / "raw"
        raw.mkdir(parents=True)
        for ext in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"):
            shutil.copy(data_root() / "planetoid" / f"ind.{name}.{ext}", raw / f"ind.{name}.{ext}")
        ref = Planetoid(str(tmp_path), pyg_name)[0]
        ours = load_planetoid(name)
        assert torch.equal(ours.x, ref.x)
        n = ours.num_nodes
        keys = lambda ei: torch.sort(ei[0] * n + ei[1]).values  # noqa: E731  (PyG orders by target)
        assert torch.equal(keys(ours.edge_index), keys(ref.edge_index))
        for mask in ("train_mask", "val_mask", "test_mask"):
            assert torch.equal(getattr(ours, mask), getattr(ref, mask))
        labelled = ours.train_mask | ours.val_mask | ours.test_mask
        assert torch.equal(ours.y[labelled], ref.y[labelled])
