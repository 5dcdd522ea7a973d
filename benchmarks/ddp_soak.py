"""Does a finished 2-process CPU SFT run always exit? Run it many times on a busy machine.

Builds a tiny Llama and a small arithmetic SFT set, starts CPU burners beside the runs (bounded in
time, killed at the end), then launches ``dart-trl sft`` with ``accelerate_config: cpu_ddp`` and
``num_processes: 2`` (3 steps) ``--runs`` times in a row, each under a hard deadline that kills the
whole process tree. Prints each run's wall time and outcome, then: runs, ok, failed, hangs (runs that
did not exit within ``--timeout`` seconds), processes left behind, and the wall-time spread. For a
hung run it writes every process's Python stacks (faulthandler) and, with gdb installed, native
stacks to ``--stacks-dir``.

    python benchmarks/ddp_soak.py [--runs 20] [--burners 2] [--timeout 300] [--stacks-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import psutil

from dart_trl.processes import run_bounded, spawn_bound, stop_processes

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE = REPO_ROOT / "recipes" / "sft_tiny_cpu.yaml"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_data(path: Path) -> Path:
    """48 short addition rows in the DART-Math query/response style."""
    rows = [
        {
            "query": f"What is {a} + {b}?",
            "response": f"{a} + {b} = {a + b}. The answer is $\\boxed{{{a + b}}}$.",
        }
        for a in range(10, 16)
        for b in range(20, 28)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def start_burners(count: int, seconds: float) -> list:
    """``count`` busy-looping processes that end by themselves after ``seconds`` (or with us)."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    return [spawn_bound([sys.executable, "-c", code]) for _ in range(count)]


def native_stacks(path: Path, processes) -> None:
    """Append gdb's backtrace of every thread of each process to ``path`` (nothing without gdb)."""
    if shutil.which("gdb") is None:
        return
    with path.open("a") as out:
        for process in processes:
            try:
                out.write(f"\n===== pid {process.pid}: {' '.join(process.cmdline())[:300]}\n")
            except psutil.Error:
                continue
            out.flush()
            subprocess.run(
                ["gdb", "-p", str(process.pid), "-batch", "-ex", "thread apply all bt"],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )


def sft_command(model: Path, data: Path, out: Path) -> list[str]:
    """The 2-process ``dart-trl sft`` launch of the test suite's DDP test."""
    return [
        sys.executable, "-m", "dart_trl.cli", "sft", str(RECIPE),
        "--model_name_or_path", str(model),
        "--dataset_name", str(data),
        "--output_dir", str(out),
        "--max_length", "256",
        "--accelerate_config", "cpu_ddp",
        "--num_processes", "2",
        "--main_process_port", str(free_port()),
        "--max_steps", "3",
        "--ddp_timeout", "120",
        "--report_to", "none",
    ]  # fmt: skip


def main() -> int:
    """Run the soak and print its figures; exit 1 if any run hung, failed or left processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="CPU burner processes")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a run counts as hung")
    parser.add_argument("--stacks-dir", default=".", help="where the stacks of hung runs are written")
    args = parser.parse_args()

    from dart_trl.demo.tiny import build_tiny_model

    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "disabled",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CUDA_VISIBLE_DEVICES": "",
    }
    with tempfile.TemporaryDirectory(prefix="ddp-soak-") as tmp:
        root = Path(tmp)
        data = write_data(root / "train.jsonl")
        model = build_tiny_model(root / "llama", corpus=data.read_text())
        burners = start_burners(args.burners, seconds=args.runs * args.timeout)
        print(f"{args.burners} CPU burners running; {args.runs} runs of 2-process dart-trl sft", flush=True)
        walls, hangs, failed, leftovers = [], 0, 0, 0
        try:
            for i in range(args.runs):
                out = root / f"run-{i}"
                stacks = Path(args.stacks_dir) / f"ddp-soak-hang-{i + 1}.txt"
                done = run_bounded(
                    sft_command(model, data, out),
                    args.timeout,
                    before_abort=partial(native_stacks, stacks),
                    env=env,
                    cwd=REPO_ROOT,
                )
                ok = done.returncode == 0 and (out / "model.safetensors").is_file()
                status = "HUNG" if done.timed_out else "ok" if ok else f"FAILED (exit {done.returncode})"
                print(f"run {i + 1:2d}: {done.seconds:6.1f} s  {status}", flush=True)
                if done.timed_out:
                    with stacks.open("a") as f:
                        f.write(f"\n===== stderr (faulthandler stacks after SIGABRT)\n{done.stderr}")
                    print(f"        stacks: {stacks}", flush=True)
                if done.leftovers:
                    print(f"        left running: {', '.join(done.leftovers)}", flush=True)
                if not ok and not done.timed_out:
                    print(done.stderr[-3000:], flush=True)
                hangs += done.timed_out
                failed += not ok and not done.timed_out
                leftovers += len(done.leftovers)
                walls.append(done.seconds)
        finally:
            stop_processes([psutil.Process(b.pid) for b in burners if b.poll() is None])
            for burner in burners:
                burner.wait()
    print(
        f"\nruns: {len(walls)}  ok: {len(walls) - hangs - failed}  failed: {failed}  hangs: {hangs}  "
        f"processes left behind: {leftovers}"
    )
    print(
        f"wall time per run: median {statistics.median(walls):.1f} s, min {min(walls):.1f} s, "
        f"max {max(walls):.1f} s, total {sum(walls) / 60:.1f} min"
    )
    return 1 if hangs or failed or leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
