"""Random-matrix initialisation families at a matched second moment (Gaussian, orthogonal, GOE).

Agarwala & Schoenholz (ICML 2022) show that deep equilibrium networks are sensitive to the
higher-order statistics of the family their weight is drawn from, not only to its variance.
The three families here share (1/N) E tr(W W^T) = sigma^2 (``normalize="frobenius"``), so
only the higher-order statistics differ.
"""

from __future__ import annotations

import math

import torch

from icml22dl.validation import check_choice, check_int, check_positive

KINDS = ("gaussian", "orthogonal", "symmetric")
NORMALIZATIONS = ("frobenius", "spectral")


def haar_orthogonal(
    n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A Haar-distributed n x n orthogonal matrix: QR of a Gaussian matrix with the sign fix.

    Math: G = QR with G_ij ~ N(0, 1); Q D with D = diag(sign(R_jj)) is Haar on O(n) (without the
    sign fix the distribution depends on the QR convention and is not Haar).

    Args:
        n: size (>= 1).
        generator: torch generator for the Gaussian draw.
        dtype: floating dtype of the result (the draw and QR run in float64).

    Returns:
        (n, n) tensor Q with Q^T Q = I.

    Example:
        >>> q = haar_orthogonal(4, torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(q.T @ q, torch.eye(4, dtype=q.dtype)))
        True

    References:
        Mezzadri, How to generate random matrices from the classical compact groups (2007).
    """
    check_int("n", n, low=1)
    g = torch.randn(n, n, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return (q * signs).to(dtype)


def matrix_family(
    n: int,
    kind: str = "gaussian",
    sigma: float = 1.0,
    normalize: str = "frobenius",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """An n x n matrix of one random family at scale ``sigma``.

    Math (second moment (1/N) E tr(W W^T) = sigma^2 for every family under ``"frobenius"``):
        gaussian (Ginibre): W_ij ~ N(0, sigma^2 / N); spectrum: disk of radius sigma.
        orthogonal: W = sigma Q, Q Haar; W^T W = sigma^2 I; spectrum: circle of radius sigma.
        symmetric (GOE): W = sigma (A + A^T) / sqrt(2N), A_ij ~ N(0, 1): off-diagonal variance
            sigma^2/N, diagonal 2 sigma^2/N; spectrum: semicircle on [-2 sigma, 2 sigma].
        ``normalize="spectral"`` halves the GOE (semicircle on [-sigma, sigma], second moment
        sigma^2/4); the other families are unchanged.

    Args:
        n: size N (>= 1).
        kind: ``"gaussian"``, ``"orthogonal"`` or ``"symmetric"``.
        sigma: scale sigma_w (>= 0).
        normalize: ``"frobenius"`` (matched second moment, default) or ``"spectral"``.
        generator: torch generator (no global RNG state is used when given).
        dtype: dtype of the result (drawn in float64).

    Returns:
        (n, n) tensor.

    Example:
        >>> w = matrix_family(256, "symmetric", 1.5, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.equal(w, w.T))
        True

    References:
        Agarwala & Schoenholz, Deep equilibrium networks are sensitive to initialization
        statistics, ICML 2022 (arXiv 2207.09432), abstract: Gaussian vs orthogonal vs
        symmetric initialisation; the matched-variance convention is ours
        (docs/papers/deq_init.md#method).
    """
    check_choice("kind", kind, KINDS)
    check_positive("sigma", sigma, allow_zero=True)
    check_choice("normalize", normalize, NORMALIZATIONS)
    check_int("n", n, low=1)
    if kind == "gaussian":
        w = torch.randn(n, n, generator=generator, dtype=torch.float64) * (sigma / math.sqrt(n))
    elif kind == "orthogonal":
        w = sigma * haar_orthogonal(n, generator)
    else:
        a = torch.randn(n, n, generator=generator, dtype=torch.float64)
        w = sigma * (a + a.T) / math.sqrt(2 * n)
        if normalize == "spectral":
            w = w / 2
    return w.to(dtype)


@torch.no_grad()
def init_matrix_(
    weight: torch.Tensor,
    kind: str = "gaussian",
    sigma: float = 1.0,
    normalize: str = "frobenius",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill a square ``weight`` in place with :func:`matrix_family` (same args); returns it.

    Example:
        >>> w = init_matrix_(torch.empty(8, 8), "orthogonal", 2.0, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(w.T @ w, 4 * torch.eye(8), atol=1e-5)
        True

    References: as :func:`matrix_family`.
    """
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"weight must be a square matrix, got shape {tuple(weight.shape)}")
    weight.copy_(matrix_family(weight.shape[0], kind, sigma, normalize, generator, dtype=weight.dtype))
    return weight


__all__ = ["KINDS", "haar_orthogonal", "init_matrix_", "matrix_family"]
