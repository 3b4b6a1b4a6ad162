"""Tests of icml22dl.data.root: data root resolution order and the cache folder."""

import pytest

from icml22dl.data.root import CACHE_ENV_VAR, ENV_VAR, cache_dir, cache_root, data_root, is_writable


def test_explicit_argument_beats_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert data_root(tmp_path / "explicit") == (tmp_path / "explicit").resolve()


def test_env_var_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert data_root() == (tmp_path / "from-env").resolve()


def test_default_is_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert data_root() == (tmp_path / ".cache" / "icml22dl").resolve()


def test_empty_env_var_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(ENV_VAR, "")
    assert data_root() == (tmp_path / ".cache" / "icml22dl").resolve()


def test_explicit_argument_expands_user_and_is_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    root = data_root("~/data")
    assert root == (tmp_path / "data").resolve()
    assert root.is_absolute()


def test_empty_string_argument_is_rejected():
    with pytest.raises(ValueError, match="data_dir=''"):
        data_root("")


def test_read_only_folder_is_not_writable_even_for_root(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert not is_writable(folder)
        assert not is_writable(folder / "sub" / "deeper")
        assert is_writable(tmp_path / "new" / "folder")
    finally:
        folder.chmod(0o755)


def test_cache_root_is_the_env_var_else_the_user_cache_whatever_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "data"))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "my-cache"))
    assert cache_root() == (tmp_path / "my-cache").resolve()
    for unset in (monkeypatch.delenv, lambda name: monkeypatch.setenv(name, "")):
        unset(CACHE_ENV_VAR)
        assert cache_root() == (tmp_path / "home" / ".cache" / "icml22dl" / "cache").resolve()


def test_cache_dir_creates_the_cache_and_never_uses_the_data_root(monkeypatch, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv(ENV_VAR, str(data))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache" / "deeper"))
    assert cache_dir() == (tmp_path / "cache" / "deeper").resolve()
    assert (tmp_path / "cache" / "deeper").is_dir()
    assert list(data.iterdir()) == []


def test_cache_dir_is_none_when_the_cache_is_read_only(monkeypatch, tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        monkeypatch.setenv(CACHE_ENV_VAR, str(read_only / "cache"))
        assert cache_dir() is None
        assert not (read_only / "cache").exists()
    finally:
        read_only.chmod(0o755)
