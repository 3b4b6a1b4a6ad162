"""Neural-collapse metrics NC1-NC4 and the orthogonal-frame gap, every convention explicit.

Notation (features are rows): ``H`` (N x p) penultimate features with labels ``y``; the
classifier ``z = W h + b`` with ``W`` (C x p), rows ``w_c``, and ``b`` (C,). Class means
``mu_c`` are the rows of ``M`` (C x p, uncentred); the global mean ``mu_G`` is either

* ``global_mean="samples"``: (1/N) sum_i h_i (the MSE repository ``neural-collapse-MSE``
  and ``tding1/Neural-Collapse``), or
* ``global_mean="class_means"``: (1/C) sum_c mu_c (Papyan's notebook);

they agree for balanced classes. ``Mbar = M - 1 mu_G^T`` holds the centred means.

* ``Sigma_W = (1/N) sum_{c,i} (h_ci - mu_c)(h_ci - mu_c)^T``, computed as ``Hc^T Hc / N``
  from the class-centred features (never per-sample outer products);
* ``Sigma_B = (1/C) Mbar^T Mbar`` (rank <= C - 1).
* ETF Gram target ``E_C = (I - 11^T/C)/sqrt(C - 1)``, OF target ``I/sqrt(C)`` (unit
  Frobenius norm); ``etf_gap(G) = ||G/||G||_F - E_C||_F``, ``of_gap(G) = ||G/||G||_F - I/sqrt(C)||_F``.

Metrics (keys of :func:`collapse_metrics`; each key names the variant it computed):

* ``nc1_papyan``: (1/C) Tr(Sigma_W Sigma_B^+), Hermitian pseudo-inverse with the relative
  cut-off ``rtol`` (default p * eps, as numpy/scipy/torch ``pinv``). Papyan, Han & Donoho
  2020 (PNAS), Fig. 6.
* ``nc1_full_pinv``: the same quantity through a dense p x p pseudo-inverse of Sigma_B;
  ``neural-collapse-MSE/validate_NC.py`` computes ``trace(Sigma_W @ scipy.linalg.pinv(Sigma_B))
  / K`` (read: it divides by C, with the sample global mean), so it equals ``nc1_papyan``.
* ``nc1_notebook``: Tr(Sigma_W Sigma_B^{-1}) with Sigma_B inverted on its top C - 1
  eigenpairs, **without** 1/C (Papyan's Colab notebook, ``svds(k=C-1)``).
* ``nc1_svd``: identical formula (the ``svd=True`` branch of ``rhubarbwu/neural-collapse``,
  Han et al. 2022), kept as its own name.
* ``nc1_quotient``: Tr(Sigma_W) / Tr(Sigma_B) (Hui et al. 2022; Tirer et al. 2023).
* ``nc2_equinorm_means`` / ``nc2_equinorm_W``: std/mean over c of ||mu_c - mu_G|| and of
  ||w_c|| (unbiased std); ``nc2_equiangular_*``: std of the pairwise cosines over the
  C(C-1)/2 pairs c < c'; ``nc2_maxangle_*``: mean over those pairs of |cos + 1/(C-1)|.
  Papyan et al. 2020 Fig. 2-4 (classifier rows uncentred).
* ``nc2_etf_W_centred`` / ``nc2_etf_W_uncentred``: ``etf_gap(W W^T)`` with W's class-average
  row removed first (``compute_ETF`` in ``neural-collapse-MSE``) or not (``tding1``).
  ``nc2_etf_means_centred``: ``etf_gap(Mbar Mbar^T)``; ``nc2_etf_means_uncentred``:
  ``etf_gap(M M^T)``. ``of_gap_W``: ``of_gap(W W^T)``; ``of_gap_means``: ``of_gap(M M^T)``
  (uncentred Grams: Tirer & Bruna 2022).
* ``nc3_papyan``: ||W/||W||_F - Mbar/||Mbar||_F||_F^2, **squared** (notebook ``W_M_dist``).
  ``nc3_zhou_centred`` / ``nc3_zhou_uncentred``: ``||W Mbar^T/||W Mbar^T||_F - E_C||_F`` (not
  squared; ``compute_W_H_relation`` of ``neural-collapse-MSE`` centres W first).
* ``nc4_ncc_mismatch``: fraction of samples whose classifier decision argmax_c(w_c.h + b_c)
  differs from the nearest-class-centre decision argmin_c ||h - mu_c|| (PNAS Fig. 7).
* ``bias_mean_relation``: ||W mu_G + b||_2, what the MSE repository's plots label "NC4"
  (``compute_Wh_b_relation``); it is not NC4.

Non-finite features give NaN metrics and ``nonfinite_features = 1.0`` (no pseudo-inverse is
attempted: ``torch.linalg.pinv`` raises on NaN input).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from icml22dl.train import EvalResult, evaluate
from icml22dl.validation import check_choice, check_int

NC1_FORMS = ("papyan", "full_pinv", "notebook", "svd", "quotient")
GLOBAL_MEANS = ("samples", "class_means")

__all__ = [
    "GLOBAL_MEANS",
    "NC1_FORMS",
    "ClassStatistics",
    "CollapseAccumulator",
    "FeatureHook",
    "bias_mean_relation",
    "class_statistics",
    "collapse_by_layer",
    "collapse_metrics",
    "collect_features",
    "etf_gap",
    "etf_gram",
    "evaluate_collapse",
    "hermitian_pinv",
    "ncc_mismatch",
    "nc1",
    "of_gap",
    "of_etf_distance",
]


# ----------------------------------------------------------------------------- helpers
def etf_gram(num_classes: int, dtype: torch.dtype = torch.float64, device: Any = None) -> Tensor:
    """The unit-Frobenius simplex-ETF Gram ``E_C = (I - 11^T/C)/sqrt(C - 1)``."""
    check_int("num_classes", num_classes, low=2)
    eye = torch.eye(num_classes, dtype=dtype, device=device)
    return (eye - 1.0 / num_classes) / math.sqrt(num_classes - 1)


def of_etf_distance(num_classes: int) -> float:
    """Distance between the normalised OF and ETF Grams, sqrt(2 - 2 sqrt((C-1)/C)).

    Example:
        >>> round(of_etf_distance(4), 4), round(etf_gap(torch.eye(4)), 4)
        (0.5176, 0.5176)

    References: Tirer & Bruna, ICML 2022 (the bias-free optimum is an OF, this far from an ETF).
    """
    check_int("num_classes", num_classes, low=2)
    return math.sqrt(2.0 - 2.0 * math.sqrt((num_classes - 1) / num_classes))


def _normalised(G: Tensor) -> Tensor:
    norm = torch.linalg.matrix_norm(G)
    if not torch.isfinite(norm) or norm == 0:
        return torch.full_like(G, float("nan"))
    return G / norm


def etf_gap(G: Tensor) -> float:
    """``||G/||G||_F - E_C||_F``: distance of a C x C Gram matrix to the simplex ETF.

    Args:
        G: square Gram matrix (e.g. ``W W^T`` or ``Mbar Mbar^T``), C >= 2.

    Returns:
        0 for an exact simplex ETF Gram; NaN for a zero or non-finite G.

    Example:
        >>> etf_gap(torch.eye(3) - 1 / 3) < 1e-7, round(etf_gap(torch.eye(3)), 4)  # ETF, then an OF
        (True, 0.6058)
        >>> round(of_etf_distance(3), 4)
        0.6058

    References: Zhu et al. 2021 (NeurIPS), Zhou et al. 2022 (ICML) ``compute_ETF``.
    """
    G = _square(G, "G")
    return float(torch.linalg.matrix_norm(_normalised(G) - etf_gram(G.shape[0], G.dtype, G.device)))


def of_gap(G: Tensor) -> float:
    """``||G/||G||_F - I_C/sqrt(C)||_F``: distance of an **uncentred** Gram to an orthogonal frame.

    Args:
        G: square Gram matrix (``W W^T`` or ``M M^T`` with uncentred means), C >= 2.

    Returns:
        0 for an equal-norm orthogonal frame; NaN for a zero or non-finite G.

    Example:
        >>> of_gap(2 * torch.eye(3)) < 1e-7, round(of_gap(torch.eye(3) - 1 / 3), 4)  # an OF, then an ETF
        (True, 0.6058)

    References: Tirer & Bruna, Extended unconstrained features model, ICML 2022 (the
    bias-free MSE optimum is an OF).
    """
    G = _square(G, "G")
    C = G.shape[0]
    eye = torch.eye(C, dtype=G.dtype, device=G.device) / math.sqrt(C)
    return float(torch.linalg.matrix_norm(_normalised(G) - eye))


def hermitian_pinv(A: Tensor, rtol: float | None = None) -> Tensor:
    """Pseudo-inverse of a symmetric PSD matrix through ``eigh`` with a relative cut-off.

    Eigenvalues at or below ``rtol * lambda_max`` are treated as zero (default
    ``rtol = n * eps(dtype)``, the numpy/scipy/torch ``pinv`` default). Raises
    ``ValueError`` on non-finite input instead of an eigh-convergence error.

    Example:
        >>> hermitian_pinv(torch.diag(torch.tensor([2.0, 0.0]))).diagonal().tolist()
        [0.5, 0.0]

    References: the cut-off of ``numpy.linalg.pinv(hermitian=True)`` and ``torch.linalg.pinv``;
    NC1 of Papyan, Han & Donoho 2020 uses the pseudo-inverse of Sigma_B.
    """
    A = _square(A, "A")
    if not torch.isfinite(A).all():
        raise ValueError("hermitian_pinv: A has NaN/inf entries")
    A = (A + A.T) / 2
    vals, vecs = torch.linalg.eigh(A)
    rtol = A.shape[0] * torch.finfo(A.dtype).eps if rtol is None else rtol
    keep = vals > rtol * vals.abs().max().clamp_min(torch.finfo(A.dtype).tiny)
    inv = torch.zeros_like(vals)
    inv[keep] = 1.0 / vals[keep]
    return (vecs * inv) @ vecs.T


def bias_mean_relation(W: Tensor, b: Tensor | None, mu_G: Tensor) -> float:
    """``||W mu_G + b||_2`` (the MSE repository's ``Wh_b_relation_metric``; not NC4).

    At the UFM-MSE optimum with an unregularised bias, mu_G = 0 and b = (1/K) 1, so the
    value is ||b|| = 1/sqrt(K), not zero; the repository plots it as its "NC4". Kept under
    its own name so that it is never confused with NC4 (the NCC mismatch).

    Example:
        >>> round(bias_mean_relation(torch.eye(2), torch.full((2,), 0.5), torch.zeros(2)), 4)  # 1/sqrt(K)
        0.7071

    References: Zhou et al., ICML 2022, official ``validate_NC.py`` (``compute_Wh_b_relation``).
    """
    z = W.to(torch.float64) @ mu_G.to(torch.float64)
    if b is not None:
        z = z + b.to(torch.float64)
    return float(torch.linalg.vector_norm(z))


def ncc_mismatch(features: Tensor, means: Tensor, logits: Tensor) -> float:
    """Fraction of rows whose ``argmax(logits)`` differs from the nearest class mean.

    Args:
        features: (N, p) features.
        means: (C, p) class means (uncentred).
        logits: (N, C) classifier outputs for the same rows.

    Returns:
        The mismatch rate in [0, 1].

    Example:
        >>> means = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> ncc_mismatch(means, means, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # the second row disagrees
        0.5

    References: Papyan, Han & Donoho 2020 (PNAS), Fig. 7 (NC4), notebook ``NCC_mismatch``.
    """
    return float(_ncc_mismatch_count(features, means, logits)) / max(len(features), 1)


def _ncc_mismatch_count(features: Tensor, means: Tensor, logits: Tensor) -> int:
    f = features.to(torch.float64)
    mu = means.to(f.device, torch.float64)
    # argmin ||h - mu_c||^2 = argmin (||mu_c||^2 - 2 h.mu_c)
    ncc = ((mu * mu).sum(1)[None, :] - 2.0 * f @ mu.T).argmin(1)
    return int((logits.to(f.device).argmax(1) != ncc).sum())


def _square(A: Tensor, name: str) -> Tensor:
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 2:
        raise ValueError(f"{name} must be a square matrix of size >= 2, got shape {tuple(A.shape)}")
    return A


# ------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class ClassStatistics:
    """First and second moments of labelled features (float64).

    Attributes:
        counts: (C,) samples per class.
        means: (C, p) uncentred class means (rows ``mu_c``).
        global_mean: (p,) ``mu_G`` under the chosen convention.
        sigma_W: (p, p) within-class covariance, or None when ``centred`` is kept instead.
        centred: (N, p) class-centred features ``Hc`` (in-memory path), or None.
        trace_W: Tr Sigma_W.
    """

    counts: Tensor
    means: Tensor
    global_mean: Tensor
    sigma_W: Tensor | None
    centred: Tensor | None
    trace_W: float

    @property
    def num_classes(self) -> int:
        return int(self.counts.numel())

    @property
    def centred_means(self) -> Tensor:
        """``Mbar``: (C, p) class means minus the global mean."""
        return self.means - self.global_mean

    def sigma_W_quadratic(self, V: Tensor) -> Tensor:
        """``diag(V^T Sigma_W V)`` for a (p, k) matrix V, without forming Sigma_W if possible."""
        if self.centred is not None:
            P = self.centred @ V
            return (P * P).sum(0) / self.centred.shape[0]
        return ((self.sigma_W_matrix() @ V) * V).sum(0)

    def sigma_W_matrix(self) -> Tensor:
        """``Sigma_W`` (p, p), formed from the centred features when it is not stored."""
        if self.sigma_W is not None:
            return self.sigma_W
        if self.centred is None:
            raise ValueError("ClassStatistics holds neither sigma_W nor the centred features")
        return self.centred.T @ self.centred / self.centred.shape[0]


def _global_mean(counts: Tensor, means: Tensor, convention: str) -> Tensor:
    if convention == "samples":
        return (counts[:, None] * means).sum(0) / counts.sum()
    return means.mean(0)


def class_statistics(
    features: Tensor, labels: Tensor, num_classes: int, global_mean: str = "samples"
) -> ClassStatistics:
    """Class means, global mean and class-centred features of in-memory features (float64).

    Raises:
        ValueError: on shape mismatches, labels outside [0, C), or an empty class.
    """
    check_int("num_classes", num_classes, low=2)
    check_choice("global_mean", global_mean, GLOBAL_MEANS)
    H, y = _features_and_labels(features, labels, num_classes)
    counts = torch.bincount(y, minlength=num_classes).to(torch.float64)
    _require_every_class(counts)
    means = torch.zeros(num_classes, H.shape[1], dtype=torch.float64, device=H.device).index_add_(0, y, H)
    means = means / counts[:, None]
    Hc = H - means[y]
    return ClassStatistics(
        counts=counts,
        means=means,
        global_mean=_global_mean(counts, means, global_mean),
        sigma_W=None,
        centred=Hc,
        trace_W=float((Hc * Hc).sum() / H.shape[0]),
    )


def _features_and_labels(features: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    if features.ndim != 2:
        raise ValueError(f"features must be (N, p), got shape {tuple(features.shape)}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must have shape ({features.shape[0]},), got {tuple(labels.shape)}")
    y = labels.to(features.device, torch.long)
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{int(y.min())}, {int(y.max())}]")
    return features.to(torch.float64), y


def _require_every_class(counts: Tensor) -> None:
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"classes {empty} have no samples: every class needs at least one")


# --------------------------------------------------------------------------------- NC1
def _nc1_from_stats(stats: ClassStatistics, form: str, rtol: float | None) -> float:
    C = stats.num_classes
    Mbar = stats.centred_means
    if form == "quotient":
        trace_B = float((Mbar * Mbar).sum() / C)
        return stats.trace_W / trace_B if trace_B > 0 else float("nan")
    if form == "full_pinv":
        sigma_B = Mbar.T @ Mbar / C
        return float(torch.trace(stats.sigma_W_matrix() @ hermitian_pinv(sigma_B, rtol))) / C
    # Eigenpairs of Sigma_B = V diag(s^2) V^T from the thin SVD of Mbar / sqrt(C) (C x p).
    _, s, Vh = torch.linalg.svd(Mbar / math.sqrt(C), full_matrices=False)
    lam, V = s * s, Vh.T
    if form in ("notebook", "svd"):
        k = C - 1  # top C - 1 eigenpairs, no cut-off, no 1/C
        lam, V = lam[:k], V[:, :k]
        if (lam <= 0).any():
            return float("inf")
        return float((stats.sigma_W_quadratic(V) / lam).sum())
    p = Mbar.shape[1]
    rtol = p * torch.finfo(torch.float64).eps if rtol is None else rtol
    keep = lam > rtol * lam.max().clamp_min(torch.finfo(torch.float64).tiny)
    if not keep.any():
        return float("nan")
    return float((stats.sigma_W_quadratic(V[:, keep]) / lam[keep]).sum()) / C


def nc1(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    form: str = "papyan",
    *,
    global_mean: str = "samples",
    rtol: float | None = None,
) -> float:
    """Within-class variability collapse NC1 of in-memory features.

    Args:
        features: (N, p) features; labels: (N,) integers in [0, C).
        num_classes: C >= 2.
        form: one of :data:`NC1_FORMS` (see the module docstring for the references).
        global_mean: ``"samples"`` or ``"class_means"``.
        rtol: relative eigenvalue cut-off of the pseudo-inverse (default p * eps).

    Returns:
        NC1 in the chosen form; NaN when the features are not finite.

    Example:
        >>> nc1(torch.eye(3).repeat(2, 1), torch.arange(3).repeat(2), 3)
        0.0

    References: Papyan, Han & Donoho 2020 (PNAS), Fig. 6; the other forms in the module docstring.
    """
    check_choice("form", form, NC1_FORMS)
    if not torch.isfinite(features).all():
        return float("nan")
    return _nc1_from_stats(class_statistics(features, labels, num_classes, global_mean), form, rtol)


# ---------------------------------------------------------------------------- NC2-NC4
def _cosine_pairs(A: Tensor) -> Tensor:
    U = A / torch.linalg.vector_norm(A, dim=1, keepdim=True)
    cos = U @ U.T
    i, j = torch.triu_indices(len(A), len(A), offset=1)
    return cos[i, j]


def _papyan_nc2(rows: Tensor, suffix: str) -> dict[str, float]:
    C = rows.shape[0]
    norms = torch.linalg.vector_norm(rows, dim=1)
    pairs = _cosine_pairs(rows)
    return {
        f"nc2_equinorm_{suffix}": float(norms.std() / norms.mean()),
        f"nc2_equiangular_{suffix}": float(pairs.std()) if len(pairs) > 1 else 0.0,
        f"nc2_maxangle_{suffix}": float((pairs + 1.0 / (C - 1)).abs().mean()),
    }


def _zhou_nc3(W: Tensor, Mbar: Tensor) -> float:
    return etf_gap(W @ Mbar.T)


def _metrics_from_stats(
    stats: ClassStatistics,
    W: Tensor,
    b: Tensor | None,
    *,
    nc1_forms: tuple[str, ...],
    center_W: bool,
    uncentred: bool,
    rtol: float | None,
) -> dict[str, float]:
    C = stats.num_classes
    W = W.to(stats.means.device, torch.float64)
    b = None if b is None else b.to(stats.means.device, torch.float64)
    if W.shape != (C, stats.means.shape[1]):
        raise ValueError(f"W must have shape {(C, stats.means.shape[1])}, got {tuple(W.shape)}")
    if b is not None and b.shape != (C,):
        raise ValueError(f"b must have shape ({C},), got {tuple(b.shape)}")
    Mbar, M = stats.centred_means, stats.means
    out: dict[str, float] = {f"nc1_{form}": _nc1_from_stats(stats, form, rtol) for form in nc1_forms}
    out.update(_papyan_nc2(Mbar, "means"))
    out.update(_papyan_nc2(W, "W"))
    Wc = W - W.mean(0, keepdim=True)
    forms = ([True] if center_W else []) + ([False] if (uncentred or not center_W) else [])
    for centred in forms:
        tag = "centred" if centred else "uncentred"
        WW = Wc if centred else W
        out[f"nc2_etf_W_{tag}"] = etf_gap(WW @ WW.T)
        out[f"nc3_zhou_{tag}"] = _zhou_nc3(WW, Mbar)
    out["nc2_etf_means_centred"] = etf_gap(Mbar @ Mbar.T)
    if uncentred:
        out["nc2_etf_means_uncentred"] = etf_gap(M @ M.T)
        out["of_gap_W"] = of_gap(W @ W.T)
        out["of_gap_means"] = of_gap(M @ M.T)
    diff = W / torch.linalg.matrix_norm(W) - Mbar / torch.linalg.matrix_norm(Mbar)
    out["nc3_papyan"] = float((diff * diff).sum())
    out["bias_mean_relation"] = bias_mean_relation(W, b, stats.global_mean)
    out["nonfinite_features"] = 0.0
    return out


def _nan_metrics(nc1_forms: tuple[str, ...], center_W: bool, uncentred: bool, ncc: bool) -> dict[str, float]:
    keys = [f"nc1_{f}" for f in nc1_forms]
    for suffix in ("means", "W"):
        keys += [f"nc2_equinorm_{suffix}", f"nc2_equiangular_{suffix}", f"nc2_maxangle_{suffix}"]
    for tag in (["centred"] if center_W else []) + (["uncentred"] if (uncentred or not center_W) else []):
        keys += [f"nc2_etf_W_{tag}", f"nc3_zhou_{tag}"]
    keys += ["nc2_etf_means_centred", "nc3_papyan", "bias_mean_relation"]
    if uncentred:
        keys += ["nc2_etf_means_uncentred", "of_gap_W", "of_gap_means"]
    if ncc:
        keys.append("nc4_ncc_mismatch")
    out = {k: float("nan") for k in keys}
    out["nonfinite_features"] = 1.0
    return out


def _forms(nc1: str | Sequence[str]) -> tuple[str, ...]:
    forms = (nc1,) if isinstance(nc1, str) else tuple(nc1)
    for form in forms:
        check_choice("nc1", form, NC1_FORMS)
    return forms


def collapse_metrics(
    features: Tensor,
    labels: Tensor,
    W: Tensor,
    b: Tensor | None = None,
    *,
    num_classes: int | None = None,
    global_mean: str = "samples",
    nc1: str | Sequence[str] = "papyan",
    center_W: bool = False,
    uncentred: bool = True,
    logits: Tensor | None = None,
    rtol: float | None = None,
) -> dict[str, float]:
    """NC1-NC4, the OF/ETF gaps and ``bias_mean_relation`` of in-memory features, in float64.

    Math: see the module docstring; every key names its variant.

    Args:
        features: (N, p) penultimate features; labels: (N,) integers in [0, C).
        W: (C, p) last-layer weights; b: (C,) bias or None (bias-free).
        num_classes: C (default ``W.shape[0]``).
        global_mean: ``"samples"`` (MSE repository, default) or ``"class_means"`` (notebook).
        nc1: one form or a sequence of forms from :data:`NC1_FORMS`.
        center_W: remove W's class-average row for the Zhou-form NC2/NC3 (``neural-collapse-MSE``
            does, ``tding1/Neural-Collapse`` does not).
        uncentred: also report the uncentred Grams (``nc2_etf_W_uncentred``,
            ``nc2_etf_means_uncentred``, ``of_gap_W``, ``of_gap_means``, ``nc3_zhou_uncentred``).
        logits: (N, C) classifier outputs for NC4 (default ``features W^T + b``).
        rtol: relative cut-off of the pseudo-inverse (default p * eps).

    Returns:
        dict of floats; ``nonfinite_features`` is 1.0 (and every metric NaN) when the
        features hold NaN/inf. The inputs are detached first: no autograd graph is built,
        so features and weights straight from a training step can be passed.

    Example:
        >>> C = 3; W = torch.eye(C) - 1 / C; y = torch.arange(C).repeat(4)
        >>> m = collapse_metrics(W[y], y, W, center_W=True)
        >>> round(m["nc1_papyan"], 12), round(m["nc2_etf_W_centred"], 12), m["nc4_ncc_mismatch"]
        (0.0, 0.0, 0.0)

    References:
        Papyan, Han & Donoho 2020 (PNAS); Zhou et al., ICML 2022 (``validate_NC.py``);
        Tirer & Bruna, ICML 2022 (orthogonal frames).
    """
    features, W = features.detach(), W.detach()
    b = None if b is None else b.detach()
    logits = None if logits is None else logits.detach()
    C = W.shape[0] if num_classes is None else num_classes
    forms = _forms(nc1)
    check_choice("global_mean", global_mean, GLOBAL_MEANS)
    if not torch.isfinite(features).all():
        return _nan_metrics(forms, center_W, uncentred, ncc=True)
    stats = class_statistics(features, labels, C, global_mean)
    out = _metrics_from_stats(stats, W, b, nc1_forms=forms, center_W=center_W, uncentred=uncentred, rtol=rtol)
    H = features.to(torch.float64)
    if logits is None:
        Wd = W.to(H.device, torch.float64)
        logits = H @ Wd.T + (0.0 if b is None else b.to(H.device, torch.float64))
    out["nc4_ncc_mismatch"] = ncc_mismatch(H, stats.means, logits)
    return out


# ------------------------------------------------------------------------ streaming
class CollapseAccumulator:
    """Streaming NC metrics over a data loader, without storing the features.

    Two modes:

    * first pass (``means=None``): accumulates per-class sums and the total second moment
      ``sum h h^T`` (p x p, float64); ``Sigma_W = (sum h h^T - sum_c n_c mu_c mu_c^T)/N``.
      NC4 needs the class means before the decisions, so it is NaN in this mode.
    * second pass (``means=acc.means()`` of a first pass): accumulates the class-centred
      scatter ``sum (h - mu_y)(h - mu_y)^T`` exactly and, when ``logits`` are given to
      :meth:`update`, the nearest-class-centre mismatches (NC4).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(3).repeat(10); H = torch.randn(30, 4, generator=g); W = torch.randn(3, 4, generator=g)
        >>> acc = CollapseAccumulator(3, 4)
        >>> for part in (slice(0, 15), slice(15, 30)):  # two batches
        ...     acc.update(H[part], y[part])
        >>> acc2 = CollapseAccumulator(3, 4, means=acc.means())
        >>> for part in (slice(0, 15), slice(15, 30)):
        ...     acc2.update(H[part], y[part], H[part] @ W.T)
        >>> streamed, direct = acc2.compute(W), collapse_metrics(H, y, W)
        >>> all(abs(streamed[k] - direct[k]) < 1e-9 for k in ("nc1_papyan", "nc2_etf_W_uncentred", "nc4_ncc_mismatch"))
        True

    References: Papyan, Han & Donoho 2020 (PNAS) define the metrics over the whole training
    set; the two-pass scheme is ours (exact, without storing the N x p features).
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
        means: Tensor | None = None,
    ) -> None:
        check_int("num_classes", num_classes, low=2)
        check_int("dim", dim, low=1)
        self.num_classes, self.dim, self.dtype = num_classes, dim, dtype
        self.counts = torch.zeros(num_classes, dtype=dtype, device=device)
        self.sums = torch.zeros(num_classes, dim, dtype=dtype, device=device)
        self.second = torch.zeros(dim, dim, dtype=dtype, device=device)
        self.fixed_means = None if means is None else means.to(device=device, dtype=dtype)
        if self.fixed_means is not None and self.fixed_means.shape != (num_classes, dim):
            raise ValueError(f"means must have shape {(num_classes, dim)}, got {tuple(self.fixed_means.shape)}")
        self.mismatches = 0
        self.decided = 0
        self.nonfinite = False

    @torch.no_grad()
    def update(self, h: Tensor, y: Tensor, logits: Tensor | None = None) -> None:
        """Add a batch of features ``h`` (B, p) with labels ``y`` (B,) and optional logits (B, C)."""
        h = h.reshape(len(h), -1)
        if h.shape[1] != self.dim:
            raise ValueError(f"features have dim {h.shape[1]}, the accumulator expects {self.dim}")
        if not torch.isfinite(h).all():
            self.nonfinite = True
            return
        h, y = _features_and_labels(h.to(self.sums.device), y.to(self.sums.device), self.num_classes)
        h = h.to(self.dtype)
        self.counts += torch.bincount(y, minlength=self.num_classes).to(self.dtype)
        self.sums.index_add_(0, y, h)
        if self.fixed_means is None:
            self.second += h.T @ h
        else:
            hc = h - self.fixed_means[y]
            self.second += hc.T @ hc
            if logits is not None:
                self.mismatches += _ncc_mismatch_count(h, self.fixed_means, logits.to(h.device))
                self.decided += len(h)

    def means(self) -> Tensor:
        """(C, p) class means of what was seen so far."""
        _require_every_class(self.counts)
        return self.sums / self.counts[:, None]

    def statistics(self, global_mean: str = "samples") -> ClassStatistics:
        check_choice("global_mean", global_mean, GLOBAL_MEANS)
        _require_every_class(self.counts)
        N = self.counts.sum()
        if self.fixed_means is None:
            means = self.means()
            sigma_W = (self.second - (self.counts[:, None] * means).T @ means) / N
        else:
            means = self.fixed_means
            sigma_W = self.second / N
        sigma_W = ((sigma_W + sigma_W.T) / 2).to(torch.float64)
        means = means.to(torch.float64)
        counts = self.counts.to(torch.float64)
        return ClassStatistics(
            counts=counts,
            means=means,
            global_mean=_global_mean(counts, means, global_mean),
            sigma_W=sigma_W,
            centred=None,
            trace_W=float(torch.trace(sigma_W)),
        )

    def compute(
        self,
        W: Tensor,
        b: Tensor | None = None,
        *,
        global_mean: str = "samples",
        nc1: str | Sequence[str] = "papyan",
        center_W: bool = False,
        uncentred: bool = True,
        rtol: float | None = None,
    ) -> dict[str, float]:
        """The metrics of :func:`collapse_metrics` from the accumulated moments."""
        forms = _forms(nc1)
        if self.nonfinite:
            return _nan_metrics(forms, center_W, uncentred, ncc=True)
        out = _metrics_from_stats(
            self.statistics(global_mean), W, b, nc1_forms=forms, center_W=center_W, uncentred=uncentred, rtol=rtol
        )
        out["nc4_ncc_mismatch"] = self.mismatches / self.decided if self.decided else float("nan")
        return out


# ------------------------------------------------------------------------------ hooks
class FeatureHook:
    """Collect the input (default) or output of a module during forward passes.

    With ``input_of=True`` it records what enters e.g. the final ``nn.Linear``: the
    penultimate features, whatever the model (the MSE repository hooks ``model.fc`` the
    same way). Use as a context manager so the hook is always removed.

    References: Zhou et al., ICML 2022, official ``validate_NC.py`` (a forward hook on the
    input of ``model.fc`` collects the penultimate features).

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with FeatureHook(model[2]) as hook:
        ...     _ = model(torch.randn(5, 4))
        >>> hook.features().shape
        torch.Size([5, 3])
    """

    def __init__(self, module: nn.Module, input_of: bool = True) -> None:
        self.module, self.input_of = module, input_of
        self.outputs: list[Tensor] = []
        self._handle: RemovableHandle | None = None

    def _pre(self, module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        self.outputs.append(inputs[0].detach().reshape(len(inputs[0]), -1))

    def _post(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        self.outputs.append(output.detach().reshape(len(output), -1))

    def __enter__(self) -> FeatureHook:
        if self._handle is None:
            self._handle = (
                self.module.register_forward_pre_hook(self._pre)
                if self.input_of
                else self.module.register_forward_hook(self._post)
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def clear(self) -> None:
        self.outputs = []

    def features(self) -> Tensor:
        """All recorded batches, concatenated (N, p)."""
        if not self.outputs:
            raise ValueError("FeatureHook recorded nothing: run a forward pass inside the context")
        return torch.cat(self.outputs)


@torch.no_grad()
def collect_features(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    layer: nn.Module,
    *,
    input_of: bool = True,
    device: Any = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run ``model`` in eval mode over ``(x, y)`` batches; return (features, labels, outputs).

    Features are the input (``input_of=True``) or output of ``layer``; outputs are the
    model's outputs (logits when ``layer`` is the last linear layer). The model's
    train/eval mode is restored afterwards.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
        >>> feats, labels, out = collect_features(model, [(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))], model[2])
        >>> tuple(feats.shape), labels.tolist(), tuple(out.shape)
        ((4, 2), [0, 1, 0, 1], (4, 2))

    References: as :class:`FeatureHook` (official ``validate_NC.py`` of Zhou et al., ICML 2022).
    """
    was_training = model.training
    model.eval()
    labels, outputs = [], []
    try:
        with FeatureHook(layer, input_of=input_of) as hook:
            for x, y in batches:
                out = model(x.to(device) if device is not None else x)
                outputs.append((out[0] if isinstance(out, tuple) else out).detach())
                labels.append(y)
    finally:
        model.train(was_training)
    return hook.features(), torch.cat(labels), torch.cat(outputs)


def evaluate_collapse(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    classifier: nn.Module | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    batch_size: int = 1000,
    center_W: bool = True,
    **metric_kwargs: Any,
) -> tuple[dict[str, float], EvalResult]:
    """Accuracy (:func:`icml22dl.train.evaluate`) and the collapse metrics of a classifier, in one pass.

    The features are the inputs of ``classifier`` (default ``model.fc``, a linear layer with
    ``weight`` and ``bias``) and NC4 uses its outputs (the logits), both recorded by
    :class:`FeatureHook` while :func:`icml22dl.train.evaluate` runs the model in eval mode.

    Args:
        model: the classifier; x, y: inputs and labels on the model's device.
        classifier: the last linear layer (default ``model.fc``).
        transform: applied to each input batch (e.g. :func:`icml22dl.data.mnist_as_rgb32`).
        batch_size: examples per forward pass.
        center_W: as in :func:`collapse_metrics`; metric_kwargs: its other keyword arguments.

    Returns:
        ``(metrics, result)``: :func:`collapse_metrics` (on the CPU) and the
        :class:`icml22dl.train.EvalResult` (accuracy, error, cross-entropy).

    Example:
        >>> model = nn.Sequential(nn.Identity(), nn.Linear(3, 3))
        >>> with torch.no_grad():
        ...     _ = model[1].weight.copy_(torch.eye(3)), model[1].bias.zero_()
        >>> y = torch.arange(3).repeat(4)
        >>> m, result = evaluate_collapse(model, torch.eye(3)[y], y, classifier=model[1])
        >>> result.accuracy, round(m["nc1_papyan"], 12), m["nc4_ncc_mismatch"]
        (1.0, 0.0, 0.0)

    References:
        Papyan, Han & Donoho 2020 (PNAS) and Zhou et al., ICML 2022 (``validate_NC.py`` hooks
        the input of ``model.fc`` the same way).
    """
    layer: nn.Module = model.get_submodule("fc") if classifier is None else classifier
    with FeatureHook(layer) as features, FeatureHook(layer, input_of=False) as outputs:
        result = evaluate(model, x, y, batch_size=batch_size, transform=transform)
    weight: Tensor = getattr(layer, "weight")  # noqa: B009 (a Tensor attribute of any linear layer)
    bias: Tensor | None = getattr(layer, "bias", None)
    W = weight.detach().cpu()
    b = None if bias is None else bias.detach().cpu()
    metrics = collapse_metrics(
        features.features().cpu(),
        y.cpu(),
        W,
        b,
        center_W=center_W,
        logits=outputs.features().cpu(),
        **metric_kwargs,
    )
    return metrics, result


@torch.no_grad()
def collapse_by_layer(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    layers: Mapping[str, nn.Module],
    num_classes: int,
    *,
    input_of: bool = False,
    global_mean: str = "samples",
    nc1: str = "papyan",
) -> dict[str, dict[str, float]]:
    """Layer-wise collapse probe: NC1 and OF/ETF gaps (uncentred and centred) per layer.

    Args:
        model: any module; batches: an iterable of ``(x, y)`` (consumed once; pass a list
            to reuse it); layers: name -> module whose output (or input) is probed.
        num_classes: C.

    Returns:
        ``{name: {"nc1_<form>", "of_gap_means", "etf_gap_means_uncentred",
        "etf_gap_means_centred", "nonfinite_features"}}``; each layer's features are kept
        in memory (N x p per layer) for the duration of the call.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU())
        >>> _ = model[0].weight.data.copy_(torch.eye(3))
        >>> y = torch.arange(3).repeat(2)
        >>> out = collapse_by_layer(model, [(torch.eye(3)[y], y)], {"relu": model[1]}, 3)
        >>> out["relu"]["of_gap_means"], out["relu"]["nc1_papyan"]  # one-hot features: a collapsed OF
        (0.0, 0.0)

    References: Tirer & Bruna, ICML 2022 (uncentred OF vs centred ETF at every layer).
    """
    was_training = model.training
    model.eval()
    hooks = {name: FeatureHook(module, input_of=input_of).__enter__() for name, module in layers.items()}
    labels = []
    try:
        for x, y in batches:
            model(x)
            labels.append(y)
    finally:
        for hook in hooks.values():
            hook.remove()
        model.train(was_training)
    y = torch.cat(labels)
    result = {}
    for name, hook in hooks.items():
        H = hook.features()
        if not torch.isfinite(H).all():
            result[name] = {
                f"nc1_{nc1}": float("nan"),
                "of_gap_means": float("nan"),
                "etf_gap_means_uncentred": float("nan"),
                "etf_gap_means_centred": float("nan"),
                "nonfinite_features": 1.0,
            }
            continue
        stats = class_statistics(H, y, num_classes, global_mean)
        M, Mbar = stats.means, stats.centred_means
        result[name] = {
            f"nc1_{nc1}": _nc1_from_stats(stats, nc1, None),
            "of_gap_means": of_gap(M @ M.T),
            "etf_gap_means_uncentred": etf_gap(M @ M.T),
            "etf_gap_means_centred": etf_gap(Mbar @ Mbar.T),
            "nonfinite_features": 0.0,
        }
    return result
