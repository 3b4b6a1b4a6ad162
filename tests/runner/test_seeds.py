import pytest
import torch

from icml22dl.runner import derive_seed as exported_derive_seed
from icml22dl.runner import torch_seeded as exported_torch_seeded
from icml22dl.runner.seeds import MAX_SEED, derive_generator, derive_seed, parse_seeds, seed_everything, torch_seeded


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


def test_torch_seeded_draws_what_manual_seed_drew_and_restores_the_global_state():
    torch.manual_seed(7)
    expected_weight = torch.nn.Linear(3, 2).weight.detach().clone()
    expected_draw = torch.rand(4)
    torch.manual_seed(123)
    outside = torch.get_rng_state()
    with torch_seeded(7):
        weight = torch.nn.Linear(3, 2).weight.detach().clone()
        draw = torch.rand(4)
    assert torch.equal(weight, expected_weight) and torch.equal(draw, expected_draw)
    assert torch.equal(torch.get_rng_state(), outside)  # nothing leaked to the code around it
    torch.manual_seed(123)
    untouched = torch.rand(3)
    torch.set_rng_state(outside)
    with torch_seeded(99):
        torch.rand(1000)
    assert torch.equal(torch.rand(3), untouched)


def test_torch_seeded_restores_the_state_after_an_exception_and_nests():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"):
        with torch_seeded(1):
            torch.rand(10)
            raise RuntimeError("boom")
    assert torch.equal(torch.get_rng_state(), before)
    with torch_seeded(1):
        a = torch.rand(2)
        with torch_seeded(2):
            torch.rand(5)
        b = torch.rand(2)
    torch.manual_seed(1)
    assert torch.equal(a, torch.rand(2)) and torch.equal(b, torch.rand(2))
    assert exported_torch_seeded is torch_seeded


@pytest.mark.parametrize("seed", [0, MAX_SEED, 2**63, 2**64 - 1])
def test_torch_seeded_accepts_every_64_bit_seed(seed):
    with torch_seeded(seed):
        assert torch.initial_seed() == seed


@pytest.mark.parametrize("seed", [-1, 2**64, True, 1.5, "3", None])
def test_torch_seeded_rejects_bad_seeds_naming_them(seed):
    with pytest.raises(ValueError, match=f"seed={seed!r}".replace("(", r"\(").replace(")", r"\)")):
        with torch_seeded(seed):
            pass


def test_derive_seed_is_stable_distinct_and_matches_derive_generator():
    assert derive_seed(0, 0) == 7896617691693857887  # pinned: stored results depend on it
    assert derive_seed(3, 7) == 4782766539338417736
    values = {derive_seed(seed, stream) for seed in range(5) for stream in range(5)}
    assert len(values) == 25 and all(0 <= v < 2**63 for v in values)
    for seed, stream in [(0, 0), (1, 2), (MAX_SEED, 9)]:
        assert derive_seed(seed, stream) == derive_generator(seed, stream).initial_seed() >> 1
    with torch_seeded(derive_seed(4, 1)):  # a derived seed is a valid torch seed
        torch.rand(1)
    assert exported_derive_seed is derive_seed


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, True, 2.0])
def test_derive_seed_and_generator_reject_bad_run_seeds(seed):
    for function in (derive_seed, derive_generator):
        with pytest.raises(ValueError, match=f"seed={seed!r} is out of range"):
            function(seed, 0)
