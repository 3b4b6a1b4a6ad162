"""One-hidden-layer cubic convolutional network over patches of Jelassi & Li (ICML 2022)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from icml22dl.validation import check_int, check_number

__all__ = ["CubicPatchCNN"]


class CubicPatchCNN(nn.Module):
    r"""Cubic-activation CNN with one filter bank shared over patches and a fixed output layer of ones.

    .. math:: f_W(X) = \sum_{r=1}^{m} \sum_{j=1}^{P} \langle w_r, X[j] \rangle^3,
        \qquad w_r \sim \mathcal{N}(0, \sigma_0^2 I_d)

    Computed as one matrix product ``X @ W.T`` of shape ``(B, P, m)``, cubed and summed.

    Args:
        dim: patch dimension ``d``, in ``[1, inf)``.
        filters: number of filters ``m``, in ``[1, inf)``.
        init_std: initial standard deviation ``sigma_0``, in ``[0, inf)``.
        generator: source of the initial weights (the global generator when ``None``).

    Returns:
        ``forward(x)`` maps inputs ``(B, P, d)`` to outputs ``(B,)``.

    Example:
        >>> model = CubicPatchCNN(30, 10, 0.5 / 30**0.5, generator=torch.Generator().manual_seed(0))
        >>> model(torch.randn(4, 5, 30)).shape
        torch.Size([4])

    References:
        S. Jelassi, Y. Li. Towards understanding how momentum improves generalization in deep
        learning. ICML 2022, PMLR 162:9965-10040, arXiv:2207.05931 (the one-hidden-layer cubic CNN).
    """

    def __init__(self, dim: int, filters: int, init_std: float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_int("dim", dim, low=1)
        check_int("filters", filters, low=1)
        check_number("init_std", init_std, low=0.0)
        self.dim = dim
        self.filters = filters
        device = generator.device if generator is not None else None
        self.weight = nn.Parameter(torch.randn(filters, dim, generator=generator, device=device) * init_std)

    def forward(self, x: Tensor) -> Tensor:
        """Return :math:`f_W(X)` for a batch ``x`` of shape ``(B, P, d)``, shape ``(B,)``."""
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (B, P, {self.dim}), got {tuple(x.shape)}")
        return (x @ self.weight.T).pow(3).sum(dim=(1, 2))

    @torch.no_grad()
    def alignment(self, w_star: Tensor) -> Tensor:
        r"""Feature alignment :math:`c = \max_r \langle w_r, w^* \rangle` (signed), a 0-dim tensor."""
        if w_star.shape != (self.dim,):
            raise ValueError(f"w_star must have shape ({self.dim},), got {tuple(w_star.shape)}")
        return (self.weight @ w_star).max()

    @torch.no_grad()
    def memorisation(self, noise_patches: Tensor) -> Tensor:
        r"""Noise memorisation :math:`\max_{r, \xi} |\langle w_r, \xi \rangle|` over patches ``(..., d)``."""
        if noise_patches.shape[-1:] != (self.dim,) or noise_patches.numel() == 0:
            raise ValueError(
                f"noise_patches must have shape (..., {self.dim}) with at least one patch, "
                f"got {tuple(noise_patches.shape)}"
            )
        return (noise_patches.reshape(-1, self.dim) @ self.weight.T).abs().max()

    def extra_repr(self) -> str:
        return f"dim={self.dim}, filters={self.filters}"
