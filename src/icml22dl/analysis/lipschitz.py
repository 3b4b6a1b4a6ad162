"""Certificates of Lipschitz networks and the orthogonality error of a layer (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from icml22dl.validation import check_int, check_positive

__all__ = [
    "Certificate",
    "certificate_violations",
    "certified_radius",
    "certify",
    "certify_model",
    "layer_jacobian",
    "logit_margin",
    "orthogonality_error",
]


def logit_margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """f_y - max_{j != y} f_j per example (negative when misclassified).

    Example:
        >>> logit_margin(torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5]]), torch.tensor([0, 1]))
        tensor([ 2.0000, -0.5000])

    References:
        Tsuzuku, Sato & Sugiyama, "Lipschitz-Margin Training", NeurIPS 2018 (the prediction margin).
    """
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (B, C) with C >= 2, got shape {tuple(logits.shape)}")
    correct = logits.gather(1, target[:, None])[:, 0]
    others = logits.scatter(1, target[:, None], float("-inf"))
    return correct - others.max(dim=1).values


def certified_radius(logits: torch.Tensor, target: torch.Tensor, lipschitz: float = 1.0) -> torch.Tensor:
    """The l2 radius within which an L-Lipschitz classifier's prediction provably stays y.

    Math: r = max(0, f_y - max_{j != y} f_j) / (sqrt(2) L): each logit difference f_y - f_j is
    sqrt(2) L-Lipschitz in l2 when f is L-Lipschitz; 0 for a misclassified example.

    Args:
        logits: (B, C); target: (B,) labels; lipschitz: L (> 0), the l2 Lipschitz constant of
        the logits as a function of the input (1 for an orthogonal network; 1/sigma_min of a
        normalisation otherwise).

    Returns:
        (B,) radii.

    Example:
        >>> certified_radius(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
        tensor([1.4142])

    References:
        Tsuzuku, Sato & Sugiyama (2018); Su et al., ICML 2022, Sec. 6 (certified at eps iff
        f_y - max_j f_j > sqrt(2) L eps).
    """
    check_positive("lipschitz", lipschitz)
    return logit_margin(logits, target).clamp_min(0) / (math.sqrt(2) * lipschitz)


def certify(logits: torch.Tensor, target: torch.Tensor, eps: float, lipschitz: float = 1.0) -> torch.Tensor:
    """Boolean (B,): prediction y provably constant on the l2 ball of radius ``eps``.

    Math: f_y - max_{j != y} f_j > sqrt(2) L eps. See :func:`certified_radius`.

    Example:
        >>> certify(torch.tensor([[3.0, 1.0], [1.0, 1.2]]), torch.tensor([0, 0]), eps=0.7).tolist()
        [True, False]

    References:
        Tsuzuku, Sato & Sugiyama (NeurIPS 2018); Su et al., ICML 2022, Sec. 6.
    """
    check_positive("eps", eps, allow_zero=True)
    check_positive("lipschitz", lipschitz)
    return logit_margin(logits, target) > math.sqrt(2) * lipschitz * eps


def layer_jacobian(
    layer: Callable[[Tensor], Tensor], input_shape: tuple[int, ...], dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The full Jacobian of a linear layer, (out_dim, in_dim), by pushing the identity basis through it.

    The ``in_dim`` basis vectors go through ``layer`` as one batch (exact for a linear layer;
    for a piecewise-linear one, the Jacobian at 0 only where it is linear around 0).

    Example:
        >>> layer_jacobian(lambda x: 2 * x.flip(-1), (2,))
        tensor([[0., 2.],
                [2., 0.]], dtype=torch.float64)

    References:
        The brute-force reference of Su et al., ICML 2022, Sec. 6.1 (orthogonality from the
        Jacobian's singular values).
    """
    dim = math.prod(input_shape)
    eye = torch.eye(dim, dtype=dtype).reshape(dim, *input_shape)
    with torch.no_grad():
        out = layer(eye)
    return out.reshape(dim, -1).T


def orthogonality_error(
    layer: Callable[[Tensor], Tensor], input_shape: tuple[int, ...], dtype: torch.dtype = torch.float64
) -> dict[str, float]:
    """sigma_min, sigma_max and max |sigma - 1| of a linear layer's full Jacobian (brute force).

    Args:
        layer: a linear map of a (B, *input_shape) batch (e.g. a convolution without bias), in
            ``dtype`` already; input_shape: one example's shape (C, H, W); dtype: of the basis.

    Returns:
        ``{"sigma_min", "sigma_max", "max_abs_dev"}`` over the min(m, n) singular values.

    Example:
        >>> err = orthogonality_error(lambda x: x @ torch.diag(torch.tensor([1.0, 0.5], dtype=x.dtype)), (2,))
        >>> err["sigma_min"], err["sigma_max"], err["max_abs_dev"]
        (0.5, 1.0, 0.5)

    References:
        Su et al., ICML 2022, Sec. 6.1 (orthogonality measured from the Jacobian's spectrum).
    """
    sv = torch.linalg.svdvals(layer_jacobian(layer, input_shape, dtype))
    return {"sigma_min": sv.min().item(), "sigma_max": sv.max().item(), "max_abs_dev": (sv - 1).abs().max().item()}


@dataclass(frozen=True)
class Certificate:
    """Per-point outcome of certifying a Lipschitz classifier on a labelled set.

    Attributes:
        radius: (N,) certified l2 radii (0 where misclassified), :func:`certified_radius`.
        correct: (N,) bool, ``argmax f(x) == y``.

    Example:
        >>> cert = Certificate(radius=torch.tensor([0.0, 0.3, 0.8]), correct=torch.tensor([False, True, True]))
        >>> cert.accuracy, cert.certified_accuracy(0.5), cert.certified(0.2).tolist()
        (0.6666666666666666, 0.3333333333333333, [False, True, True])

    References:
        Su et al., ICML 2022, Sec. 6 (clean and certified accuracy of Lipschitz networks).
    """

    radius: Tensor
    correct: Tensor

    @property
    def accuracy(self) -> float:
        """Clean accuracy: the share of correctly classified points."""
        return int(self.correct.sum()) / len(self.correct)

    def certified(self, eps: float) -> Tensor:
        """(N,) bool: certified at radius ``eps`` (``radius > eps``)."""
        return self.radius > eps

    def certified_accuracy(self, eps: float) -> float:
        """The share of points certified at radius ``eps`` (certified accuracy, the papers' "provable" column)."""
        return int(self.certified(eps).sum()) / len(self.radius)


@torch.no_grad()
def certify_model(
    model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, *, lipschitz: float = 1.0, batch_size: int = 500
) -> Certificate:
    """Certified radii and correctness of an L-Lipschitz classifier on ``(x, y)``, in batches, without gradients.

    Math: ``r_i = max(0, f_y(x_i) - max_{j != y} f_j(x_i)) / (sqrt(2) L)``; the prediction at
    ``x_i`` provably stays ``y_i`` on the open l2 ball of radius ``r_i``. The model is used in
    its current mode (eval mode for certification).

    Args:
        model: maps inputs to logits; L-Lipschitz in l2 (``L = 1`` for an orthogonal network).
        x, y: inputs and labels.
        lipschitz: L (> 0).
        batch_size: points per forward pass (>= 1).

    Returns:
        A :class:`Certificate`.

    Example:
        >>> cert = certify_model(lambda z: z, torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        >>> cert.accuracy, cert.certified_accuracy(1.0), cert.certified_accuracy(1.5)
        (0.5, 0.5, 0.0)

    References:
        Tsuzuku, Sato & Sugiyama (NeurIPS 2018); Su et al., ICML 2022, Sec. 6 (certified
        accuracy at eps 36/255 on CIFAR-10).
    """
    check_positive("lipschitz", lipschitz)
    check_int("batch_size", batch_size, low=1)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"x and y must be non-empty and of one length: {len(x)} and {len(y)}")
    logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    return Certificate(radius=certified_radius(logits, y, lipschitz), correct=logits.argmax(1) == y)


@torch.no_grad()
def certificate_violations(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    attack: Callable[[Tensor, Tensor], Tensor],
    *,
    batch_size: int = 500,
) -> int:
    """How many certified points an attack flips: a sound certificate gives 0.

    ``(x, y)`` should hold points certified at the attack's radius; ``attack(x, y) -> x_adv``
    searches inside that radius (e.g. :func:`icml22dl.attacks.pgd_l2`). Any point whose
    prediction at ``x_adv`` differs from ``y`` is a counterexample to the certificate (a
    wrong Lipschitz constant, a layer that is not orthogonal, or a bug).

    Args:
        model: maps inputs to logits.
        x, y: certified inputs and their labels.
        attack: the search, run with gradients enabled.
        batch_size: points per forward pass on ``x_adv``.

    Returns:
        The number of flipped points.

    Example:
        >>> model = lambda z: z  # logits = inputs, 1-Lipschitz
        >>> x, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])  # certified radius sqrt(2)
        >>> push = lambda a, b: a + torch.tensor([-0.9, 0.9])  # l2 step 1.27 < sqrt(2)
        >>> certificate_violations(model, x, y, push)
        0

    References:
        Su et al., ICML 2022, Sec. 6 and the official evaluation (PGD-l2 against the
        certificates; docs/papers/paraunitary.md#claim-and-thresholds).
    """
    check_int("batch_size", batch_size, low=1)
    with torch.enable_grad():
        x_adv = attack(x, y)
    logits = torch.cat([model(x_adv[i : i + batch_size]) for i in range(0, len(x_adv), batch_size)])
    return int((logits.argmax(1) != y).sum())
