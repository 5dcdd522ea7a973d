"""`dart-trl demo --quick` runs the whole pipeline for real and leaves every artifact it names; the demo's
data and summaries do what they say."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from dart_trl.demo import summary
from dart_trl.demo.arithmetic import LEVELS, answer_of, build_demo_data, worked_solutions
from dart_trl.demo.reading import reading
from dart_trl.grading import Grader
from dart_trl.tracking.offline import OfflineRun, find_runs, read_run


def test_worked_solutions_are_varied_and_correct_and_slips_are_wrong():
    with Grader() as grader:
        for operation, a, b in [
            ("add", 7, 5),
            ("add", 3, 0),
            ("add", 37, 25),
            ("mul", 37, 8),
            ("mul", 11, 3),
        ]:
            gold = answer_of(operation, a, b)
            correct = worked_solutions(operation, a, b)
            assert len(set(correct)) >= 12, "too few distinct correct solutions to survive de-duplication"
            assert all(grader.grade(text, gold).correct for text in correct)
            assert not any(
                grader.grade(text, gold).correct for text in worked_solutions(operation, a, b, slip=1)
            )


def test_demo_data_levels_slips_and_held_out_phrasing(tmp_path):
    paths = build_demo_data(tmp_path, per_level=6, seed=3)
    read = lambda name: [json.loads(line) for line in paths[name].read_text().splitlines()]  # noqa: E731
    pool, teacher, slips = read("pool"), read("teacher_sft"), read("teacher_slips")
    assert sorted({row["level"] for row in pool}) == sorted(LEVELS) and len(pool) == 6 * len(LEVELS)
    share = pd.DataFrame(slips).groupby("level")["slip_share"].mean()
    assert share[1] < share[2] < share[3], "slips must grow with the level"
    pool_queries = {row["query"] for row in pool} | {row["query"] for row in teacher}
    for level in LEVELS:
        bench = read(f"benchmark_level{level}")
        assert len(bench) == 6 and {row["level"] for row in bench} == {level}
        assert not pool_queries & {row["query"] for row in bench}, "benchmark questions must be held out"


def query_info(strategy_rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"query_id": f"q{i}", "level": level, "n_responses": n, "n_samples": s, "n_corrects": n}
            for i, (level, n, s) in enumerate(strategy_rows)
        ]
    )


def test_per_level_table_counts_queries_without_response_and_samples():
    infos = {
        "vrt": query_info([(1, 4, 8), (1, 3, 8), (2, 0, 8), (2, 1, 8)]),
        "prop2diff": query_info([(1, 1, 2), (1, 1, 2), (2, 2, 40), (2, 3, 64)]),
    }
    table = summary.per_level_table(infos).set_index(["level", "strategy"])
    assert table.loc[(2, "vrt"), "queries_without_response"] == 1
    assert table.loc[(2, "prop2diff"), "responses_per_query"] == 2.5
    assert table.loc[(2, "prop2diff"), "raw_samples"] == 104
    assert table.loc[(1, "vrt"), "responses"] == 7
    text = reading(table.reset_index(), 10, pd.DataFrame(), [], 10, {})
    assert "prop2diff 2.50" in text and "more responses per query than VRT" in text


def test_equal_size_datasets_cut_to_the_smaller(tmp_path):
    for name, n in [("a", 7), ("b", 12)]:
        (tmp_path / name / "dataset").mkdir(parents=True)
        frame = pd.DataFrame({"query": ["q"] * n, "response": [f"r{i}" for i in range(n)],
                              "query_id": [f"id{i}" for i in range(n)], "level": [1] * n})  # fmt: skip
        frame.to_parquet(tmp_path / name / "dataset" / "train.parquet")
    paths = summary.equal_size_datasets({"a": tmp_path / "a", "b": tmp_path / "b"}, tmp_path / "out", seed=0)
    sizes = {name: len(pd.read_json(path, lines=True)) for name, path in paths.items()}
    assert sizes == {"a": 7, "b": 7}
    assert pd.read_json(paths["b"], lines=True)["response"].is_unique


def test_stage_rewards_first_and_last_quarter():
    run = OfflineRun(
        name="level1", history=[{"train/rewards/accuracy/mean": r} for r in [0, 0, 1, 1, 1, 1, 1, 1]]
    )
    (stage,) = summary.stage_rewards([run])
    assert stage == {"stage": "level1", "steps": 8, "window": 2, "first": 0.0, "last": 1.0}


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

    # Figure 1's shape, from the numbers on disk: Prop2Diff gives the hardest level more responses per query.
    infos = {
        s: pd.read_parquet(out / "dars" / s / "query_info.parquet") for s in ("vrt", "uniform", "prop2diff")
    }
    hardest = max(LEVELS)
    per_query = {s: info.loc[info["level"] == hardest, "n_responses"].mean() for s, info in infos.items()}
    assert per_query["prop2diff"] > per_query["vrt"], per_query
    table = pd.read_csv(out / "dars" / "per_level.csv")
    assert len(table) == len(LEVELS) * 3 and (table["raw_samples"] > 0).all()

    students = {s: pd.read_json(artifacts[f"student_data_{s}"], lines=True) for s in ("vrt", "prop2diff")}
    assert len(students["vrt"]) == len(students["prop2diff"]) > 0

    for name in ("teacher", "student-vrt", "student-prop2diff", "student-prop2diff-grpo"):
        results = json.loads((out / "eval" / name / "results.json").read_text())
        assert set(results["benchmarks"]) == {f"level{level}" for level in LEVELS}, name
    comparison = (out / "compare" / "comparison.md").read_text()
    assert "student-prop2diff-grpo" in comparison and "level3" in comparison
    assert "Where everything is" in result.stdout

    runs = [read_run(path) for path in find_runs(out)]
    assert all(str(path) in result.stdout for path in find_runs(out)), (
        "the demo does not print its W&B run dirs"
    )
    job_types = {run.job_type for run in runs}
    assert {"sft", "generate", "grpo-stage", "eval"} <= job_types, job_types
    assert {run.group for run in runs} == {"ci-demo"}
    stages = [run for run in runs if run.job_type == "grpo-stage"]
    assert stages and all(run.series("train/rewards/accuracy/mean") for run in stages)
