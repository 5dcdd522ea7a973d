"""One writer per output directory: an exclusive lock on ``<output_dir>/.dart-trl.lock``.

A job that writes an output directory (``generate``, ``eval``, ``sft``, ``grpo``) takes its lock before
it loads any model. The lock is an ``fcntl.flock`` on the lock file, so the operating system releases it
when the holder dies, however it dies; the file holds JSON about the holder (PID, host, start time,
command) for the message that refuses a second job. A lock file whose holder died is taken over with a
one-line note. Processes started by the holder (the ranks ``accelerate launch`` starts for
``dart-trl sft``/``grpo``) share its lock. The lock assumes the output directory is on a file system
with working ``flock`` (local disks, and NFS v4 on Linux).
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from dart_trl.config import RecipeError

LOCK_NAME = ".dart-trl.lock"
_HOLDER_WRITE_WAIT = 2.0  # seconds to wait for a new holder to write who it is

F = TypeVar("F", bound=Callable[..., Any])


class OutputDirBusy(RecipeError):
    """Another live job holds the output directory's lock (one line, exit code 2)."""


@dataclass
class DirLock:
    """A held lock: the lock file and its descriptor (None when a parent process holds the lock for us)."""

    path: Path
    fd: int | None
    created_dir: bool = False

    def release(self) -> None:
        """Remove the lock file and drop the lock; remove the directory too if the lock created it and it is empty."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # before unlocking: a waiter then sees a fresh file
        finally:
            os.close(self.fd)
            self.fd = None
        if self.created_dir:
            try:
                self.path.parent.rmdir()
            except OSError:
                pass


_HELD: dict[Path, DirLock] = {}


def holder_info() -> dict[str, Any]:
    """Who holds a lock: this process's PID, host, start time and command line."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }


def describe_holder(info: dict[str, Any]) -> str:
    """``PID 123 on host, started 2025-01-01T10:00:00+00:00 (command)`` for messages."""
    command = " ".join(str(info.get("command", "?")).split())
    return f"PID {info.get('pid', '?')} on {info.get('host', '?')}, started {info.get('started', '?')} ({command})"


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0) or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _held_by_an_ancestor(info: dict[str, Any] | None) -> bool:
    """Whether the holder is a process that started this one, on this host (the job's launcher)."""
    import psutil

    if not info or info.get("host") != socket.gethostname():
        return False
    try:
        return int(info.get("pid", -1)) in {p.pid for p in psutil.Process().parents()}
    except (psutil.Error, ValueError, TypeError):
        return False


def _refuse(directory: Path, fd: int) -> DirLock:
    """The lock is taken: share it with our launcher, or refuse naming the holder."""
    deadline = time.monotonic() + _HOLDER_WRITE_WAIT
    info = _read_holder(fd)
    while info is None and time.monotonic() < deadline:  # the holder has just created the file
        time.sleep(0.05)
        info = _read_holder(fd)
    os.close(fd)
    if _held_by_an_ancestor(info):
        return DirLock(directory / LOCK_NAME, None)
    who = describe_holder(info) if info else "another process"
    raise OutputDirBusy(
        f"{directory} is in use by another dart-trl job: {who}; wait for it to finish or use another output_dir"
    )


def acquire(directory: str | os.PathLike) -> DirLock:
    """Take the lock of ``directory`` (created if needed) without waiting.

    Raises :class:`OutputDirBusy` naming the holder when another live process holds it, unless that
    process started this one (then the returned lock is the parent's and releasing it does nothing).
    A lock file left by a dead holder is taken over, with a note on stderr.
    """
    directory = Path(directory).resolve()
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            busy = False
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            busy = True
        if busy:
            return _refuse(directory, fd)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)  # the holder released it and removed the file between our open and flock: retry
    previous = _read_holder(fd)
    if previous:
        print(
            f"dart-trl: note: {directory}: took over the lock left by {describe_holder(previous)}, "
            "which is no longer running",
            file=sys.stderr,
        )
    data = json.dumps(holder_info()).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
    return DirLock(path, fd, created_dir=created)


def lock_output_dir(directory: str | os.PathLike) -> DirLock:
    """Hold the lock of ``directory`` for the rest of the job (see :func:`releases_output_dir_locks`).

    Taking a lock this process already holds returns it again. Locks still held at exit are released.
    """
    key = Path(directory).resolve()
    if key not in _HELD:
        _HELD[key] = acquire(key)
    return _HELD[key]


def release_output_dir_locks(keep: set[Path] | frozenset[Path] = frozenset()) -> None:
    """Release the locks this process holds through :func:`lock_output_dir`, except those in ``keep``."""
    for key in [k for k in _HELD if k not in keep]:
        _HELD.pop(key).release()


def releases_output_dir_locks(main: F) -> F:
    """Decorate a job's ``main``: the locks it takes with :func:`lock_output_dir` are released when it returns
    or raises, so a job run in-process (tests, notebooks) leaves its directories free."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        before = frozenset(_HELD)
        try:
            return main(*args, **kwargs)
        finally:
            release_output_dir_locks(keep=before)

    return wrapper  # type: ignore[return-value]


atexit.register(release_output_dir_locks)
