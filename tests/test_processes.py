"""Process lifetime (``dart_trl.processes``) with real processes and signals: nothing outlives its job."""

from __future__ import annotations

import functools
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest
from conftest import REPO_ROOT

from dart_trl.demo.tiny import write_addition_recipe
from dart_trl.processes import alive, run_bounded, wait_gone

# A child that ignores SIGTERM (so only SIGKILL ends it) and sleeps for a long time.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


def default_sigint() -> None:
    """In the child before exec: SIGINT as in a terminal's foreground job. A job started in the background
    by a non-interactive shell (``make test &``, some CI runners) inherits SIGINT ignored, and Python
    then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_script(code: str) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """Run ``code`` in a fresh interpreter; return it and the processes whose pids its first line lists."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    process.next_line = functools.partial(next_line, process, lines)
    line = process.next_line()
    assert line.strip(), f"the script printed nothing (exit {process.poll()})"
    return process, [psutil.Process(int(pid)) for pid in line.split()]


def next_line(process: subprocess.Popen, lines: queue.SimpleQueue, timeout: float = 60) -> str:
    """The script's next line of output; "" when it printed none within ``timeout`` s (it is killed then)."""
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        process.kill()
        return ""


def kill_and_wait(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def survivors(processes: list[psutil.Process], within: float) -> list[psutil.Process]:
    """The processes still alive ``within`` seconds from now (they are SIGKILLed then)."""
    left = wait_gone(processes, within)
    for process in left:
        process.kill()
    return left


def test_grader_workers_started_from_short_lived_threads_live_on_and_die_with_their_process():
    process, started = start_script(
        """
        from dart_trl.grading.workers import WorkerPool
        pool = WorkerPool(size=2, timeout=60, memory_limit_mb=0)
        task = {"pred": "x**2", "gold": "x*x", "opts": {}}
        pool.map([task, task, task])  # workers start on the pool's executor threads, which then end
        print(*(w.proc.pid for w in list(pool._idle.queue)), flush=True)
        import time; time.sleep(600)
        """
    )
    try:
        assert len(started) == 2
        time.sleep(1.0)
        assert all(alive(p) for p in started), "a worker died with the thread that started it"
    finally:
        kill_and_wait(process)
    assert not survivors(started, within=10), "grader workers outlived their process"


def test_watchdog_stops_what_a_killed_job_started_in_any_session():
    process, started = start_script(
        f"""
        import subprocess, sys
        from dart_trl.processes import watchdog
        with watchdog() as guard:
            same_group = subprocess.Popen([sys.executable, "-c", {STUBBORN!r}])
            own_session = subprocess.Popen(
                [sys.executable, "-c", "import subprocess, sys, time; "
                 "subprocess.Popen([sys.executable, '-c', {STUBBORN!r}]); time.sleep(600)"],
                start_new_session=True,
            )
            import psutil, time
            while len(psutil.Process().children(recursive=True)) < 4:  # watchdog, 2 children, grandchild
                time.sleep(0.1)
            time.sleep(1.0)  # let the watchdog record them
            print(guard.pid, *(p.pid for p in psutil.Process().children(recursive=True)), flush=True)
            time.sleep(600)
        """
    )
    try:
        assert len({p.pid for p in started}) == 4
    finally:
        kill_and_wait(process)
    assert not survivors(started, within=10), "processes outlived the job"


def test_watchdog_leaves_quietly_when_the_job_ends():
    done = run_bounded(
        [sys.executable, "-c", "from dart_trl.processes import watched\nwatched(lambda: 0)()\nprint('ok')"],
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert (done.returncode, done.stdout.strip(), done.leftovers) == (0, "ok", [])
    assert "stopping what it started" not in done.stderr


def test_run_bounded_is_not_blocked_by_a_grandchild_holding_its_output():
    # The child exits at once; a grandchild in its own session keeps stdout and stderr open.
    code = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {STUBBORN!r}], start_new_session=True)"
    start = time.monotonic()
    done = run_bounded([sys.executable, "-c", code], timeout=60, leftover_grace=2)
    assert done.returncode == 0 and not done.timed_out
    assert len(done.leftovers) == 1 and "python" in done.leftovers[0]
    assert time.monotonic() - start < 30


def test_run_bounded_kills_a_hung_tree_and_keeps_the_stacks():
    code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {STUBBORN!r}], start_new_session=True)
        def stuck_here():
            time.sleep(600)
        stuck_here()
        """
    )
    start = time.monotonic()
    done = run_bounded([sys.executable, "-c", code], timeout=5, dump_seconds=5)
    assert done.timed_out and time.monotonic() - start < 40
    assert "stuck_here" in done.stderr  # faulthandler's stack dump on SIGABRT
    assert not [p for p in psutil.Process().children(recursive=True) if "SIG_IGN" in " ".join(p.cmdline())]


def test_a_killed_harness_takes_the_whole_tree_of_its_command_along():
    process, started = start_script(
        f"""
        import sys, threading, time, psutil
        from dart_trl.processes import run_bounded
        tree = [sys.executable, "-c", "import subprocess, sys, time; "
                "subprocess.Popen([sys.executable, '-c', {STUBBORN!r}], start_new_session=True); time.sleep(600)"]
        def report():
            while len(psutil.Process().children(recursive=True)) < 3:  # watchdog, command, its child
                time.sleep(0.1)
            time.sleep(1.5)  # let the watchdog record them
            print(*(p.pid for p in psutil.Process().children(recursive=True)), flush=True)
        threading.Thread(target=report, daemon=True).start()
        run_bounded(tree, timeout=600)
        """
    )
    assert len(started) == 3
    kill_and_wait(process)
    assert not survivors(started, within=10), "the command's processes outlived the harness"


def test_an_interrupted_launch_stops_the_whole_tree(tmp_path):
    rank = tmp_path / "rank.py"  # a rank that starts a stubborn process in a session of its own
    rank.write_text(
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {STUBBORN!r}], start_new_session=True)\n"
        "time.sleep(600)\n"
    )
    process, started = start_script(
        f"""
        import os, threading, time, psutil
        from dart_trl.processes import launch
        def report():
            while len(psutil.Process().children(recursive=True)) < 3:  # watchdog, rank, its child
                time.sleep(0.1)
            time.sleep(1.5)  # let the watchdog record them
            print(*(p.pid for p in psutil.Process().children(recursive=True)), flush=True)
        threading.Thread(target=report).start()
        try:
            launch(["--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no", {str(rank)!r}], dict(os.environ), grace=1)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    try:
        assert len(started) == 3
        process.send_signal(
            signal.SIGINT
        )  # only the caller: its rank ignores nothing, the rank's child SIGTERM
        assert process.next_line().strip() == "interrupted"
        assert process.wait(timeout=30) == 0
        assert not [p for p in started if alive(p)]
    finally:
        if process.poll() is None:
            kill_and_wait(process)
        survivors(started, within=0)


RANK = """
import atexit, sys
import torch.distributed as dist
from dart_trl.processes import run_rank

class ReportsTeardown:
    def __del__(self, write=sys.stdout.write):  # runs in the interpreter's object teardown
        write("object teardown ran\\n")

store, rank, world, outcome = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
dist.barrier()
keep = ReportsTeardown()
atexit.register(lambda: print("atexit handlers ran; group initialized:", dist.is_initialized(), flush=True))
run_rank(lambda: int(outcome) if outcome != "raise" else 1 / 0)
"""


@pytest.mark.parametrize(
    "world, outcome, code", [(2, "0", 0), (2, "3", 3), (2, "raise", 1), (1, "0", 0), (1, "raise", 1)]
)
def test_a_rank_ends_its_group_and_skips_object_teardown_only_in_a_gloo_group_of_several(
    tmp_path, world, outcome, code
):
    from concurrent.futures import ThreadPoolExecutor

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-c", RANK, str(tmp_path / "store")]
    with ThreadPoolExecutor(world) as pool:
        ranks = list(
            pool.map(
                lambda r: run_bounded([*command, str(r), str(world), outcome], 120, dump_seconds=5, env=env),
                range(world),
            )
        )
    for done in ranks:
        assert not done.timed_out, done.stderr
        assert done.returncode == code, done.stderr[-3000:]
        assert "atexit handlers ran; group initialized: False" in done.stdout
        assert ("object teardown ran" in done.stdout) == (world == 1)  # a gloo group of 2 leaves by os._exit
        assert ("ZeroDivisionError" in done.stderr) == (outcome == "raise")


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_spawn_bound_child_dies_with_its_parent(signal_name):
    process, started = start_script(
        f"""
        import sys, threading, time
        from dart_trl.processes import spawn_bound
        started = []
        thread = threading.Thread(target=lambda: started.append(spawn_bound([sys.executable, "-c", {STUBBORN!r}])))
        thread.start(); thread.join()
        print(started[0].pid, flush=True)
        time.sleep(600)
        """
    )
    process.send_signal(getattr(signal, signal_name))
    process.wait(timeout=30)
    assert not survivors(started, within=10)


@pytest.mark.parametrize(
    "backend", ["transformers", pytest.param("vllm", marks=[pytest.mark.vllm, pytest.mark.slow])]
)
def test_ctrl_c_stops_a_generate_run_and_everything_it_started(tiny_model, tmp_path, backend):
    # DARS-Uniform with room for 4000 samples a query: the tiny random model (never right) cannot finish quickly
    recipe = write_addition_recipe(
        tmp_path / "dars.yaml", tiny_model, strategy="uniform", k_u=1, max_trials=4000, backend=backend,
        max_tokens=8, batch_size=4, report_to="none",
    )  # fmt: skip
    raw = tmp_path / "out" / "raw"
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 600
        while not (raw.is_dir() and any(p.stat().st_size for p in raw.iterdir())):
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no sample reached disk in time"
            time.sleep(0.2)
        tree = psutil.Process(process.pid).children(recursive=True)
        if backend == "vllm":
            assert any("EngineCor" in p.name() for p in tree)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert process.wait(timeout=120) == 130, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not survivors(tree, within=10), "processes outlived the interrupted job"
