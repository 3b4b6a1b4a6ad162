"""Index-returning wrappers and the batched augmentations, against plain per-image loops."""

import pytest
import torch
from torch.utils.data import TensorDataset

from icml22dl.data import IndexedDataset, TwoViewDataset, WeakStrongAugment, cutout, pad_crop_flip, random_crop_flip


def test_wrappers_return_the_index():
    ds = TensorDataset(torch.arange(10.0)[:, None], torch.arange(10) % 3)
    assert len(IndexedDataset(ds)) == 10
    x, y, i = IndexedDataset(ds)[7]
    assert (x.item(), y.item(), i) == (7.0, 1, 7)
    w, s, y, i = TwoViewDataset(ds, lambda a: a + 1, lambda a: a * 2)[4]
    assert (w.item(), s.item(), y.item(), i) == (5.0, 8.0, 1, 4)


def test_crop_matches_a_per_image_loop():
    x = torch.rand(5, 2, 6, 6)
    out = random_crop_flip(x, 2, flip=False, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    dy = (torch.rand(5, generator=g) * 5).long()
    dx = (torch.rand(5, generator=g) * 5).long()
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for n in range(5):
        assert torch.equal(out[n], padded[n, :, dy[n] : dy[n] + 6, dx[n] : dx[n] + 6])


def test_cutout_blanks_a_square_and_views_differ():
    x = torch.ones(4, 1, 8, 8)
    out = cutout(x, 3, torch.Generator().manual_seed(1))
    zeros = (out == 0).flatten(1).sum(1)
    assert ((zeros >= 1) & (zeros <= 9)).all()
    weak, strong = WeakStrongAugment(padding=1, flip=True, cutout_size=3)(
        torch.rand(4, 1, 8, 8), torch.Generator().manual_seed(2)
    )
    assert weak.shape == strong.shape == (4, 1, 8, 8) and not torch.equal(weak, strong)


def test_pad_crop_flip_matches_a_per_image_loop():
    # randint column offsets, then row offsets, then flips, as in a torchvision-style loop.
    x = torch.rand(6, 3, 5, 7)
    out = pad_crop_flip(x, 2, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dx = torch.randint(0, 5, (6,), generator=g)
    dy = torch.randint(0, 5, (6,), generator=g)
    flip = torch.rand(6, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for n in range(6):
        crop = padded[n, :, dy[n] : dy[n] + 5, dx[n] : dx[n] + 7]
        assert torch.equal(out[n], crop.flip(2) if flip[n] else crop)


def test_invalid_augmentation_arguments():
    with pytest.raises(ValueError, match="padding"):
        pad_crop_flip(torch.zeros(1, 1, 4, 4), -1)
    with pytest.raises(ValueError, match="jitter"):
        WeakStrongAugment(jitter=1.0)
    with pytest.raises(ValueError, match="weak"):
        TwoViewDataset([], None, lambda a: a)
