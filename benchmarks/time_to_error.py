"""Time from `dart-trl JOB bad-recipe.yaml` to its one-line error, per job, on this machine.

A recipe with a misspelt key must be rejected before torch, TRL or vLLM is imported. For each job this
runs the real command (a fresh process each time) on a recipe with one unknown key and prints the
median wall time over ``--repeats`` runs, with a warm schema cache (the usual case) and a cold one (the
first run after installing or upgrading TRL, which builds the cache of TRL's config keys), and whether
the error line names the file and the key. Goal: under 2 s for every job on 2 cores.

    python benchmarks/time_to_error.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = ("generate", "sft", "grpo", "levels", "eval")


def time_job(job: str, recipe: Path, env: dict[str, str]) -> tuple[float, str]:
    """Seconds until ``dart-trl JOB RECIPE`` exits, and its last stderr line."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", job, str(recipe)], capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    if done.returncode != 2:
        raise SystemExit(f"{job}: expected exit code 2, got {done.returncode}: {done.stderr[-500:]}")
    return elapsed, lines[-1] if lines else ""


def main() -> None:
    """Print time-to-error per job, warm and cold."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "bad.yaml"
        recipe.write_text("learning_rat: 1.0e-5\n")
        warm_env = dict(os.environ)
        print(f"{'job':<10}{'warm median s':>15}{'cold s':>10}  error line names file and key")
        worst = 0.0
        for job in JOBS:
            time_job(job, recipe, warm_env)  # fills the schema cache
            warm = [time_job(job, recipe, warm_env)[0] for _ in range(args.repeats)]
            cold_env = {**warm_env, "DART_TRL_CACHE": tempfile.mkdtemp(dir=tmp)}
            cold, line = time_job(job, recipe, cold_env)
            named = str(recipe) in line and "learning_rat" in line
            worst = max(worst, statistics.median(warm))
            print(f"{job:<10}{statistics.median(warm):>15.2f}{cold:>10.2f}  {named}")
        load = os.getloadavg()[0]
        print(f"slowest job (warm median): {worst:.2f} s on {os.cpu_count()} CPUs, load average {load:.1f}")


if __name__ == "__main__":
    main()
