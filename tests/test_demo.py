"""`dart-trl demo --quick` runs the whole pipeline for real and leaves every artifact it names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dart_trl.tracking.offline import find_runs, read_run


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, WANDB_MODE="offline")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dart_trl.cli",
            "demo",
            "--quick",
            "--output_dir",
            str(out),
            "--wandb_group",
            "ci-demo",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    artifacts = json.loads((out / "artifacts.json").read_text())
    for name, path in artifacts.items():
        assert os.path.exists(path), f"{name}: {path} is missing"
        assert path in result.stdout, f"the demo does not print where {name} is"

    import pandas as pd

    data = pd.read_parquet(artifacts["dataset"])
    info = pd.read_parquet(artifacts["query_info"])
    assert len(data) > 0 and {"query", "response"} <= set(data.columns)
    assert (info["n_corrects"] <= info["n_samples"]).all()
    assert info["pass_rate"].between(0, 1).all()

    accuracy = {
        name: json.loads((out / "eval" / name / "results.json").read_text())["average"]
        for name in ("untrained", "teacher", "student", "student-rl")
    }
    assert accuracy["student"] > accuracy["untrained"], accuracy
    assert "| untrained" in result.stdout or "untrained" in result.stdout

    runs = [read_run(path) for path in find_runs(out)]
    assert all(str(path) in result.stdout for path in find_runs(out)), (
        "the demo does not print its W&B run dirs"
    )
    job_types = {run.job_type for run in runs}
    assert {"sft", "generate", "grpo-stage", "eval"} <= job_types, job_types
    assert {run.group for run in runs} == {"ci-demo"}
