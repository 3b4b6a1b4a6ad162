"""The batched augmentations reject bad arguments naming the value (see also test_indexed_augment.py)."""

import pytest
import torch

from icml22dl.data import WeakStrongAugment, cutout, random_crop_flip


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: random_crop_flip(x, -1), "padding=-1 is out of range: must be >= 0"),
        (lambda x: random_crop_flip(x, 1.5), "padding=1.5 has the wrong type: expected int"),
        (lambda x: cutout(x, 0), "size=0 is out of range: must be >= 1"),
        (lambda x: random_crop_flip(x[0], 1), "images must have shape (N, C, H, W)"),
        (lambda x: WeakStrongAugment(padding=-2), "padding=-2 is out of range"),
        (lambda x: WeakStrongAugment(cutout_size=0), "cutout_size=0 is out of range: must be >= 1"),
        (lambda x: WeakStrongAugment(jitter=1.0), "jitter=1.0 is out of range"),
    ],
)
def test_bad_arguments_name_the_value(call, message):
    with pytest.raises(ValueError) as info:
        call(torch.zeros(2, 1, 4, 4))
    assert message in str(info.value)


def test_zero_padding_without_flip_is_the_identity_and_draws_nothing():
    x = torch.rand(3, 2, 5, 5)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_crop_flip(x, 0, flip=False, generator=g), x)
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(0).get_state())


def test_cutout_blanks_at_most_a_square_per_image():
    out = cutout(torch.ones(16, 1, 8, 8), 3, torch.Generator().manual_seed(0), value=-1.0)
    blanked = (out == -1).flatten(1).sum(1)
    assert ((blanked >= 1) & (blanked <= 9)).all() and (out[out != -1] == 1).all()
