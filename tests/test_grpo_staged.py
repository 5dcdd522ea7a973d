"""`dart-trl grpo` end to end on a tiny local model on CPU: two stages, a kill in stage 2, a rerun.

One staged run is shared by the tests of this module: it is started with `dart-trl grpo` (validation,
then `accelerate launch`), SIGKILLed once stage 2 has saved a checkpoint, then run again to the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, run_job

from dart_trl.config import RESOLVED_RECIPE_NAME, RecipeError
from dart_trl.grpo.rewards import reward_factory
from dart_trl.tracking.offline import find_runs, read_run
from dart_trl.tracking.runs import RUN_ID_FILE

TESTS_DIR = Path(__file__).resolve().parent
STAGES = (
    "[{name: level1, levels: [1], max_steps: 6, advance_reward_threshold: 0.0, advance_window: 2},"
    " {name: level2, levels: [2], max_steps: 30, drop_uniform_prompts: true}]"
)


def distinct_chars_reward(completions, **kwargs):
    """A custom reward (imported by dotted path) that varies within a group, so the policy really moves."""
    return [len(set(c)) / (len(c) + 1) for c in completions]


@reward_factory
def needs_long_completions(context):
    """A reward factory that refuses the recipe's completion length: an error found inside the rank,
    which builds the rewards after launch (the launcher only resolves their names)."""
    if context.max_completion_length < 64:
        raise RecipeError(
            f"needs_long_completions: max_completion_length {context.max_completion_length} < 64"
        )
    return distinct_chars_reward


def write_levels_data(path: Path) -> Path:
    """Arithmetic questions with exact answers: 8 at level 1, 40 at level 2."""
    rows = []
    for i in range(48):
        a, b = 3 + i, 7 + 2 * i
        if i < 8:
            rows.append({"query": f"What is {a} + {b}?", "answer": str(a + b), "level": 1})
        else:
            rows.append({"query": f"What is {a} * {b} - {a}?", "answer": str(a * b - a), "level": 2})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def grpo_command(recipe: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "dart_trl.cli", "grpo", str(recipe), *overrides]


@pytest.fixture(scope="module")
def job_env(tmp_path_factory):
    wandb_dir = tmp_path_factory.mktemp("wandb")
    env = dict(
        os.environ, WANDB_DIR=str(wandb_dir), PYTHONPATH=os.pathsep.join([str(TESTS_DIR), str(REPO_ROOT)])
    )
    return env, wandb_dir


@pytest.fixture(scope="module")
def staged_run(tiny_model, tmp_path_factory, job_env):
    env, wandb_dir = job_env
    root = tmp_path_factory.mktemp("grpo")
    out = root / "run"
    args = [
        "--model_name_or_path", str(tiny_model),
        "--dataset", str(write_levels_data(root / "levels.jsonl")),
        "--output_dir", str(out),
        "--reward_funcs", "[accuracy, format, test_grpo_staged.distinct_chars_reward]",
        "--reward_weights", "[1.0, 0.1, 1.0]",
        "--learning_rate", "0.01",
        "--stages", STAGES,
    ]  # fmt: skip
    command = grpo_command(REPO_ROOT / "recipes" / "grpo_tiny_cpu.yaml", *args)
    log = (root / "first.log").open("w")
    first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    marker = out / "level2" / "checkpoint-4" / "curriculum_state.json"
    deadline = time.monotonic() + 240
    while not marker.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the whole `dart-trl grpo` -> accelerate -> trainer tree
    first.wait()
    log.close()
    assert marker.exists(), (root / "first.log").read_text()[-3000:]
    assert not (out / "level2" / "final" / "stage_done.json").exists(), "stage 2 finished before the kill"
    killed = {
        "level1_done": (out / "level1" / "final" / "stage_done.json").read_text(),
        "level1_mtime": (out / "level1" / "final" / "model.safetensors").stat().st_mtime_ns,
        "level2_start": json.loads((out / "level2" / "start_weights.json").read_text()),
    }
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    runs = [read_run(d) for d in find_runs(wandb_dir)]
    return {"out": out, "killed": killed, "rerun": rerun, "runs": runs, "base": tiny_model}


def digest_of(model_dir) -> str:
    from transformers import AutoModelForCausalLM

    from dart_trl.grpo.train import weights_digest

    return weights_digest(AutoModelForCausalLM.from_pretrained(model_dir))


@pytest.mark.slow  # staged_run trains two GRPO stages (about 85 s)
def test_stage2_starts_from_stage1_final_weights(staged_run):
    out = staged_run["out"]
    level1_final = digest_of(out / "level1" / "final")
    start = staged_run["killed"]["level2_start"]
    assert start["init_from"] == str(out / "level1" / "final")
    assert start["digest"] == level1_final
    assert level1_final != digest_of(staged_run["base"])  # stage 1 did change the weights
    assert digest_of(out / "level2" / "final") != level1_final


@pytest.mark.slow
def test_adaptive_advance_and_prompt_dropping_are_recorded(staged_run):
    out = staged_run["out"]
    level1 = json.loads((out / "level1" / "final" / "stage_done.json").read_text())
    assert level1["advanced_early"] and level1["global_step"] == level1["advanced_at_step"] == 2
    level2 = json.loads((out / "level2" / "final" / "stage_done.json").read_text())
    assert not level2["advanced_early"] and level2["global_step"] == 30
    # The tiny model never answers correctly: every group is all-wrong, so each visited prompt is dropped.
    assert level2["dropped_prompts"] >= 20 and level2["num_prompts"] == 40


@pytest.mark.slow
def test_one_wandb_group_one_run_per_stage_with_rewards(staged_run):
    runs = staged_run["runs"]
    out = staged_run["out"]
    assert sorted(r.name for r in runs) == ["level1", "level2", "level2"]  # level2 again after the kill
    assert {r.group for r in runs} == {out.name}
    assert {r.job_type for r in runs} == {"grpo-stage"}
    for run in runs:
        assert run.config["stage"] == run.name
        rewards = run.series("train/rewards/accuracy/mean")
        assert rewards and all(r == 0.0 for r in rewards)
        assert any(v > 0 for v in run.series("train/rewards/distinct_chars_reward/mean"))
    level1 = next(r for r in runs if r.name == "level1")
    assert level1.series("train/curriculum/running_reward")
    assert level1.summary["grpo/advanced_early"] is True
    # The stages line up: index, count, levels, the weights each trains, and one step count across them
    # (level1 advanced at its step 2, so level2's steps are 3..32).
    assert (level1.config["stage_index"], level1.config["num_stages"], level1.config["stage_levels"]) == (
        1,
        2,
        [1],
    )
    assert level1.config["model_name_or_path"] == str(staged_run["base"]) == level1.config["base_model"]
    assert sorted(set(level1.series("train/curriculum/step"))) == [1, 2] and level1.summary["grpo/step"] == 2
    for run in (r for r in runs if r.name == "level2"):
        assert (run.config["stage_index"], run.config["num_stages"], run.config["stage_levels"]) == (
            2,
            2,
            [2],
        )
        assert run.config["model_name_or_path"] == str(out / "level1" / "final")
        assert run.config["step_offset"] == 2 and run.config["model_run_id"] == level1.run_id
        steps = run.series("train/curriculum/step")
        assert steps == sorted(steps) and steps[0] >= 3  # after level1's 2 steps, also in the killed run
    resumed = [r for r in runs if r.name == "level2" and r.config.get("resumed_from")]
    assert len(resumed) == 1
    # One W&B run per stage, kept across the kill: its id is stored in the stage's directory.
    stored = {
        stage: json.loads((out / stage / RUN_ID_FILE).read_text())["id"] for stage in ("level1", "level2")
    }
    assert {(r.name, r.run_id) for r in runs} == set(stored.items()) and stored["level1"] != stored["level2"]
    assert resumed[0].series("train/curriculum/step")[-1] == 2 + 30
    assert resumed[0].summary["grpo/step"] == 2 + 30 and resumed[0].summary["grpo/questions"] == 40
    dropped = resumed[0].series("train/curriculum/dropped_prompts")
    assert dropped == sorted(dropped) and dropped[-1] >= 20


@pytest.mark.slow
def test_rerun_skips_stage1_and_resumes_stage2(staged_run):
    out, killed, rerun = staged_run["out"], staged_run["killed"], staged_run["rerun"]
    assert "stage 'level1' is done" in rerun.stdout
    assert (out / "level1" / "final" / "stage_done.json").read_text() == killed["level1_done"]
    assert (out / "level1" / "final" / "model.safetensors").stat().st_mtime_ns == killed["level1_mtime"]
    level2 = json.loads((out / "level2" / "final" / "stage_done.json").read_text())
    resumed_step = int(Path(level2["resumed_from"]).name.split("-")[1])
    assert resumed_step >= 4 and Path(level2["resumed_from"]).parent == out / "level2"
    # The fresh-start record of stage 2 was not overwritten by the resumed run.
    assert json.loads((out / "level2" / "start_weights.json").read_text()) == killed["level2_start"]
    assert (out / "recipe.resolved.yaml").is_file()


def test_bad_input_fails_before_training(tiny_model, tmp_path, job_env, capsys):
    env, _ = job_env
    data = write_levels_data(tmp_path / "levels.jsonl")
    no_answer = tmp_path / "no_answer.jsonl"
    no_answer.write_text("".join(json.dumps({"query": "1+1?", "level": 1}) + "\n" for _ in range(3)))
    recipe = REPO_ROOT / "recipes" / "grpo_tiny_cpu.yaml"
    base = ["--model_name_or_path", str(tiny_model), "--output_dir", str(tmp_path / "out")]
    cases = {
        "has no column 'answer' (answer_column); its columns are ['query', 'level']; set answer_column": [
            "--dataset", str(no_answer),
        ],
        "unknown reward 'acuracy'; did you mean 'accuracy'?": ["--dataset", str(data), "--reward_funcs", "[acuracy]"],
        "stages[0] 'level1': unknown key 'max_step'; did you mean 'max_steps'?": [
            "--dataset", str(data), "--stages", "[{name: level1, levels: [1], max_step: 2}]",
        ],
        "stage 'level1': invalid value for StagedGRPOArguments: drop_patience and advance_window must be": [
            "--dataset", str(data), "--stages", "[{name: level1, levels: [1], drop_patience: 0}]",
        ],
    }  # fmt: skip
    from dart_trl.cli import main as cli_main

    for message, overrides in cases.items():
        assert cli_main(["grpo", str(recipe), *base, *overrides]) == 2, message
        assert message in capsys.readouterr().err
    # The same failures, as the user sees them: one line on stderr, exit code 2, nothing trained.
    result = subprocess.run(
        grpo_command(recipe, *base, "--dataset", str(no_answer)), env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "has no column 'answer' (answer_column)" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    # A check that needs the rows (a level filter leaving none) runs in the rank before any model loads:
    # one line and exit code 2 from what `accelerate launch` runs.
    stages = "[{name: level3, levels: [3], max_steps: 2}]"
    rank = subprocess.run(
        [sys.executable, "-m", "dart_trl.grpo", str(recipe), *base, "--dataset", str(data), "--stages", stages],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = rank.stderr.strip().splitlines()
    assert rank.returncode == 2 and len(lines) == 1, rank.stderr[-3000:]
    assert "stage 'level3': no rows of" in lines[0]
    assert "level in [3] (empty level); its level values include ['1', '2']" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_stage_is_the_recipe_updated_by_its_own_keys(tiny_model, tmp_path):
    from dart_trl.config import parse_recipe
    from dart_trl.grpo.train import (
        GRPO_CONFIG,
        JOB,
        StagedGRPOArguments,
        check_stages,
        for_stage,
        load_stage_data,
    )

    recipe_file = REPO_ROOT / "recipes" / "grpo_tiny_cpu.yaml"
    in_file = yaml.safe_load(recipe_file.read_text())
    other = tmp_path / "other.jsonl"  # stage b's own data, with its own column names
    other.write_text(
        "".join(json.dumps({"problem": f"{i} + 1?", "gold": str(i + 1)}) + "\n" for i in range(5))
    )
    stages = (
        "[{name: a, levels: [1], learning_rate: 0.5, drop_patience: 3},"
        f" {{name: b, dataset: {other}, query_column: problem, answer_column: gold, max_samples: 3,"
        " reward_funcs: [format], reward_weights: [2.0]}]"
    )
    recipe, _ = parse_recipe(
        [str(recipe_file), "--model_name_or_path", str(tiny_model), "--output_dir", str(tmp_path / "out"),
         "--dataset", str(write_levels_data(tmp_path / "levels.jsonl")), "--stages", stages],
        JOB,
    )  # fmt: skip
    check_stages(recipe)
    a, b = recipe.get(StagedGRPOArguments).stages
    args_a, args_b = for_stage(StagedGRPOArguments, recipe, a), for_stage(StagedGRPOArguments, recipe, b)
    config_a, config_b = for_stage(GRPO_CONFIG, recipe, a), for_stage(GRPO_CONFIG, recipe, b)
    assert (config_a.learning_rate, config_b.learning_rate) == (0.5, in_file["learning_rate"])
    assert (args_a.drop_patience, args_b.drop_patience) == (3, 1)  # 1: StagedGRPOArguments' default
    assert (args_a.reward_funcs, args_b.reward_funcs) == (in_file["reward_funcs"], ["format"])
    assert (config_a.reward_weights, config_b.reward_weights) == (in_file["reward_weights"], [2.0])
    assert (config_b.output_dir, config_b.run_name) == (str(tmp_path / "out" / "b"), "b")
    assert load_stage_data(recipe, a)["answer"] == [str(3 + i + 7 + 2 * i) for i in range(8)]  # level 1
    table = load_stage_data(recipe, b)
    assert table["query"] == ["0 + 1?", "1 + 1?", "2 + 1?"] and table["prompt_id"] == [0, 1, 2]


def test_the_check_before_launch_peeks_at_columns_without_reading_rows(tiny_model, tmp_path, capsys):
    from dart_trl.cli import main as cli_main

    data = tmp_path / "levels.jsonl"
    data.write_text(json.dumps({"query": "1 + 1?", "answer": "2", "level": 1}) + "\n{broken\n")
    recipe = REPO_ROOT / "recipes" / "grpo_tiny_cpu.yaml"
    base = [
        "--model_name_or_path",
        str(tiny_model),
        "--output_dir",
        str(tmp_path / "out"),
        "--dataset",
        str(data),
    ]
    assert cli_main(["grpo", str(recipe), *base, "--check"]) == 0, capsys.readouterr().err
    stage = "[{name: one, levels: [1], query_column: problem}]"  # a stage's own column, missing
    assert cli_main(["grpo", str(recipe), *base, "--check", "--stages", stage]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"stage 'one': {data} (split train) has no column 'problem' (query_column)" in line


def test_a_stage_resumes_from_its_newest_complete_checkpoint(tmp_path):
    from dart_trl.grpo.train import last_checkpoint

    assert last_checkpoint(tmp_path) is None
    for name, complete in (("checkpoint-2", True), ("checkpoint-10", True), ("checkpoint-12", False)):
        (tmp_path / name).mkdir()
        if complete:
            (tmp_path / name / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-last").mkdir()
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # 12 was torn by a kill mid-save


@pytest.mark.slow
def test_an_error_inside_the_launched_rank_is_its_one_line_and_exit_2(tiny_model, tmp_path, job_env):
    env, _ = job_env
    out = tmp_path / "out"
    command = grpo_command(
        REPO_ROOT / "recipes" / "grpo_tiny_cpu.yaml",
        "--model_name_or_path", str(tiny_model),
        "--dataset", str(write_levels_data(tmp_path / "levels.jsonl")),
        "--output_dir", str(out),
        "--reward_funcs", "[accuracy, test_grpo_staged.needs_long_completions]",
        "--report_to", "none",
    )  # fmt: skip
    done = run_job(command, timeout=300, env=env, cwd=REPO_ROOT)
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last == "dart-trl grpo: error: needs_long_completions: max_completion_length 16 < 64"
    assert "Traceback" not in done.stderr
    assert (out / RESOLVED_RECIPE_NAME).is_file()  # written by the rank: the error came after launch
