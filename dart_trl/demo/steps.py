"""The demo's steps: ``dart-trl`` commands run one at a time, or independent ones side by side."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from dart_trl.processes import descendants, stop_processes

# The demo's budget is a 2-core machine and most of a step is one busy core (imports, engine start):
# independent steps run two at a time.
PARALLEL = 2
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Step:
    """One ``dart-trl`` command of the demo: its title, its argv, and the command line as printed."""

    title: str
    command: list[str]
    shown: str


class StepFailed(RuntimeError):
    """A step of the demo exited with an error."""


def _stop_tree(process: subprocess.Popen) -> None:
    """Stop a running step and everything it started."""
    try:
        tree = [psutil.Process(process.pid), *descendants(process.pid)]
    except psutil.NoSuchProcess:
        return
    stop_processes(tree)
    process.wait()


def run_one(step: Step, env: dict[str, str], timings: dict[str, float]) -> None:
    """Run ``step`` with its output shown as it comes; raise :class:`StepFailed` if it fails."""
    print(f"\n=== {step.title}\n$ {step.shown}", flush=True)
    start = time.time()
    code = subprocess.call(step.command, env=env)
    timings[step.title] = time.time() - start
    if code != 0:
        raise StepFailed(f"demo step '{step.title}' failed with exit code {code}")


def run_side_by_side(steps: list[Step], env: dict[str, str], logs: Path, timings: dict[str, float]) -> None:
    """Run independent ``steps``, :data:`PARALLEL` at a time; raise :class:`StepFailed` if one fails.

    Each step writes to ``logs/<title>.log``, printed whole when the step ends, so outputs never
    interleave. When a step fails, the others still running are stopped with what they started.
    """
    logs.mkdir(parents=True, exist_ok=True)
    waiting, running = list(steps), {}
    try:
        while waiting or running:
            while waiting and len(running) < PARALLEL:
                step = waiting.pop(0)
                log = logs / (re.sub(r"[^\w.-]+", "-", step.title).strip("-") + ".log")
                print(
                    f"\n=== {step.title} (started; its output follows when it ends)\n$ {step.shown}",
                    flush=True,
                )
                with log.open("w") as handle:
                    process = subprocess.Popen(step.command, env=env, stdout=handle, stderr=subprocess.STDOUT)
                running[process] = (step, log, time.time())
            for process in [p for p in running if p.poll() is not None]:
                step, log, start = running.pop(process)
                timings[step.title] = time.time() - start
                print(f"\n=== {step.title}: ended after {timings[step.title]:.0f} s ({log})", flush=True)
                print(log.read_text(errors="replace"), flush=True)
                if process.returncode != 0:
                    raise StepFailed(
                        f"demo step '{step.title}' failed with exit code {process.returncode} (log: {log})"
                    )
            time.sleep(POLL_SECONDS)
    finally:
        for process in running:
            _stop_tree(process)
