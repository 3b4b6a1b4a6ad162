"""The Diversity Index (DI) of a set of search points and the mean local clustering coefficient."""

from __future__ import annotations

import torch
from torch import Tensor

from icml22dl.validation import check_choice, check_positive

__all__ = ["DI_RULES", "clustering_coefficient", "diversity_index", "pairwise_distances"]

DI_RULES = ("exact", "official")


def clustering_coefficient(adjacency: Tensor) -> Tensor:
    """Mean local clustering coefficient of undirected graphs.

    Math: ``c_i = 2 e_i / (k_i (k_i - 1))`` if the degree ``k_i >= 2`` (``e_i`` = edges among
    i's neighbours = ``(A^3)_ii / 2``), else 0; ``C(G) = mean_i c_i``.

    Args:
        adjacency: (..., n, n) symmetric 0/1 or bool matrices; the diagonal is ignored.

    Returns:
        (...,) mean clustering coefficients.

    Example:
        >>> clustering_coefficient(torch.ones(3, 3))  # a triangle
        tensor(1., dtype=torch.float64)

    References:
        Watts & Strogatz, "Collective dynamics of 'small-world' networks", Nature 1998 (local
        clustering coefficient); the graph statistic of the Diversity Index (Yamamura et al.,
        ICML 2022, Sec. 4).
    """
    if adjacency.ndim < 2 or adjacency.shape[-1] != adjacency.shape[-2]:
        raise ValueError(f"adjacency must have shape (..., n, n), got {tuple(adjacency.shape)}")
    n = adjacency.shape[-1]
    a = adjacency.to(torch.float64) * (1 - torch.eye(n, dtype=torch.float64, device=adjacency.device))
    degree = a.sum(-1)
    edges_among = ((a @ a) * a).sum(-1) / 2
    c = torch.where(degree >= 2, 2 * edges_among / (degree * (degree - 1)).clamp_min(1), torch.zeros_like(degree))
    return c.mean(-1)


def pairwise_distances(points: Tensor) -> Tensor:
    """(batch, n, d) -> (batch, n, n) Euclidean distances, float32, computed as diff-square-sum-sqrt per pair.

    Computed pair by pair (not by ``torch.cdist``'s matrix-product shortcut), so equal
    distances stay exactly equal, which the Diversity Index's ties depend on.

    Example:
        >>> pairwise_distances(torch.tensor([[[0.0, 0.0], [3.0, 4.0]]]))
        tensor([[[0., 5.],
                 [5., 0.]]])

    References:
        The distances between search points of the Diversity Index (Yamamura et al., ICML 2022,
        Sec. 4; official ``yamamura-k/ACG`` computes them pair by pair in C++).
    """
    p = points.to(torch.float32)
    batch, n, _ = p.shape
    dist = torch.zeros(batch, n, n, dtype=torch.float32, device=p.device)
    for i in range(n):
        for j in range(i + 1, n):
            dist[:, i, j] = dist[:, j, i] = (p[:, i] - p[:, j]).pow(2).sum(-1).sqrt()
    return dist


def diversity_index(points: Tensor, theta_max: float, rule: str = "exact") -> Tensor:
    """Diversity Index of each sample's last n search points (Yamamura et al., ICML 2022, Sec. 4).

    Math: ``G_h`` links two points iff their Euclidean distance is <= h;
    ``DI = 1 - (1 / theta_max) * integral_0^theta_max C(G_h) dh`` with ``C`` the mean local
    clustering coefficient (:func:`clustering_coefficient`). ``C(G_h)`` is a step function of
    h that changes only at the pairwise distances ``K_1 <= ... <= K_m`` (``K_0 = 0``):

    - ``rule="exact"``: ``C(G_{K_{j-1}})`` on ``[K_{j-1}, K_j)``: the integral itself.
    - ``rule="official"``: ``C(G_{K_j})`` on ``(K_{j-1}, K_j]`` (right end, as the official
      code integrates); it differs from the exact value when distances tie.

    Distances beyond ``theta_max`` are clipped to it. Points are flattened per sample (the
    official code reshapes a batch to (-1, batch), mixing images for batch > 1; not here).

    Args:
        points: (batch, n, d) search points, n >= 3 (official: the last 10 iterates).
        theta_max: the integration range, > 0 (L-inf ball: 2 eps sqrt(d)).
        rule: ``"exact"`` (default) or ``"official"``.

    Returns:
        (batch,) Diversity Index in [0, 1] (float64).

    Example:
        >>> pts = torch.tensor([[[0.0], [1.0], [2.0]]])
        >>> diversity_index(pts, theta_max=2.0)  # triangle closes at h = 2
        tensor([1.], dtype=torch.float64)

    References:
        Yamamura et al., "Diversified Adversarial Attacks based on Conjugate Gradient
        Method", ICML 2022, Eq. (DI); official ``yamamura-k/ACG`` (C++ DI, n = 10).
    """
    check_choice("rule", rule, DI_RULES)
    if points.ndim != 3 or points.shape[1] < 3:
        raise ValueError(f"points must have shape (batch, n >= 3, d), got {tuple(points.shape)}")
    check_positive("theta_max", theta_max)
    dist = pairwise_distances(points)
    n = points.shape[1]
    iu = torch.triu_indices(n, n, offset=1, device=points.device)
    sorted_k = dist[:, iu[0], iu[1]].sort(dim=1).values.clamp(max=theta_max).to(torch.float64)
    zero = torch.zeros_like(sorted_k[:, :1])
    thresholds = torch.cat([zero, sorted_k], dim=1)  # K_0 .. K_m
    eye = torch.eye(n, dtype=torch.bool, device=points.device)
    adjacency = (dist.to(torch.float64)[:, None] <= thresholds[:, :, None, None]) & ~eye
    c = clustering_coefficient(adjacency)  # (batch, m + 1): C(G_{K_0}) .. C(G_{K_m})
    widths = thresholds[:, 1:] - thresholds[:, :-1]
    on_interval = c[:, :-1] if rule == "exact" else c[:, 1:]
    area = (widths * on_interval).sum(dim=1) + (theta_max - thresholds[:, -1]) * c[:, -1]
    return 1.0 - area / theta_max
