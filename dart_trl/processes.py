"""Process lifetime: nothing a job starts outlives it, and nothing waits on a job for ever.

- :func:`watchdog` (and ``@watched``, the same as a decorator): if the job's process dies without saying
  goodbye (``kill -9``, a crash), a watchdog process stops everything the job started (vLLM's
  ``EngineCore`` and ``Worker`` processes, grader workers, launched trainers). vLLM 0.32 does not do
  this itself: its workers watch the engine core, but the engine core does not watch its creator.
- :func:`spawn_bound`: a child that the kernel kills when this process dies (``PR_SET_PDEATHSIG``).
- :func:`launch`: ``accelerate launch`` in this process, returning the ranks' exit code.
- :func:`run_rank`: a training rank's one teardown path.
- :func:`run_bounded`: run a command under a hard deadline and kill its whole process tree; tests and
  benchmarks launch jobs with it.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import NoReturn

import psutil

JOB_ENV = "DART_TRL_JOB"  # marks the processes a job started: "<pid>-<start time>" of the job's process
RUN_ENV = "DART_TRL_RUN"  # marks every process of a run_bounded command (a random token)
POLL_SECONDS = 0.1  # how often the watchdog checks that the job's process is alive
SCAN_SECONDS = 1.0  # how often it records the job's descendants (about 10 ms of CPU per scan)
GRACE_SECONDS = 3.0  # SIGTERM to SIGKILL


# -- process trees -----------------------------------------------------------------------------------
def descendants(pid: int) -> list[psutil.Process]:
    """Every living descendant of ``pid`` (children that started their own session included)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(process: psutil.Process) -> bool:
    """Whether ``process`` (the same process, not a reused pid) still runs and is not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked_processes(token: str, key: str = JOB_ENV) -> list[psutil.Process]:
    """The living processes whose environment carries ``key=token`` (of those we may read)."""
    found = []
    for process in psutil.process_iter():
        with suppress(psutil.Error, OSError):
            if process.pid != os.getpid() and process.environ().get(key) == token and alive(process):
                found.append(process)
    return found


def _tree(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The living ``processes`` and their descendants, each once, without this process."""
    found = {}
    for process in processes:
        if alive(process):
            found.update((p.pid, p) for p in [process, *descendants(process.pid)])
    found.pop(os.getpid(), None)
    return list(found.values())


def wait_gone(processes: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` seconds for the processes to end; return those still alive.

    Unlike ``psutil.wait_procs`` this never reaps a child, so its ``Popen`` keeps its exit code.
    """
    left = [p for p in processes if alive(p)]
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def stop_processes(
    processes: Iterable[psutil.Process], grace: float = GRACE_SECONDS, first: int = signal.SIGTERM
) -> None:
    """Send ``first`` (SIGTERM) to the processes, then SIGKILL to those still alive ``grace`` s later."""
    left = [p for p in processes if p.pid != os.getpid()]
    for sig in (first, signal.SIGKILL):
        for process in left:
            with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                process.send_signal(sig)
        left = wait_gone(left, grace)


def process_names(processes: Iterable[psutil.Process]) -> list[str]:
    """``name (pid)`` of each process, for logs and reports."""
    names = []
    for process in processes:
        try:
            names.append(f"{process.name()} ({process.pid})")
        except psutil.NoSuchProcess:
            names.append(f"? ({process.pid})")
    return names


# -- parent-death signal -----------------------------------------------------------------------------
def _prctl_pdeathsig(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to SIGKILL the child when its parent dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_death_signal() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return set_death_signal


def _serve(requests: SimpleQueue[tuple[Callable[[], subprocess.Popen], Future]]) -> None:
    """The spawner thread's loop: run each ``start`` request and hand its result to its future."""
    while True:
        start, result = requests.get()
        try:
            result.set_result(start())
        except BaseException as err:  # handed to the caller
            result.set_exception(err)


_spawner: tuple[int, SimpleQueue] | None = None  # (our pid, the spawner thread's request queue)
_spawner_lock = threading.Lock()


def spawn_bound(args: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen(args, **popen_kwargs)`` for a child that dies (SIGKILL) when this process dies.

    On Linux the child sets ``PR_SET_PDEATHSIG`` before it executes ``args``; elsewhere this is a plain
    ``Popen`` (the job's :func:`watchdog` still covers it). Linux sends that signal when the *thread*
    that forked the child ends, so every child is forked by one daemon thread that lives as long as the
    process, never by the caller's (perhaps short-lived) thread. Callable from any thread.
    """
    global _spawner
    death_signal = _prctl_pdeathsig(os.getpid())
    if death_signal is None:
        return subprocess.Popen(args, **popen_kwargs)
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():  # none yet, or we are a forked child
            _spawner = (os.getpid(), SimpleQueue())
            threading.Thread(target=_serve, args=(_spawner[1],), name="dart-trl-spawner", daemon=True).start()
        requests = _spawner[1]
    result: Future = Future()
    requests.put((lambda: subprocess.Popen(args, preexec_fn=death_signal, **popen_kwargs), result))
    return result.result()


# -- the job watchdog --------------------------------------------------------------------------------
def job_token(pid: int | None = None) -> str:
    """The value of :data:`JOB_ENV` that marks the processes started by process ``pid`` (default: us)."""
    process = psutil.Process(pid)
    return f"{process.pid}-{process.create_time():.3f}"


def package_env() -> dict[str, str]:
    """Our environment, with this package importable by a fresh interpreter (``python -m dart_trl...``)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@contextmanager
def watchdog() -> Iterator[subprocess.Popen]:
    """While the block runs, a watchdog stops this process's children if this process dies.

    The watchdog is a child in its own session (a signal to the job's process group does not reach
    it). It records the job's descendants every second, and the processes started inside the block
    carry ``DART_TRL_JOB=<token>`` in their environment. When the job's process ends without leaving
    the block, every recorded or marked process (and its descendants) gets SIGTERM, then SIGKILL
    :data:`GRACE_SECONDS` later: within about 4 s of the job's death nothing it started is left.
    Leaving the block (normally, by an exception or Ctrl-C) kills the watchdog.
    """
    token = job_token()
    previous = os.environ.get(JOB_ENV)
    os.environ[JOB_ENV] = token
    guard = subprocess.Popen(
        [sys.executable, "-m", "dart_trl.processes", str(os.getpid()), token],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=package_env(),
        start_new_session=True,
    )
    try:
        yield guard
    finally:
        guard.kill()  # the job is alive: nothing for the watchdog to do
        guard.wait()
        if previous is None:
            os.environ.pop(JOB_ENV, None)
        else:
            os.environ[JOB_ENV] = previous


# ``@watched`` on a job's ``main(argv)``: each call runs under a fresh :func:`watchdog` (a ``contextmanager``
# is also a decorator).
watched = watchdog()


def _watch(job_pid: int, token: str) -> None:
    """The watchdog's loop: when the job's process dies (we are reparented), stop what it left behind."""
    recorded: dict[int, psutil.Process] = {}
    next_scan = 0.0
    while os.getppid() == job_pid:
        if time.monotonic() >= next_scan:
            recorded.update((p.pid, p) for p in descendants(job_pid))
            next_scan = time.monotonic() + SCAN_SECONDS
        time.sleep(POLL_SECONDS)
    leftovers = _tree([*recorded.values(), *marked_processes(token)])
    if leftovers:
        names = ", ".join(process_names(leftovers))
        print(
            f"dart-trl: job process {job_pid} died; stopping what it started: {names}",
            file=sys.stderr,
            flush=True,
        )
        stop_processes(leftovers)


def launch(args: Sequence[str], env: dict[str, str], grace: float = 10.0) -> int:
    """Run ``accelerate launch ARGS`` in this process with environment ``env``; return the job's exit code.

    Accelerate reports a failed rank by raising (``CalledProcessError`` from its one-process launcher,
    torchrun's ``ChildFailedError`` from the others) and would print its traceback after the rank's
    own error line; here the first failed rank's exit code is returned instead (2 for bad input). A
    rank killed by signal N, or torchrun's agent stopped by one, gives 128 + N. ``os.environ`` is
    ``env`` (plus the :func:`watchdog`'s mark) while accelerate runs, as it hands it to the ranks. If
    the launch is interrupted (Ctrl-C reaches the ranks too), the ranks get ``grace`` seconds to shut
    down, then what is left of the processes it started, in any session, is stopped.
    """
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    parsed = launch_command_parser().parse_args(list(args))
    with watchdog():
        saved = dict(os.environ)  # with the watchdog's mark
        ours = {p.pid for p in descendants(os.getpid())}  # the watchdog
        os.environ.clear()
        os.environ.update({**env, JOB_ENV: saved[JOB_ENV]})
        try:
            launch_command(parsed)
            code = 0
        except subprocess.CalledProcessError as err:
            code = err.returncode
        except ChildFailedError as err:
            code = err.get_first_failure()[1].exitcode
        except SignalException as err:
            code = -err.sigval
        except BaseException:
            stop_processes(wait_gone([p for p in descendants(os.getpid()) if p.pid not in ours], grace))
            raise
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return code if code >= 0 else 128 - code


# -- torch.distributed -------------------------------------------------------------------------------
def run_rank(main: Callable[[], int | None]) -> NoReturn:
    """Run ``main()`` as a rank of a training job, destroy its process group, and exit with its code.

    This is the training jobs' one teardown path: their ``main`` calls none. An exception ``main``
    raises is printed as Python would print it, with exit code 1. Freeing a gloo group of several
    processes can hang: its C++ destructor joins gloo's worker threads with the GIL held, and a worker
    that needs the GIL to free the last work it ran never returns (now and then on a busy machine:
    ``benchmarks/ddp_soak.py``). So such a rank keeps the group referenced, waits for its non-daemon
    threads, runs the ``atexit`` handlers (W&B, logging, temporary files) as usual, flushes its output
    and leaves with ``os._exit``, skipping only the interpreter's object teardown. Any other process
    (NCCL, one process, no group) exits normally.
    """
    try:
        code = int(main() or 0)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        sys.exit(code)
    group = dist.group.WORLD  # held by this frame until os._exit
    several_gloo = "gloo" in str(dist.get_backend(group)) and dist.get_world_size(group) > 1
    dist.destroy_process_group()
    if not several_gloo:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# -- running a job under a deadline ------------------------------------------------------------------
@dataclass
class Finished:
    """How a :func:`run_bounded` command ended."""

    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    leftovers: list[str] = field(default_factory=list)  # "name (pid)" of processes alive after it exited


def run_bounded(
    command: Sequence[str],
    timeout: float,
    *,
    dump_seconds: float = 30.0,
    leftover_grace: float = 10.0,
    before_abort: Callable[[list[psutil.Process]], None] | None = None,
    **popen_kwargs,
) -> Finished:
    """Run ``command`` to completion in a session of its own; never wait longer than about ``timeout``.

    Output goes to temporary files (a grandchild holding them cannot block us). The command's
    processes are those it started (recorded while it runs) and those that carry its random
    ``DART_TRL_RUN`` environment mark (orphans included). On timeout each of them gets SIGABRT (with
    ``PYTHONFAULTHANDLER=1``, set here, Python processes print their stacks to stderr), and SIGKILL
    ``dump_seconds`` later; ``before_abort``, if given, sees them first (e.g. to take native stacks).
    After a normal exit, those still alive ``leftover_grace`` seconds later are stopped and listed in
    ``leftovers``. If we die meanwhile, the command dies with us (:func:`spawn_bound`) and a
    :func:`watchdog` stops the rest of its tree.
    """
    token = uuid.uuid4().hex
    with watchdog(), tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        env = {**popen_kwargs.pop("env", os.environ), "PYTHONFAULTHANDLER": "1", RUN_ENV: token}
        env[JOB_ENV] = os.environ[JOB_ENV]  # ours: our watchdog's mark
        start = time.monotonic()
        process = spawn_bound(
            list(command), stdout=out, stderr=err, env=env, start_new_session=True, **popen_kwargs
        )
        recorded = {process.pid: psutil.Process(process.pid)}
        while process.poll() is None and time.monotonic() < start + timeout:
            recorded.update((p.pid, p) for p in descendants(process.pid))
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
        timed_out = process.poll() is None
        tree = _tree([*recorded.values(), *marked_processes(token, RUN_ENV)])
        leftovers: list[str] = []
        if timed_out:
            try:
                if before_abort is not None:
                    before_abort(tree)
            finally:
                stop_processes(tree, dump_seconds, first=signal.SIGABRT)
                process.wait()
        else:
            stragglers = wait_gone(tree, leftover_grace)
            leftovers = process_names(stragglers)
            stop_processes(stragglers)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = (file.read().decode(errors="replace") for file in (out, err))
        return Finished(list(command), process.returncode, stdout, stderr, seconds, timed_out, leftovers)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2])
