"""Diversity Index and clustering coefficient against brute force on hand-built and random graphs."""

import itertools

import pytest
import torch

from icml22dl.attacks import clustering_coefficient, diversity_index
from icml22dl.attacks.diversity import pairwise_distances


def _brute_clustering(adj):
    n = len(adj)
    total = 0.0
    for i in range(n):
        nbrs = [j for j in range(n) if j != i and adj[i][j]]
        k = len(nbrs)
        if k < 2:
            continue
        links = sum(1 for a, b in itertools.combinations(nbrs, 2) if adj[a][b])
        total += 2 * links / (k * (k - 1))
    return total / n


def test_clustering_on_hand_built_graphs():
    assert clustering_coefficient(torch.ones(3, 3)).item() == 1.0  # triangle
    star = torch.zeros(4, 4)
    star[0, 1:] = star[1:, 0] = 1
    assert clustering_coefficient(star).item() == 0.0
    kite = torch.ones(4, 4)
    kite[0, 1] = kite[1, 0] = 0  # K4 minus an edge: nodes 2, 3 have c = 2/3, nodes 0, 1 have c = 1
    assert clustering_coefficient(kite).item() == pytest.approx((1 + 1 + 2 / 3 + 2 / 3) / 4)


def test_clustering_matches_brute_force_on_random_graphs():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        upper = torch.rand(9, 9, generator=g) < 0.4
        adj = torch.triu(upper, 1)
        adj = adj | adj.T
        assert clustering_coefficient(adj).item() == pytest.approx(_brute_clustering(adj.tolist()), abs=1e-12)


def test_distances_are_per_sample_euclidean():
    pts = torch.rand(3, 5, 7)
    assert torch.allclose(pairwise_distances(pts), torch.cdist(pts, pts), atol=1e-6)


def _riemann(points, theta, rule, grid=20000):
    """Midpoint Riemann sum of C(G_h) (exact: edges <= h; official: edges <= the next distance >= h)."""
    d = pairwise_distances(points[None])[0].double()
    n = d.shape[0]
    values = sorted(d[i, j].item() for i in range(n) for j in range(i + 1, n))
    area = 0.0
    for m in range(grid):
        h = (m + 0.5) * theta / grid
        level = h if rule == "exact" else next((v for v in values if v >= h), values[-1])
        adj = ((d <= level) & ~torch.eye(n, dtype=torch.bool)).tolist()
        area += _brute_clustering(adj) * theta / grid
    return 1 - area / theta


@pytest.mark.parametrize("rule", ["exact", "official"])
def test_diversity_index_equals_a_riemann_sum(rule):
    g = torch.Generator().manual_seed(1)
    points = torch.rand(6, 3, generator=g)
    theta = 2.5
    value = diversity_index(points[None], theta, rule=rule).item()
    assert value == pytest.approx(_riemann(points, theta, rule, grid=4000), abs=2e-3)  # grid error ~ theta/grid


def test_ties_separate_the_two_rules():
    # Points 0, 1, 2 on a line: distances 1, 1, 2; theta = 4.
    # exact: C = 0 on [0, 2), 1 on [2, 4] -> DI = 1/2.  official (right end): C(G_2) = 1 on (1, 2] too -> 1/4.
    pts = torch.tensor([[[0.0], [1.0], [2.0]]])
    assert diversity_index(pts, 4.0, rule="exact").item() == pytest.approx(0.5)
    assert diversity_index(pts, 4.0, rule="official").item() == pytest.approx(0.25)


def test_per_image_index_does_not_mix_images():
    g = torch.Generator().manual_seed(2)
    batch = torch.rand(4, 10, 30, generator=g)
    together = diversity_index(batch, 5.0)
    alone = torch.cat([diversity_index(batch[i : i + 1], 5.0) for i in range(4)])
    assert torch.equal(together, alone)
    assert ((together >= 0) & (together <= 1)).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="rule"):
        diversity_index(torch.rand(1, 3, 2), 1.0, rule="mid")
    with pytest.raises(ValueError, match="points"):
        diversity_index(torch.rand(1, 2, 2), 1.0)
    with pytest.raises(ValueError, match="theta_max"):
        diversity_index(torch.rand(1, 3, 2), 0.0)
