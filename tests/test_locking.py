"""One writer per output directory, with real processes: a second job on a directory in use is refused with
one line naming the holder, before any model loads; the lock of a killed job is taken over with a note."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO_ROOT, run_job

from dart_trl.locking import LOCK_NAME

HOLD_SCRIPT = """
import sys, time
from dart_trl.locking import lock_output_dir

lock_output_dir(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def wait_for_holder(lock_file, pid: int, process: subprocess.Popen, timeout: float = 120) -> dict:
    """The holder JSON of ``lock_file`` once process ``pid`` has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the first job ended before it held the lock"
        try:
            info = json.loads(lock_file.read_text())
            if info.get("pid") == pid:
                return info
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    pytest.fail(f"{lock_file} never named PID {pid}")


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group we started (the job and anything it started) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def raw_keys(out) -> list[tuple]:
    keys = []
    for path in sorted((out / "raw").glob("*.jsonl")):
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                r = json.loads(line)
                keys.append((r["query_id"], r["round"], r["sample"]))
    return keys


def test_second_generate_is_refused_and_a_killed_jobs_lock_is_taken_over(tmp_path, tiny_model):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"id": f"q{i}", "q": f"{i}+2=?", "a": str(i + 2)}) + "\n" for i in range(4))
    )
    out = tmp_path / "out"
    recipe = tmp_path / "dars.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(tiny_model),
                "strategy": "vrt",
                "max_trials": 2,
                "probe_samples": 0,
                "pools": [{"source": str(pool), "name": "toy", "id": "id", "query": "q", "answer": "a"}],
                "prompt_template": "raw",
                "output_dir": str(out),
                "backend": "transformers",
                "max_tokens": 4,
                "report_to": "none",
            }
        )
    )
    command = [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        holder = wait_for_holder(out / LOCK_NAME, first.pid, first)
        os.killpg(first.pid, signal.SIGSTOP)  # alive but frozen: it cannot finish before the second job asks
        second = run_job(command, timeout=120, env=env, cwd=tmp_path)
        assert second.returncode == 2, second.stderr[-3000:]
        error = second.stderr.strip().splitlines()[-1]
        assert error.startswith("dart-trl generate: error:") and str(out) in error
        assert f"PID {first.pid} on {socket.gethostname()}, started {holder['started']}" in error
        assert "dars.yaml" in error  # the holder's command
    finally:
        kill_group(first)  # SIGKILL: the lock file stays behind, its flock gone with the process
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == first.pid

    third = run_job(command, timeout=600, env=env, cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    notes = [line for line in third.stderr.splitlines() if "took over the lock" in line]
    assert len(notes) == 1 and f"left by PID {first.pid}" in notes[0] and "no longer running" in notes[0]
    keys = raw_keys(out)
    assert len(keys) == len(set(keys)) == 4 * 2  # every sample once: no second writer
    assert (out / "query_info.parquet").is_file()
    assert not (out / LOCK_NAME).exists()  # released at the end


def test_training_launcher_refuses_a_busy_output_dir_before_launching(tmp_path, tiny_model):
    out = tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(out)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        data = tmp_path / "train.jsonl"
        data.write_text(json.dumps({"query": "What is 1 + 1?", "response": "2"}) + "\n")
        command = [
            sys.executable, "-m", "dart_trl.cli", "sft", str(REPO_ROOT / "recipes" / "sft_tiny_cpu.yaml"),
            "--model_name_or_path", str(tiny_model),
            "--dataset_name", str(data),
            "--output_dir", str(out),
            "--report_to", "none",
        ]  # fmt: skip
        refused = run_job(command, timeout=120, env=env, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr[-3000:]
        (error,) = [line for line in refused.stderr.splitlines() if "error" in line]  # after datasets' bars
        assert error.startswith("dart-trl sft: error:"), refused.stderr[-3000:]
        assert f"{out} is in use by another dart-trl job: PID {holder.pid} on {socket.gethostname()}" in error
        # accelerate never started: nothing but the holder's lock file is there
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    finally:
        kill_group(holder)


def test_merge_waits_for_no_shard_still_being_written(tmp_path):
    out = tmp_path / "out"
    shard = out / "shard-000-of-002"
    shard.mkdir(parents=True)
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"q": "1+1?", "a": "2"}) + "\n")
    recipe = tmp_path / "dars.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(tmp_path / "no-such-model"),  # a merge loads no model
                "pools": [{"source": str(pool), "query": "q", "answer": "a"}],
                "output_dir": str(out),
                "report_to": "none",
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(shard)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"  # e.g. `generate --shard 0/2`, still running
        merge = run_job(
            [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe), "--merge"], timeout=120, env=env
        )
        assert merge.returncode == 2, merge.stderr[-3000:]
        error = merge.stderr.strip().splitlines()[-1]
        assert f"{shard} is in use by another dart-trl job: PID {holder.pid}" in error
        assert not (out / "raw").exists()  # nothing merged
    finally:
        kill_group(holder)
