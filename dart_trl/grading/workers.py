"""A pool of long-lived worker processes for symbolic checks, with a hard per-item deadline.

Workers are fresh interpreters (``python -m dart_trl.grading.workers``) talking newline-delimited
JSON over pipes: no fork (safe to use from threads and from processes that hold CUDA or threads),
no re-import of the caller's ``__main__`` (unlike multiprocessing's spawn), and no signals in the
caller. Workers die with the process that started them, however it ends
(``dart_trl.processes.spawn_bound``). Each worker caps its address space (``RLIMIT_AS``). An item
that overruns its deadline gets its worker killed and replaced; the other items are unaffected.
The pool is thread-safe, and a pool used after ``os.fork`` in a child process starts its own
workers instead of sharing pipes.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from dart_trl.processes import package_env, spawn_bound

STARTUP_TIMEOUT = 120.0
WARM_UP = (r"\sec^2(y)", r"\tan^2(y)+1")  # a check that goes through math-verify's parser and sympy


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, memory_limit_mb: int) -> None:
        env = package_env()
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = spawn_bound(
            [sys.executable, "-m", "dart_trl.grading.workers", str(memory_limit_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._buf = b""
        self.ready = False

    def _read_line(self, timeout: float) -> dict | None:
        """Next JSON line from the worker, or None on deadline / EOF."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, task: dict, timeout: float) -> dict | None:
        """Send ``task``; the reply, or None if the worker overran ``timeout`` or died."""
        if not self.ready:
            if self._read_line(STARTUP_TIMEOUT) is None:
                return None
            self.ready = True
        try:
            self.proc.stdin.write(json.dumps(task).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self._read_line(timeout)

    def kill(self) -> None:
        """Kill the process and reap it."""
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()


class WorkerPool:
    """Up to ``size`` workers, started on first use; ``run`` returns a reply dict per task.

    A reply is ``{"ok": bool}``, ``{"error": "unparseable_gold"}``, ``{"error": "exception"}`` or,
    when the deadline passed or the worker died, ``{"error": "timeout"}``.
    """

    def __init__(self, size: int, timeout: float, memory_limit_mb: int) -> None:
        self.size = max(1, size)
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._count = 0
        self._pid = os.getpid()
        self._closed = False

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the grading worker pool is closed")
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                if self._count < self.size:
                    self._count += 1
                    return _Worker(self.memory_limit_mb)
        return self._idle.get()

    def _release(self, worker: _Worker | None) -> None:
        with self._lock:
            if self._closed:
                if worker is not None:
                    worker.kill()
                self._count -= 1
                return
            if worker is None:  # replace a killed worker right away so it warms up in the background
                self._idle.put(_Worker(self.memory_limit_mb))
            else:
                self._idle.put(worker)

    def run(self, task: dict) -> dict:
        """Run one task on an idle worker under the per-item deadline."""
        worker = self._acquire()
        reply = None
        try:
            reply = worker.call(task, self.timeout)
        finally:
            if reply is None:
                worker.kill()
                self._release(None)
            else:
                self._release(worker)
        return reply if reply is not None else {"error": "timeout"}

    def map(self, tasks: Sequence[dict]) -> list[dict]:
        """Run tasks concurrently on up to ``size`` workers; replies in task order."""
        if len(tasks) <= 1 or self.size == 1:
            return [self.run(t) for t in tasks]
        with ThreadPoolExecutor(max_workers=min(self.size, len(tasks))) as ex:
            return list(ex.map(self.run, tasks))

    @property
    def forked(self) -> bool:
        """True in a child process forked after this pool was created."""
        return os.getpid() != self._pid

    def close(self) -> None:
        """Kill all idle workers; busy ones are killed when their task returns."""
        with self._lock:
            self._closed = True
            if self.forked:
                return
            while True:
                try:
                    worker = self._idle.get_nowait()
                except queue.Empty:
                    break
                worker.kill()
                self._count -= 1


def _serve(memory_limit_mb: int) -> None:
    """Worker main loop: limit memory, import math-verify, answer tasks from stdin."""
    import resource

    if memory_limit_mb > 0:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(5000)
    from dart_trl.grading.equivalence import Options
    from dart_trl.grading.symbolic import UnparseableGold, grade_pair

    # Warm up before saying ready: a fresh process's first symbolic check loads the LaTeX parser and fills
    # sympy's caches (over a second on a busy machine), which must not count against an item's deadline.
    with contextlib.suppress(Exception):
        grade_pair(WARM_UP[0], WARM_UP[1], Options())
    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        task = json.loads(line)
        try:
            reply = {"ok": bool(grade_pair(task["pred"], task["gold"], Options(**task["opts"])))}
        except UnparseableGold:
            reply = {"error": "unparseable_gold"}
        except (Exception, RecursionError, MemoryError):
            reply = {"error": "exception"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
