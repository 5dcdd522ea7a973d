"""Files written whole or not at all, and dart-trl's cache directory."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

CACHE_ENV = "DART_TRL_CACHE"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write a file or a directory to; renamed onto ``path``
    (replacing what was there) when the block ends, removed when it raises: readers find the old
    ``path`` or the complete new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir():
            _remove(path)  # a directory cannot be renamed onto a non-empty one
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path`, synced to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def cache_dir() -> Path:
    """dart-trl's cache: ``$DART_TRL_CACHE``, else ``$XDG_CACHE_HOME/dart-trl``, else
    ``~/.cache/dart-trl``, with ``~`` expanded in each."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "dart-trl"
