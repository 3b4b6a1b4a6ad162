from dataclasses import dataclass

import pytest

from icml22dl.runner.config import ExperimentConfig, config_hash, param
from tests.runner.toy_paper import Config


def test_construction_validates_ranges_choices_and_types():
    with pytest.raises(ValueError, match=r"Config.lr=-1.0 is out of range: must be > 0.0"):
        Config(lr=-1.0)
    with pytest.raises(ValueError, match=r"Config.lr=0.0 is out of range"):
        Config(lr=0.0)
    with pytest.raises(
        ValueError, match=r"Config.mode='fast' is not allowed: choose one of \['ok', 'diverge', 'nonfinite'\]"
    ):
        Config(mode="fast")
    with pytest.raises(ValueError, match=r"Config.steps=1.5 has the wrong type: expected int"):
        Config(steps=1.5)
    with pytest.raises(ValueError, match=r"Config.sizes=\(2, 0\) is out of range: must be >= 1"):
        Config(sizes=(2, 0))
    with pytest.raises(ValueError, match="nan"):
        Config(lr=float("nan"))


def test_overrides_parse_by_field_type():
    config = Config().with_overrides(["lr=0.5", "steps=7", "mode=diverge", "sizes=4,5,6"])
    assert (config.lr, config.steps, config.mode, config.sizes) == (0.5, 7, "diverge", (4, 5, 6))


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("lr=-0.1", "Config.lr=-0.1 is out of range"),
        ("lr=fast", "lr='fast' cannot be parsed as float"),
        ("nope=1", "Config has no field 'nope'"),
        ("lr", "expected field=value"),
    ],
)
def test_bad_overrides_name_the_field(assignment, message):
    with pytest.raises(ValueError, match=message):
        Config().with_overrides([assignment])


def test_cross_field_check_runs_on_construction():
    @dataclass(frozen=True)
    class Window(ExperimentConfig):
        low: int = param(0)
        high: int = param(1)

        def check(self) -> None:
            if self.low >= self.high:
                raise ValueError(f"Window.low={self.low} must be < Window.high={self.high}")

    with pytest.raises(ValueError, match="Window.low=3 must be < Window.high=1"):
        Window(low=3)


def test_hash_is_pinned_and_follows_every_field():
    # Pinned: a change here means every stored result of this config is orphaned.
    assert Config().config_hash() == "fec6e5973eef"
    assert Config(lr=0.2).config_hash() != Config().config_hash()
    assert config_hash(Config(lr=0.1)) == Config().config_hash()

    # Changing a default changes the hash of the config that relies on it.
    @dataclass(frozen=True)
    class Config2(Config):
        lr: float = param(0.2, low=0.0, low_inclusive=False)

    Config2.__qualname__ = Config.__qualname__
    assert Config2().config_hash() != Config().config_hash()


def test_describe_lists_fields_with_ranges():
    rows = {row[0]: row for row in Config.describe()}
    assert rows["lr"][3] == "> 0.0"
    assert rows["mode"][3] == "one of ok, diverge, nonfinite"
