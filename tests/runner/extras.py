"""Optional extras in tests: skipped locally when missing, a failure in CI (CI=true)."""

import importlib
import os

import pytest


def require(module: str):
    """Import ``module``, or skip (locally) / fail (in CI, where every extra must be tested)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is missing in CI: the test extra must install it")
        pytest.skip(f"{module} is not installed")
