"""Tests of icml22dl.data.noise: realised rates, flip directions, determinism."""

import math

import pytest
import torch

from icml22dl.data.noise import CIFAR10_ASYMMETRIC, MNIST_ASYMMETRIC, asymmetric_noise, symmetric_noise

N, C = 100_000, 10


def _labels(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, C, (N,), generator=torch.Generator().manual_seed(seed))


def _within_4_std(observed: float, p: float, n: int) -> bool:
    return abs(observed - p) <= 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_symmetric_exclude_true_flips_at_rate_to_other_classes(rate):
    labels = _labels()
    noisy, is_noisy = symmetric_noise(labels, rate, C, torch.Generator().manual_seed(1), include_true_class=False)
    assert _within_4_std(is_noisy.double().mean().item(), rate, N)
    assert torch.equal(is_noisy, noisy != labels)
    # Flipped labels are uniform over the 9 other classes: check class 0's flips.
    targets = noisy[is_noisy & (labels == 0)]
    counts = torch.bincount(targets, minlength=C)
    assert counts[0] == 0
    for count in counts[1:].tolist():
        assert _within_4_std(count / len(targets), 1 / (C - 1), len(targets))


@pytest.mark.parametrize("rate", [0.2, 0.5, 1.0])
def test_symmetric_include_true_realises_rate_times_c_minus_1_over_c(rate):
    labels = _labels()
    noisy, is_noisy = symmetric_noise(labels, rate, C, torch.Generator().manual_seed(2), include_true_class=True)
    expected = rate * (C - 1) / C
    assert _within_4_std(is_noisy.double().mean().item(), expected, N)
    assert torch.equal(is_noisy, noisy != labels)


def test_symmetric_extremes_and_dtype():
    labels = _labels().to(torch.int32)
    noisy, is_noisy = symmetric_noise(labels, 0.0, C, torch.Generator().manual_seed(0), include_true_class=False)
    assert torch.equal(noisy, labels) and not is_noisy.any()
    noisy, is_noisy = symmetric_noise(labels, 1.0, C, torch.Generator().manual_seed(0), include_true_class=False)
    assert is_noisy.all() and noisy.dtype == torch.int32
    assert int(noisy.min()) >= 0 and int(noisy.max()) < C


def test_same_seed_same_result_and_nested_rates():
    labels = _labels()
    first = symmetric_noise(labels, 0.3, C, torch.Generator().manual_seed(7), include_true_class=False)
    second = symmetric_noise(labels, 0.3, C, torch.Generator().manual_seed(7), include_true_class=False)
    other = symmetric_noise(labels, 0.3, C, torch.Generator().manual_seed(8), include_true_class=False)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])
    higher = symmetric_noise(labels, 0.5, C, torch.Generator().manual_seed(7), include_true_class=False)
    assert not (first[1] & ~higher[1]).any()


@pytest.mark.parametrize("mapping", [CIFAR10_ASYMMETRIC, MNIST_ASYMMETRIC], ids=["cifar10", "mnist"])
def test_asymmetric_flips_only_along_the_mapping(mapping):
    labels = _labels()
    rate = 0.4
    noisy, is_noisy = asymmetric_noise(labels, rate, mapping, torch.Generator().manual_seed(3))
    assert torch.equal(is_noisy, noisy != labels)
    for source in range(C):
        members = labels == source
        if source in mapping:
            assert set(noisy[members & is_noisy].tolist()) == {mapping[source]}
            assert _within_4_std(is_noisy[members].double().mean().item(), rate, int(members.sum()))
        else:
            assert not is_noisy[members].any()
    again = asymmetric_noise(labels, rate, mapping, torch.Generator().manual_seed(3))
    assert torch.equal(again[0], noisy)


def test_small_integer_dtypes_are_labels_not_masks():
    labels = torch.tensor([2, 3, 0, 7], dtype=torch.uint8)
    noisy, is_noisy = asymmetric_noise(labels, 1.0, MNIST_ASYMMETRIC, torch.Generator().manual_seed(0))
    assert noisy.tolist() == [7, 8, 0, 1] and noisy.dtype == torch.uint8
    assert is_noisy.tolist() == [True, True, False, True]


def test_presets():
    assert dict(CIFAR10_ASYMMETRIC) == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    assert dict(MNIST_ASYMMETRIC) == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
    with pytest.raises(TypeError):
        CIFAR10_ASYMMETRIC[0] = 1


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_rate_outside_unit_interval_is_rejected(rate):
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=f"rate={rate!r}"):
        symmetric_noise(_labels(), rate, C, generator, include_true_class=True)
    with pytest.raises(ValueError, match=f"rate={rate!r}"):
        asymmetric_noise(_labels(), rate, MNIST_ASYMMETRIC, generator)


def test_bad_labels_and_classes_are_rejected():
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="num_classes=10"):
        symmetric_noise(torch.tensor([0, 10]), 0.1, C, generator, include_true_class=False)
    with pytest.raises(ValueError, match="1-D integer"):
        symmetric_noise(torch.zeros(3), 0.1, C, generator, include_true_class=False)
    with pytest.raises(ValueError, match="-1"):
        asymmetric_noise(torch.tensor([0, 1]), 0.1, {-1: 2}, generator)


@pytest.mark.parametrize(
    "num_classes, message",
    [(1, "num_classes=1 is out of range: must be >= 2"), (2.0, "num_classes=2.0 has the wrong type: expected int")],
)
def test_num_classes_is_checked_naming_the_value(num_classes, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        symmetric_noise(torch.tensor([0, 1]), 0.1, num_classes, torch.Generator(), include_true_class=True)


def test_rate_messages_give_the_allowed_range():
    with pytest.raises(ValueError, match=r"^rate=1\.5 is out of range: must be >= 0 and <= 1$"):
        asymmetric_noise(torch.tensor([0, 1]), 1.5, MNIST_ASYMMETRIC, torch.Generator())
    with pytest.raises(ValueError, match=r"^rate=True has the wrong type: expected a real number$"):
        symmetric_noise(torch.tensor([0, 1]), True, 2, torch.Generator(), include_true_class=True)
