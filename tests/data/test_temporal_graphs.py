"""The DynCSL-like generator, England-COVID and the snapshot container."""

import gzip
import shutil
from collections import Counter

import pytest
import torch

from icml22dl.data.checksums import ChecksumError
from icml22dl.data.root import data_root
from icml22dl.data.temporal_graphs import (
    DYNCSL_PATTERNS,
    DynamicGraphSignal,
    dyncsl_like,
    forecast_windows,
    load_england_covid,
    node_split,
    persistent_graph_signal,
)


def _wl_colours(n, edges, rounds=5):
    """1-WL colour refinement on one graph with equal initial colours (brute force)."""
    nbrs = {i: [] for i in range(n)}
    for i, j in edges.t().tolist():
        nbrs[j].append(i)
    colours = [0] * n
    for _ in range(rounds):
        sigs = [(colours[i], tuple(sorted(colours[j] for j in nbrs[i]))) for i in range(n)]
        table = {s: k for k, s in enumerate(sorted(set(sigs)))}
        colours = [table[s] for s in sigs]
    return set(colours)


def test_dyncsl_like_snapshots_are_4_regular_one_wl_colour_and_classes_balanced():
    samples = dyncsl_like(24, generator=torch.Generator().manual_seed(0))
    assert Counter(int(s.label) for s in samples) == {c: 4 for c in range(6)}
    assert [int(s.label) for s in samples[:7]] == [0, 1, 2, 3, 4, 5, 0]
    for s in samples:
        assert s.features.shape == (8, 19, 1) and (s.features == 1).all()
        for ei in s.edge_indices:
            assert torch.bincount(ei[0], minlength=19).tolist() == [4] * 19
            assert torch.bincount(ei[1], minlength=19).tolist() == [4] * 19
            assert len({tuple(e) for e in ei.t().tolist()}) == ei.shape[1]  # simple
            assert _wl_colours(19, ei) == {0}


def test_dyncsl_like_steps_share_edges_exactly_as_the_pattern_says():
    for s in dyncsl_like(12, generator=torch.Generator().manual_seed(1)):
        pattern = DYNCSL_PATTERNS[int(s.label)]
        sets = [frozenset(map(tuple, ei.t().tolist())) for ei in s.edge_indices]
        for a in range(8):
            for b in range(8):
                assert (sets[a] == sets[b]) == (pattern[a] == pattern[b])


def test_dyncsl_like_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n=18"):
        dyncsl_like(2, n=18)
    with pytest.raises(ValueError, match="n=13"):
        dyncsl_like(2, n=13)  # only 5 skip jumps; 'all distinct' needs 8
    with pytest.raises(ValueError, match="patterns"):
        dyncsl_like(2, patterns=7)


@pytest.mark.requires_data("england-covid")
def test_england_covid_shape_and_ranges():
    covid = load_england_covid()
    assert covid.num_steps == 61 and covid.num_nodes == 129
    counts = [e.shape[1] for e in covid.edge_indices]
    assert min(counts) == 836 and max(counts) == 2158
    assert covid.targets.shape == (61, 129) and covid.targets.min() == 0 and covid.targets.max() == 182
    assert covid.targets.mean().item() == pytest.approx(15.19, abs=0.01)
    assert all(len(w) == c for w, c in zip(covid.edge_weights, counts))


@pytest.mark.requires_data("england-covid")
def test_england_covid_checksum_is_verified(tmp_path):
    folder = tmp_path / "england-covid"
    folder.mkdir()
    with gzip.open(data_root() / "england-covid" / "england_covid.json.gz", "rb") as src:
        text = src.read()
    with gzip.open(folder / "england_covid.json.gz", "wb") as dst:
        dst.write(text.replace(b'"time_periods": 61', b'"time_periods": 60'))
    with pytest.raises(ChecksumError, match="england_covid"):
        load_england_covid(tmp_path)
    shutil.copy(data_root() / "england-covid" / "england_covid.json.gz", folder / "england_covid.json.gz")
    assert load_england_covid(tmp_path).num_steps == 61


def test_signal_window_collate_and_permute():
    g = torch.Generator().manual_seed(0)
    a = DynamicGraphSignal(
        [torch.tensor([[0, 1], [1, 2]])] * 3, None, torch.randn(3, 3, 2, generator=g), label=torch.tensor(1)
    )
    b = DynamicGraphSignal(
        [torch.tensor([[0], [1]])] * 3, None, torch.randn(3, 2, 2, generator=g), label=torch.tensor(0)
    )
    batch = DynamicGraphSignal.collate([a, b])
    assert batch.edge_indices[0].tolist() == [[0, 1, 3], [1, 2, 4]]
    assert batch.batch.tolist() == [0, 0, 0, 1, 1] and batch.label.tolist() == [1, 0]
    assert batch.window(1, 2).num_steps == 2
    with pytest.raises(ValueError, match="window"):
        batch.window(2, 2)
    perm = torch.tensor([2, 0, 1])
    moved = a.permute_nodes(perm)
    torch.testing.assert_close(moved.features, a.features[:, perm])
    # Edge 0 -> 1 becomes (new id of 0) -> (new id of 1) = 1 -> 2.
    assert moved.edge_indices[0].tolist() == [[1, 2], [2, 0]]


def test_collate_keeps_weights_and_targets_only_when_every_signal_has_them():
    ring = torch.tensor([[0, 1], [1, 0]])
    a = DynamicGraphSignal([ring] * 2, [torch.ones(2)] * 2, torch.zeros(2, 2, 1), targets=torch.zeros(2, 2))
    b = DynamicGraphSignal([ring] * 2, None, torch.ones(2, 2, 1), targets=torch.ones(2, 2))
    assert DynamicGraphSignal.collate([a, a]).edge_weights[0].tolist() == [1.0] * 4
    both = DynamicGraphSignal.collate([a, b])
    assert both.edge_weights is None and both.label is None
    assert both.targets.tolist() == [[0.0, 0.0, 1.0, 1.0]] * 2
    moved = both.to("cpu")
    assert torch.equal(moved.features, both.features) and moved.edge_weights is None


def test_node_split_is_a_partition_with_rounded_sizes():
    for n, parts in ((129, (7, 1, 2)), (10, (1, 1)), (7, (3, 3, 3))):
        masks = node_split(n, parts, torch.Generator().manual_seed(n))
        total = sum(parts)
        bounds = [round(sum(parts[: k + 1]) / total * n) for k in range(len(parts))]
        sizes = [hi - lo for lo, hi in zip([0] + bounds[:-1], bounds)]
        assert [int(m.sum()) for m in masks] == sizes
        assert torch.equal(torch.stack(masks).long().sum(0), torch.ones(n, dtype=torch.long))
    same = node_split(129, (7, 1, 2), torch.Generator().manual_seed(3))
    again = node_split(129, (7, 1, 2), torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(same, again))
    with pytest.raises(ValueError, match="parts"):
        node_split(5, (1, 0))


@pytest.mark.requires_data("england-covid")
def test_forecast_windows_pair_each_window_with_the_value_horizon_steps_later():
    covid = load_england_covid()
    windows = forecast_windows(covid, 7, 2)
    assert len(windows) == 61 - 7 - 2 + 1
    for start in (0, 17, len(windows) - 1):
        w = windows[start]
        assert w.num_steps == 7 and w.edge_indices[0] is covid.edge_indices[start]
        torch.testing.assert_close(w.features, covid.features[start : start + 7])
        torch.testing.assert_close(w.targets, covid.targets[start + 7 + 1][None])
    with pytest.raises(ValueError, match="targets"):
        forecast_windows(DynamicGraphSignal([torch.zeros(2, 0, dtype=torch.long)], None, torch.ones(1, 2, 1)), 1)


def test_persistent_graph_signal_is_one_symmetric_simple_graph_at_every_step():
    signal = persistent_graph_signal(300, degree=10, steps=6, generator=torch.Generator().manual_seed(0))
    edges = signal.edge_indices[0]
    assert all(e is edges for e in signal.edge_indices) and signal.edge_weights is None
    pairs = set(map(tuple, edges.t().tolist()))
    assert len(pairs) == edges.shape[1]  # no duplicate
    assert all((j, i) in pairs for i, j in pairs) and all(i != j for i, j in pairs)  # symmetric, no self-loop
    assert 8.0 <= edges.shape[1] / 300 <= 10.0  # 5 draws per node, symmetrised, few collisions
    assert signal.features.shape == (6, 300, 1) and torch.equal(signal.targets, signal.features[:, :, 0])
    again = persistent_graph_signal(300, degree=10, steps=6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.features, signal.features)  # one generator, one signal
    assert signal.features[1:].abs().max() < 1.0 + 6 * 0.1  # tanh plus noise of std 0.1
    # Neighbours move together: the diffusion correlates a node with its neighbours' mean.
    x = signal.features[-1, :, 0]
    mean = torch.zeros(300).index_add_(0, edges[1], x[edges[0]]) / torch.bincount(edges[1], minlength=300)
    assert torch.corrcoef(torch.stack([x, mean]))[0, 1] > 0.3


def test_persistent_graph_signal_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_nodes"):
        persistent_graph_signal(2)
    with pytest.raises(ValueError, match="degree"):
        persistent_graph_signal(10, degree=1)
