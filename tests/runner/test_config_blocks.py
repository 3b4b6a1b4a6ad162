"""Nested config blocks: validation, ``--set block.field=v``, dotted errors and rows, the hash, sweeps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from icml22dl.runner import ConfigBlock, ExperimentConfig, param
from icml22dl.runner.sweep import changed_fields, parse_grid


@dataclass(frozen=True)
class Net(ConfigBlock):
    width: int = param(16, low=1, help="hidden units")
    act: str = param("relu", choices=("relu", "tanh"), help="activation")
    dropout: float = param(0.0, low=0.0, high=1.0, high_inclusive=False, help="dropout rate")
    sizes: tuple[int, ...] = param((3, 4), low=1, help="kernel sizes")


@dataclass(frozen=True)
class Opt(ConfigBlock):
    lr: float = param(0.1, low=0.0, low_inclusive=False, help="learning rate")
    nesterov: bool = param(False, help="Nesterov momentum")

    def check(self) -> None:
        if self.nesterov and self.lr > 1:
            raise ValueError(f"Opt.nesterov=True needs Opt.lr <= 1, got {self.lr}")


@dataclass(frozen=True)
class Inner(ConfigBlock):
    steps: int = param(5, low=1, help="inner steps")


@dataclass(frozen=True)
class Outer(ConfigBlock):
    inner: Inner = param(Inner(), help="an inner block")
    scale: float = param(1.0, low=0.0, help="a scale")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    seeds: int = param(3, low=1, help="a flat field")
    net: Net = param(Net(), help="the network")
    opt: Opt = param(Opt(lr=0.05), help="the optimiser (paper, Table 1)")
    outer: Outer = param(Outer(), help="two levels")


def test_blocks_validate_themselves_and_their_parent_checks_the_type():
    with pytest.raises(ValueError, match=r"^Net.width=0 is out of range: must be >= 1$"):
        Net(width=0)
    with pytest.raises(ValueError, match=r"Net.act='gelu' is not allowed"):
        Net(act="gelu")
    with pytest.raises(ValueError, match=r"Opt.nesterov=True needs Opt.lr <= 1"):
        Opt(lr=2.0, nesterov=True)
    with pytest.raises(ValueError, match=r"Config.net=Opt\(.*\) has the wrong type: expected Net"):
        Config(net=Opt())
    with pytest.raises(ValueError, match=r"Config.net=3 has the wrong type: expected Net"):
        Config(net=3)
    config = Config(net=Net(width=8))
    assert config.net.width == 8 and config.opt.lr == 0.05


def test_blocks_are_frozen_and_hashable():
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.net.width = 3  # type: ignore[misc]
    cache = {config.net: "built"}
    assert cache[Net()] == "built" and hash(Config()) == hash(config)


def test_set_block_field_parses_by_the_nested_type():
    config = Config().with_overrides(
        ["net.width=32", "net.act=tanh", "net.sizes=5,6,7", "opt.nesterov=true", "outer.inner.steps=9", "seeds=4"]
    )
    assert config.net == Net(width=32, act="tanh", sizes=(5, 6, 7))
    assert config.opt == Opt(lr=0.05, nesterov=True)  # the parent's default block is the base
    assert config.outer.inner.steps == 9 and config.outer.scale == 1.0
    assert config.seeds == 4
    assert Config().with_overrides([" net.width = 2 "]).net.width == 2
    assert Config().with_overrides([]) == Config()


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("net.width=0", "Config.net.width=0 is out of range: must be >= 1"),
        ("net.dropout=1.0", "Config.net.dropout=1.0 is out of range: must be >= 0.0 and < 1.0"),
        ("net.act=gelu", "Config.net.act='gelu' is not allowed: choose one of ['relu', 'tanh']"),
        ("net.width=wide", "Config.net.width='wide' cannot be parsed as int"),
        ("net.sizes=3,0", "Config.net.sizes=(3, 0) is out of range: must be >= 1"),
        ("net.depth=3", "Config.net has no field 'depth'; fields: ['act', 'dropout', 'sizes', 'width']"),
        ("outer.inner.steps=0", "Config.outer.inner.steps=0 is out of range: must be >= 1"),
        ("outer.inner.nope=1", "Config.outer.inner has no field 'nope'; fields: ['steps']"),
        ("seeds.x=1", "Config.seeds is not a block of fields: set it as seeds=value"),
        ("net=3", "Config.net is a block of fields: set one of ['net.act', 'net.dropout', 'net.sizes', 'net.width']"),
        ("nope.x=1", "Config has no field 'nope'"),
        ("seeds=x", "Config.seeds='x' cannot be parsed as int"),
    ],
)
def test_bad_nested_overrides_name_the_dotted_field(assignment, message):
    with pytest.raises(ValueError) as info:
        Config().with_overrides([assignment])
    assert message in str(info.value)


def test_a_blocks_cross_field_check_runs_on_the_combined_overrides():
    assert Config().with_overrides(["opt.lr=2"]).opt.lr == 2.0
    with pytest.raises(ValueError, match=r"^Config.opt.nesterov=True needs Opt.lr <= 1, got 2.0$"):
        Config().with_overrides(["opt.lr=2", "opt.nesterov=1"])


def test_describe_lists_nested_fields_by_dotted_name_with_the_parents_defaults():
    rows = {row[0]: row for row in Config.describe()}
    assert list(rows) == [
        "seeds",
        "net.width",
        "net.act",
        "net.dropout",
        "net.sizes",
        "opt.lr",
        "opt.nesterov",
        "outer.inner.steps",
        "outer.scale",
    ]
    assert rows["net.width"] == ("net.width", "int", 16, ">= 1", "hidden units")
    assert rows["net.act"][3] == "one of relu, tanh"
    assert rows["opt.lr"][2] == 0.05  # the default of the block as nested, not the block's class default
    assert rows["opt.lr"][4] == "learning rate"
    assert rows["outer.inner.steps"][1:] == ("int", 5, ">= 1", "inner steps")
    # an instance's values as the defaults column
    assert {r[0]: r[2] for r in Config.describe(Config().with_overrides(["net.width=2"]))}["net.width"] == 2


def test_flat_dict_and_field_type_use_dotted_names():
    flat = Config().flat_dict()
    assert flat["net.sizes"] == (3, 4) and flat["outer.inner.steps"] == 5 and flat["seeds"] == 3
    assert len(flat) == len(Config.describe())
    assert Config().field_type("net.sizes") == tuple[int, ...]
    assert Config().field_type("outer.inner.steps") is int
    with pytest.raises(ValueError, match=r"Config.outer.inner has no field 'x'"):
        Config().field_type("outer.inner.x")


def test_hash_follows_every_nested_field():
    base = Config()
    seen = {base.config_hash()}
    for assignment in ["net.width=17", "net.sizes=3", "opt.lr=0.1", "opt.nesterov=1", "outer.inner.steps=6"]:
        changed = base.with_overrides([assignment])
        assert changed.config_hash() not in seen, assignment
        seen.add(changed.config_hash())
    assert Config(opt=Opt(lr=0.05)).config_hash() == base.config_hash()  # same values, same directory
    assert base.to_dict()["net"] == {"width": 16, "act": "relu", "dropout": 0.0, "sizes": [3, 4]}


def test_hash_changes_when_a_blocks_default_changes():
    @dataclass(frozen=True)
    class Net2(Net):
        width: int = param(18, low=1)

    @dataclass(frozen=True)
    class Config2(Config):
        net: Net = param(Net2(), help="the network")

    Config2.__qualname__ = Config.__qualname__
    assert Config2().config_hash() != Config().config_hash()


def test_sweep_grid_over_nested_fields():
    configs = parse_grid(Config(), ["net.width=8,16", "net.sizes=1,2;3", "opt.lr=0.5"])
    assert len(configs) == 4
    assert [(c.net.width, c.net.sizes, c.opt.lr) for c in configs] == [
        (8, (1, 2), 0.5),
        (8, (3,), 0.5),
        (16, (1, 2), 0.5),
        (16, (3,), 0.5),
    ]
    assert changed_fields(configs[1]) == {"net.width": 8, "net.sizes": (3,), "opt.lr": 0.5}
    assert changed_fields(configs[3], configs[2]) == {"net.sizes": (3,)}
    with pytest.raises(ValueError, match=r"Config.net has no field 'depth'"):
        parse_grid(Config(), ["net.depth=1,2"])
    with pytest.raises(ValueError, match=r"Config.net.width=0 is out of range"):
        parse_grid(Config(), ["net.width=4,0"])
    with pytest.raises(ValueError, match="names a field twice"):
        parse_grid(Config(), ["net.width=4", "net.width=5"])


def test_a_config_declared_inside_a_function_resolves_its_block_types():
    # string annotations ("Local") are not in the module's globals here: the block default's class is used
    @dataclass(frozen=True)
    class Local(ConfigBlock):
        epochs: int = param(10, low=1)

    @dataclass(frozen=True)
    class LocalConfig(ExperimentConfig):
        block: Local = param(Local())

    assert LocalConfig().with_overrides(["block.epochs=3"]).block.epochs == 3
    assert [row[0] for row in LocalConfig.describe()] == ["block.epochs"]
    with pytest.raises(ValueError, match=r"^LocalConfig.block.epochs=0 is out of range: must be >= 1$"):
        LocalConfig().with_overrides(["block.epochs=0"])
    with pytest.raises(ValueError, match="has the wrong type: expected Local"):
        LocalConfig(block=3)
