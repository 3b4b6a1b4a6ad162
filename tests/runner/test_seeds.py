import pytest
import torch

from icml22dl.runner.seeds import derive_generator, parse_seeds, seed_everything


def test_parse_seeds():
    assert parse_seeds("0-2") == [0, 1, 2]
    assert parse_seeds("0,3,5-6") == [0, 3, 5, 6]
    assert parse_seeds("7") == [7]


@pytest.mark.parametrize("text", ["2-0", "-1", "a", "0,0", "0-99999999999", ""])
def test_bad_seeds_are_rejected_with_the_text(text):
    with pytest.raises(ValueError, match="seeds="):
        parse_seeds(text)


def test_seed_everything_is_reproducible():
    seed_everything(3)
    a = torch.rand(4)
    seed_everything(3)
    assert torch.equal(a, torch.rand(4))
    with pytest.raises(ValueError, match="seed=-1"):
        seed_everything(-1)


def test_derived_streams_are_independent_and_stable():
    a = torch.rand(5, generator=derive_generator(0, 0))
    assert torch.equal(a, torch.rand(5, generator=derive_generator(0, 0)))
    assert not torch.equal(a, torch.rand(5, generator=derive_generator(0, 1)))
    assert not torch.equal(a, torch.rand(5, generator=derive_generator(1, 0)))
