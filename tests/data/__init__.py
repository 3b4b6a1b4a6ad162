"""Tests of icml22dl.data (a package, so that basenames such as test_registry.py do not clash)."""
