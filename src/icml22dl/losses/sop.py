"""Sparse over-parameterisation (SOP) of label noise: the per-sample u, v and the SOP / SOP+ loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from icml22dl.validation import check_int, check_number, check_positive

__all__ = ["SOPLoss", "noise_detection_auroc"]


class SOPLoss(nn.Module):
    """SOP / SOP+ training loss with its own per-sample parameters u (N x 1) and v (N x C).

    Math (batch B, one-hot observed labels y_i, p_i = softmax(logits_i), sg = stop-gradient)::

        U_i = clip(u_i^2 y_i, 0, 1)        V_i = clip(v_i^2 (1 - y_i), 0, 1)      s_i = U_i - V_i
        q_i = clip(normalize_1(clip(p_i + U_i - sg(V_i), eps)), eps, 1)
        L_CE  = mean_i -<y_i, log q_i>                                     (to theta and u)
        L_MSE = (1/B) sum_i ||onehot(argmax sg(p_i)) + U_i - V_i - y_i||^2  (to u and v)
        L_B   = -(1/C) sum_c log clip(mean_i q_ic, eps, 1)                 (SOP+, weight ratio_balance)
        L_C   = mean_i KL(sg(softmax(weak_i)) || softmax(strong_i))        (SOP+, weight ratio_consistency)
        L = L_CE + L_MSE + ratio_balance L_B + ratio_consistency L_C

    u and v are trained by plain SGD with their own constant learning rates (no momentum,
    no weight decay: either would move samples outside the batch), stepped before the
    network's optimizer after one backward pass: use :meth:`make_optimizer`. With
    ``sparse=True`` (default) the rows are gathered by a sparse embedding lookup, so the
    gradients of u and v are sparse and an SGD step touches only the batch rows.

    Args:
        num_samples: N, the training-set size (indices in [0, N)).
        num_classes: C >= 2.
        ratio_consistency: lambda_C (SOP+: 0.9; plain SOP: 0).
        ratio_balance: lambda_B (SOP+: 0.1; plain SOP: 0).
        init_std: sigma_0 of u, v ~ N(0, sigma_0^2) (official 1e-8; never 0: the gradient would vanish).
        eps: floor of the clamps and of the L1 normalisation (official 1e-4).
        sparse: sparse gradients for u, v (see above).
        generator: optional generator of the initialisation.

    Example:
        >>> criterion = SOPLoss(8, 3, generator=torch.Generator().manual_seed(0))
        >>> sop_opt = criterion.make_optimizer(lr_u=10.0, lr_v=10.0)
        >>> logits = torch.zeros(4, 3, requires_grad=True)  # the network's outputs on samples 0-3
        >>> loss = criterion(logits, torch.tensor([0, 1, 2, 0]), torch.arange(4))  # (input, target, index)
        >>> round(loss.item(), 4)  # u, v ~ 1e-8: CE log 3, plus MSE (0 + 2 + 2 + 0) / 4 = 1
        2.0986
        >>> loss.backward(); sop_opt.step()  # then the network's optimizer steps
        >>> criterion.noise_scores().shape
        torch.Size([8])

    References:
        Liu, Zhu, Qu, You, "Robust Training under Label Noise by Over-parameterization",
        ICML 2022, Eqs. (6)-(9) and Sec. 3.3 (SOP+); official ``shengliu66/SOP`` ``model/loss.py``
        (eps 1e-4, std 1e-8; CIFAR-100 lr_u 1, lr_v 10; ratio_consistency 0.9, ratio_balance 0.1).
    """

    def __init__(
        self,
        num_samples: int,
        num_classes: int,
        ratio_consistency: float = 0.0,
        ratio_balance: float = 0.0,
        init_std: float = 1e-8,
        eps: float = 1e-4,
        sparse: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("num_samples", num_samples, low=1)
        check_int("num_classes", num_classes, low=2)
        check_positive("ratio_consistency", ratio_consistency, allow_zero=True)
        check_positive("ratio_balance", ratio_balance, allow_zero=True)
        check_positive("init_std", init_std)  # never 0: u = v = 0 has zero gradient
        check_number("eps", eps, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        self.num_samples, self.num_classes = num_samples, num_classes
        self.ratio_consistency, self.ratio_balance = float(ratio_consistency), float(ratio_balance)
        self.eps, self.sparse = float(eps), bool(sparse)
        self.u = nn.Parameter(torch.randn(num_samples, 1, generator=generator) * init_std)
        self.v = nn.Parameter(torch.randn(num_samples, num_classes, generator=generator) * init_std)

    def _one_hot(self, labels: Tensor) -> Tensor:
        if labels.ndim == 2:
            if labels.shape[1] != self.num_classes:
                raise ValueError(f"one-hot labels must have {self.num_classes} columns, got {labels.shape[1]}")
            return labels.to(torch.float32)
        return F.one_hot(labels.long(), self.num_classes).to(torch.float32)

    def forward(self, logits: Tensor, target: Tensor, index: Tensor, logits_strong: Tensor | None = None) -> Tensor:
        """The loss of a mini-batch, ``criterion(logits, target, index)``: input and target first, as in
        PyTorch's losses, then the samples' positions that select their u and v rows.

        Args:
            logits: (B, C) network outputs (the weak view under SOP+).
            target: (B,) observed classes or (B, C) one-hot.
            index: (B,) positions of the batch's samples in the training set.
            logits_strong: optional (B, C) outputs on the strong view (consistency term).

        Returns:
            The scalar loss.
        """
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"logits must have shape (B, {self.num_classes}), got {tuple(logits.shape)}")
        if index.shape != logits.shape[:1]:
            raise ValueError(f"index must have shape ({logits.shape[0]},), got {tuple(index.shape)}")
        y = self._one_hot(target).to(logits.device)
        u = F.embedding(index, self.u, sparse=self.sparse)
        v = F.embedding(index, self.v, sparse=self.sparse)
        big_u = (u * u * y).clamp(0.0, 1.0)
        big_v = (v * v * (1.0 - y)).clamp(0.0, 1.0)
        eps = self.eps
        q = (logits.softmax(dim=1) + big_u - big_v.detach()).clamp(min=eps)
        q = F.normalize(q, p=1.0, dim=1, eps=eps).clamp(min=eps, max=1.0)
        hard = F.one_hot(logits.detach().argmax(dim=1), self.num_classes).to(y.dtype)
        batch = logits.shape[0]
        loss = -(y * q.log()).sum(dim=1).mean() + (hard + big_u - big_v - y).pow(2).sum() / batch
        if self.ratio_balance > 0:
            mean_q = q.mean(dim=0).clamp(min=eps, max=1.0)
            loss = loss + self.ratio_balance * (-mean_q.log().mean())
        if logits_strong is not None and self.ratio_consistency > 0:
            if logits_strong.shape != logits.shape:
                raise ValueError(
                    f"logits_strong must have shape {tuple(logits.shape)}, got {tuple(logits_strong.shape)}"
                )
            target = logits.detach().softmax(dim=1)
            kl = F.kl_div(logits_strong.log_softmax(dim=1), target, reduction="none").sum(dim=1)
            loss = loss + self.ratio_consistency * kl.mean()
        return loss

    def param_groups(self, lr_u: float, lr_v: float) -> list[dict]:
        """Optimizer groups for u and v: plain SGD settings, no momentum, no weight decay."""
        check_positive("lr_u", lr_u)
        check_positive("lr_v", lr_v)
        return [
            {"params": [self.u], "lr": lr_u, "momentum": 0.0, "weight_decay": 0.0},
            {"params": [self.v], "lr": lr_v, "momentum": 0.0, "weight_decay": 0.0},
        ]

    def make_optimizer(self, lr_u: float, lr_v: float) -> torch.optim.SGD:
        """``torch.optim.SGD`` over :meth:`param_groups` (sparse gradients supported)."""
        return torch.optim.SGD(self.param_groups(lr_u, lr_v), lr=lr_u, momentum=0.0, weight_decay=0.0)

    @torch.no_grad()
    def noise_scores(self) -> Tensor:
        """(N,) u_i^2: a large value flags a probably wrong label (rank for label-issue detection)."""
        return self.u.detach().squeeze(1).pow(2)

    @torch.no_grad()
    def corrected_labels(self, labels: Tensor) -> Tensor:
        """(N,) argmax(y_i - s_i) for the observed labels of the whole training set."""
        y = self._one_hot(labels).to(self.u.device)
        if y.shape[0] != self.num_samples:
            raise ValueError(f"labels must cover all {self.num_samples} samples, got {y.shape[0]}")
        s = (self.u.pow(2) * y).clamp(0, 1) - (self.v.pow(2) * (1 - y)).clamp(0, 1)
        return (y - s).argmax(dim=1)


def noise_detection_auroc(scores: Tensor, is_noisy: Tensor) -> float:
    """Area under the ROC curve of ``scores`` ranking the noisy labels first (Mann-Whitney U, ties counted 1/2).

    Math: ``AUROC = P(score_noisy > score_clean) + P(equal) / 2``, from average ranks:
    ``(R_noisy - n1 (n1 + 1) / 2) / (n1 n0)``.

    Args:
        scores: (N,) scores, larger = more likely noisy (SOP: ``SOPLoss.noise_scores()``).
        is_noisy: (N,) bool, the truly-flipped labels.

    Returns:
        The AUROC in [0, 1]; NaN if either class is empty.

    Example:
        >>> noise_detection_auroc(torch.tensor([0.1, 0.9, 0.5]), torch.tensor([False, True, False]))
        1.0

    References:
        Hanley & McNeil (1982): the AUROC equals the Mann-Whitney U statistic over ``n1 n0``;
        SOP ranks labels by ``u_i^2`` (Liu et al., ICML 2022, Sec. 3; docs/papers/sop.md#method).
    """
    if scores.shape != is_noisy.shape or scores.ndim != 1:
        raise ValueError(
            f"scores and is_noisy must be 1-D of one shape, got {tuple(scores.shape)}, {tuple(is_noisy.shape)}"
        )
    s = scores.detach().double().cpu()
    pos = is_noisy.bool().cpu()
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = s.argsort()
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=s.dtype)
    values, inverse = s.unique(return_inverse=True)  # average ranks over ties
    sums = torch.zeros(len(values), dtype=s.dtype).index_add_(0, inverse, ranks)
    counts = torch.zeros(len(values), dtype=s.dtype).index_add_(0, inverse, torch.ones_like(s))
    avg = (sums / counts)[inverse]
    return float((avg[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
