"""Tests of icml22dl.data (a package so that its basenames, e.g. test_registry.py, do not clash with other test folders)."""
