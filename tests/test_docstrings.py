"""Every public, callable name of the library documents its source and shows its use.

A name in a package's ``__all__`` that a user calls (a class, a function, or a registry
method such as ``get_optimizer``) needs a docstring with a ``References`` line (the paper
and section, or the format or standard it follows) and an ``Example`` doctest (``>>>``),
which ``python -m pytest --doctest-modules src/icml22dl`` runs. Constants (tuples, dicts,
numbers, registry instances) cannot carry a docstring of their own and are documented by
the ``#:`` comment above them; they are skipped here.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

#: The component packages (one per kind of component).
COMPONENT_PACKAGES = ("optim", "nn", "attacks", "losses", "analysis", "graphs", "inverse", "data")

#: The infrastructure a user calls directly: the runner, the report, the training engine,
#: validation and the registry class.
CORE_MODULES = ("runner", "report", "train", "validation", "registry")


def public_callables(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(f"icml22dl.{module_name}")
    names = getattr(module, "__all__", None)
    if names is None:  # a module without __all__: its public classes and functions defined there
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__
        ]
    found = []
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            found.append((name, obj))
    return found


def missing_parts(obj: object) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    return [part for part in ("References", ">>>") if part not in doc]


def cases(modules: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(module, name) for module in modules for name, _ in public_callables(module)]


@pytest.mark.parametrize("module, name", cases(COMPONENT_PACKAGES))
def test_every_exported_component_has_references_and_an_example(module, name):
    obj = getattr(importlib.import_module(f"icml22dl.{module}"), name)
    missing = missing_parts(obj)
    assert not missing, f"icml22dl.{module}.{name}: the docstring lacks {' and '.join(missing)}"


@pytest.mark.parametrize("module, name", cases(CORE_MODULES))
def test_every_exported_runner_report_and_engine_name_has_references_and_an_example(module, name):
    obj = getattr(importlib.import_module(f"icml22dl.{module}"), name)
    missing = missing_parts(obj)
    assert not missing, f"icml22dl.{module}.{name}: the docstring lacks {' and '.join(missing)}"


def test_every_package_lists_only_names_it_has():
    for module in (*COMPONENT_PACKAGES, *CORE_MODULES):
        package = importlib.import_module(f"icml22dl.{module}")
        for name in getattr(package, "__all__", ()):
            assert hasattr(package, name), f"icml22dl.{module}.__all__ names {name!r}, which it lacks"
        names = list(getattr(package, "__all__", ()))
        assert len(names) == len(set(names)), f"icml22dl.{module}.__all__ repeats a name"
