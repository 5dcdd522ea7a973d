"""`dart-trl demo --quick` runs the whole pipeline for real and leaves every artifact it names; the demo's
data and summaries do what they say."""

from __future__ import annotations

import json
import os
import sys
import time

import pandas as pd
import psutil
import pytest
from conftest import run_job

from dart_trl.demo import summary
from dart_trl.demo.arithmetic import LEVELS, answer_of, build_demo_data, worked_solutions
from dart_trl.demo.reading import reading
from dart_trl.demo.steps import Step, StepFailed, run_side_by_side
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
    text = reading(table.reset_index(), pd.DataFrame(), pd.DataFrame(), [], 10, {})
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


def test_reading_puts_each_students_rows_per_level_next_to_its_scores(tmp_path):
    for name, levels in [("vrt", [1] * 5 + [2] * 3 + [3] * 2), ("prop2diff", [1] * 2 + [2] * 3 + [3] * 5)]:
        rows = [{"query": "q", "response": "r", "query_id": "id", "level": lv} for lv in levels]
        pd.DataFrame(rows).to_json(tmp_path / f"{name}.jsonl", orient="records", lines=True)
    rows = summary.rows_per_level({s: tmp_path / f"{s}.jsonl" for s in ("vrt", "prop2diff")})
    assert rows.loc["level1"].tolist() == [5, 2] and rows.loc["level3"].tolist() == [2, 5]
    accuracy = pd.DataFrame(
        {"level1": [0.9, 0.35], "level2": [0.85, 0.7], "level3": [0.3, 0.55]},
        index=["student-vrt", "student-prop2diff"],
    )
    text = reading(pd.DataFrame(columns=summary.PER_LEVEL_COLUMNS), rows, accuracy, [], 20, {})
    assert "Trained on 10 rows each (per level, VRT / Prop2Diff: level1 5 / 2, level2 3 / 3" in text
    assert "level3: Prop2Diff 55% vs VRT 30% (+25 points)" in text
    assert "Of the 2 levels where one student had more rows, that student scored higher at 2." in text
    accuracy.loc["student-prop2diff", "level1"] = 0.9
    text = reading(pd.DataFrame(columns=summary.PER_LEVEL_COLUMNS), rows, accuracy, [], 20, {})
    assert "that student scored higher at 1 (1 tied)." in text


def test_stage_rewards_first_and_last_quarter():
    run = OfflineRun(
        name="level1", history=[{"train/rewards/accuracy/mean": r} for r in [0, 0, 1, 1, 1, 1, 1, 1]]
    )
    (stage,) = summary.stage_rewards([run])
    assert stage == {"stage": "level1", "steps": 8, "window": 2, "first": 0.0, "last": 1.0}


def python_step(title: str, code: str) -> Step:
    return Step(title, [sys.executable, "-c", code], title)


def test_side_by_side_steps_print_whole_logs_and_a_failure_stops_the_rest(tmp_path, capsys):
    timings = {}
    chatty = "import time\nfor i in range(3):\n    print('{}', i, flush=True); time.sleep(0.2)"
    steps = [python_step("a", chatty.format("a")), python_step("b", chatty.format("b"))]
    run_side_by_side(steps, dict(os.environ), tmp_path / "logs", timings)
    out = capsys.readouterr().out
    assert "a 0\na 1\na 2" in out and "b 0\nb 1\nb 2" in out, "a step's output must be printed whole"
    assert set(timings) == {"a", "b"} and (tmp_path / "logs" / "a.log").read_text() == "a 0\na 1\na 2\n"

    sleeper = python_step("sleeper", "import time; time.sleep(120)")
    start = time.time()
    with pytest.raises(StepFailed, match="'fails' failed with exit code 3"):
        run_side_by_side([sleeper, python_step("fails", "raise SystemExit(3)")], dict(os.environ),
                         tmp_path / "logs", {})  # fmt: skip
    assert time.time() - start < 60
    left = [
        p for p in psutil.Process().children(recursive=True) if "time.sleep(120)" in " ".join(p.cmdline())
    ]
    assert not left, "the step still running when another failed must be stopped"


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, WANDB_MODE="offline")
    command = [sys.executable, "-m", "dart_trl.cli", "demo", "--quick", "--output_dir", str(out),
               "--wandb_group", "ci-demo"]  # fmt: skip
    result = run_job(command, timeout=1100, env=env)  # under pytest-timeout's 1200 s
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
