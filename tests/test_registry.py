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


def test_component_packages_load_from_a_plain_import_without_importing_torch_first():
    import subprocess
    import sys

    code = (
        "import sys, icml22dl; assert 'torch' not in sys.modules, 'import icml22dl imported torch'; "
        "from icml22dl.optim import Adai; assert icml22dl.optim.Adai is Adai; print(icml22dl.nn.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "icml22dl.nn"


def test_unknown_attribute_of_the_package_is_an_attribute_error():
    import icml22dl

    with pytest.raises(AttributeError, match="no_such_thing"):
        icml22dl.no_such_thing  # noqa: B018
