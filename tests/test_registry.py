import pytest

from icml22dl.registry import Registry


def positive(value: int) -> None:
    if value <= 0:
        raise ValueError(f"value must be > 0, got {value}")


def test_register_get_list_and_mapping_view():
    registry: Registry[int] = Registry("number", positive)
    registry.register("two", 2)
    assert registry.register("three")(3) == 3
    assert registry.get("two") == 2 and registry["three"] == 3
    assert registry.list() == ["three", "two"] and len(registry) == 2 and set(registry) == {"two", "three"}


def test_conflicts_unknown_names_and_checks_are_errors():
    registry: Registry[int] = Registry("number", positive)
    registry.register("one", 1)
    registry.register("one", 1)  # the same object again: a no-op
    with pytest.raises(ValueError, match="number name 'one' is already registered to 1"):
        registry.register("one", 5)
    with pytest.raises(ValueError, match="unknown number 'two'; registered: one"):
        registry.get("two")
    with pytest.raises(ValueError, match="value must be > 0, got -1"):
        registry.register("minus", -1)
    assert "minus" not in registry
