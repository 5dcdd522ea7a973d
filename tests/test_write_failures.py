"""A disk that fills up mid-run, or an output directory that cannot be written: one line, nothing lost.

The full disk is a file-size limit (RLIMIT_FSIZE) on the job, so the append that crosses it fails the
way a full disk fails a write; a read-only output directory is a read-only tmpfs (root only: skipped
elsewhere). The job is a real `dart-trl generate` on a tiny model with the transformers backend.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import uuid

import pytest
import yaml


def write_recipe(tmp_path, model, out) -> str:
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"q": f"What is {i} + {i}?", "a": str(2 * i)}) + "\n" for i in range(6))
    )
    recipe = tmp_path / "dars.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(model),
                "strategy": "vrt",
                "max_trials": 16,
                "chunk_samples": 8,
                "pools": [{"source": str(pool), "query": "q", "answer": "a"}],
                "prompt_template": "raw",
                "backend": "transformers",
                "max_tokens": 16,
                "temperature": 1.0,
                "output_dir": str(out),
                "report_to": "none",
            }
        )
    )
    return str(recipe)


def raw_lines(out):
    return [line for f in sorted((out / "raw").glob("*.jsonl")) for line in f.read_text().splitlines()]


def limit_file_size(size: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def test_a_disk_filling_up_mid_run_stops_with_one_line_and_keeps_every_sample(tiny_model, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, tiny_model, out)
    command = [sys.executable, "-m", "dart_trl.cli", "generate", recipe]
    full = subprocess.run(
        command, capture_output=True, text=True, timeout=600, preexec_fn=limit_file_size(8_000)
    )
    errors = [line for line in full.stderr.splitlines() if line.startswith("dart-trl generate: error:")]
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-3000:]
    assert len(errors) == 1 and "cannot write" in errors[0] and "what was written before is kept" in errors[0]
    assert "/raw/part-" in errors[0]  # the file that could not be written
    kept = raw_lines(out)
    parsed = [json.loads(line) for line in kept[:-1]]  # the last line may be torn by the failed write
    assert 8 <= len(parsed) < 96  # some chunks were written, not all
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    records = [json.loads(line) for line in raw_lines(out) if line.strip().endswith("}")]
    keys = [(r["query_id"], r["round"], r["sample"]) for r in records]
    assert len(keys) == len(set(keys)) == 96  # every query got its 16 samples, none written twice
    assert {(r["query_id"], r["round"], r["sample"]) for r in parsed} <= set(keys)  # nothing written was lost


def test_a_read_only_output_dir_is_one_line(tiny_model, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    mount_point = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        recipe = write_recipe(tmp_path, tiny_model, mount_point / "out")
        done = subprocess.run(
            [sys.executable, "-m", "dart_trl.cli", "generate", recipe],
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
        assert (
            "cannot write" in lines[0]
            and str(mount_point) in lines[0]
            and "Read-only file system" in lines[0]
        )
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)
