"""``benchmarks/chaos_generate.py`` at CI size: real ``dart-trl generate`` runs SIGKILLed at five points.

Four kills hit transformers-backend runs (engine start, mid-sampling, finalize, start-up), one hits a
vLLM run while its engine processes exist. Each run's main process alone is killed, as ``kill -9``
would; the run is rerun after each kill (once with an emptied ``state.json``). The files on disk must
show no sample lost or duplicated and exact per-query targets, and nothing the killed job started may
be running 10 s after the kill.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import REPO_ROOT, run_job

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_killed_generate_runs_lose_nothing_and_leave_no_process(tmp_path):
    report_file = tmp_path / "chaos.json"
    command = [
        sys.executable, str(REPO_ROOT / "benchmarks" / "chaos_generate.py"),
        "--kills", "transformers=4,vllm=1",
        "--workdir", str(tmp_path / "runs"),
        "--json", str(report_file),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = run_job(command, timeout=1100, env=env, cwd=REPO_ROOT)  # under pytest-timeout's 1200 s
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    report = json.loads(report_file.read_text())
    kills = report["kills"]
    assert len(kills) == 5, done.stdout[-3000:]
    phases = {k["phase"] for k in kills if k["backend"] == "transformers"}
    assert phases == {"engine start", "mid-sampling", "finalize", "start-up"}
    (engine_kill,) = [k for k in kills if k["backend"] == "vllm"]
    assert any("EngineCor" in name for name in engine_kill["job_processes"]), engine_kill
    assert [k["orphans"] for k in kills] == [[]] * 5
    assert report["samples_lost"] == report["samples_duplicated"] == report["bad_queries"] == 0
    assert report["orphans"] == report["failed_runs"] == report["hung_runs"] == 0
    assert report["states_emptied"] >= 1 and report["states_rebuilt"] == report["states_emptied"]
    assert any(k["samples_on_disk"] > 0 for k in kills)  # some kill hit a run that had written samples
