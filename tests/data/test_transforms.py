"""ChannelStandardize against a per-channel loop."""

import pytest
import torch

from icml22dl.data import CIFAR10_MEAN, CIFAR10_STD, ChannelStandardize


def test_fit_matches_a_per_channel_loop():
    images = torch.randint(0, 256, (6, 3, 5, 5), dtype=torch.uint8)
    out = ChannelStandardize.fit(images)(images)
    for c in range(3):
        channel = images[:, c].double() / 255
        expected = (channel - channel.mean()) / channel.std()
        torch.testing.assert_close(out[:, c].double(), expected, rtol=1e-5, atol=1e-5)


def test_given_statistics():
    standardize = ChannelStandardize(CIFAR10_MEAN, CIFAR10_STD)
    out = standardize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    expected = [(1 - m) / s for m, s in zip(CIFAR10_MEAN, CIFAR10_STD)]
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor(expected))
    with pytest.raises(ValueError, match="std"):
        ChannelStandardize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="reference"):
        ChannelStandardize.fit(torch.zeros(3, 4))
