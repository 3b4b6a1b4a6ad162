"""Dataset wrappers that also return each sample's index (for per-sample parameters such as SOP's u, v)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

__all__ = ["IndexedDataset", "TwoViewDataset"]


class IndexedDataset(Dataset):
    """Wrap a dataset of ``(x, y)`` pairs so that item i is ``(x, y, i)``.

    Args:
        dataset: any map-style dataset returning ``(x, y)``.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> ds = IndexedDataset(TensorDataset(torch.zeros(3, 2), torch.tensor([0, 1, 0])))
        >>> x, y, i = ds[2]
        >>> (tuple(x.shape), int(y), i, len(ds))
        ((2,), 0, 2, 3)

    References:
        Liu et al., ICML 2022 (SOP), Sec. 3: u_i and v_i are indexed by the sample; the
        official loaders (shengliu66/SOP) return ``(image, label, index)``.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        x, y = self.dataset[index]
        return x, y, index


class TwoViewDataset(Dataset):
    """Item i is ``(weak(x), strong(x), y, i)``: the two views of SOP+'s consistency term.

    Args:
        dataset: map-style dataset returning ``(x, y)``.
        weak: transform of the weak view (e.g. crop + flip).
        strong: transform of the strong view (e.g. crop + flip + cutout).

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> ds = TwoViewDataset(TensorDataset(torch.ones(4, 2), torch.arange(4)), lambda a: a + 1, lambda a: -a)
        >>> weak, strong, y, i = ds[3]
        >>> (weak.tolist(), strong.tolist(), int(y), i)
        ([2.0, 2.0], [-1.0, -1.0], 3, 3)

    References:
        Liu et al., ICML 2022, Sec. 3.3 (SOP+); official data loader returns
        ``(weak, strong, label, index)``.
    """

    def __init__(self, dataset: Any, weak: Callable[[Any], Any], strong: Callable[[Any], Any]) -> None:
        for name, transform in (("weak", weak), ("strong", strong)):
            if not callable(transform):
                raise ValueError(f"{name}={transform!r} has the wrong type: expected a callable")
        self.dataset, self.weak, self.strong = dataset, weak, strong

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any, Any, int]:
        x, y = self.dataset[index]
        return self.weak(x), self.strong(x), y, index
