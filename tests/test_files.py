"""dart_trl.files: whole-or-nothing writes and the cache directory."""

from __future__ import annotations

import os

import pytest

from dart_trl.files import atomic_path, cache_dir, write_atomic


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DART_TRL_CACHE": "~/mine", "XDG_CACHE_HOME": "/elsewhere"}, "mine"),
        ({"XDG_CACHE_HOME": "~/xdg"}, "xdg/dart-trl"),
        ({}, ".cache/dart-trl"),
    ],
)
def test_cache_dir_order_and_home(monkeypatch, tmp_path, env, expected):
    """$DART_TRL_CACHE, else $XDG_CACHE_HOME/dart-trl, else ~/.cache/dart-trl; ``~`` is the home directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("DART_TRL_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cache_dir() == tmp_path / expected


def test_write_atomic_replaces_and_leaves_nothing_else(tmp_path):
    """The new bytes replace the old ones; only the file itself is left in its (new) directory."""
    path = tmp_path / "sub" / "state.json"
    write_atomic(path, "old")
    assert write_atomic(path, b"new\n") == path
    assert path.read_bytes() == b"new\n"
    assert os.listdir(path.parent) == ["state.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    """An error inside the block leaves the old file untouched and no temporary behind."""
    path = tmp_path / "results.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        assert path.read_text() == "old"  # readers see the old file while it is written
        raise RuntimeError("cut")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_atomic_directory_replaces_the_old_one(tmp_path):
    """A directory written at the temporary path replaces the old directory and its files."""
    out = tmp_path / "clean"
    (out / "stale").mkdir(parents=True)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "data.parquet").write_text("rows")
    assert sorted(os.listdir(out)) == ["data.parquet"]
    assert os.listdir(tmp_path) == ["clean"]
