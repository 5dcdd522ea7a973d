"""Every bad input, in every job: one line naming the file (and the key), exit code 2, nothing loaded first.

Each case runs the real `dart-trl` command. The model directory holds a config.json and no weights, and
every data file has a good first record followed by a broken line: a job that loaded the model, or read
a whole data file, before checking its recipe would fail with a traceback instead of the one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

GOOD_POOL = {"q": "What is 1 + 1?", "a": "2", "lvl": 1}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-input")
    model = root / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))  # no weights, no tokenizer
    pool = root / "pool.jsonl"
    pool.write_text(json.dumps(GOOD_POOL) + "\n{broken\n")
    sft_data = root / "sft.jsonl"
    sft_data.write_text(json.dumps({"query": "q", "response": "r"}) + "\n{broken\n")
    levels_data = root / "levels.jsonl"
    levels_data.write_text(
        "".join(json.dumps({"query": "q", "answer": "1", "level": 1}) + "\n" for _ in range(3))
    )
    query_info = root / "query_info.parquet"
    import pandas as pd

    pd.DataFrame({"query_id": ["a"], "n_samples": [4], "n_corrects": [2]}).to_parquet(query_info)
    return {
        "root": root,
        "model": model,
        "pool": pool,
        "sft": sft_data,
        "levels": levels_data,
        "qi": query_info,
    }


def base_recipe(job: str, f: dict[str, Path]) -> dict:
    out = str(f["root"] / "out")
    if job == "generate":
        pool = {"source": str(f["pool"]), "query": "q", "answer": "a", "level": "lvl"}
        return {
            "model_name_or_path": str(f["model"]),
            "pools": [pool],
            "output_dir": out,
            "report_to": "none",
        }
    if job == "sft":
        return {
            "model_name_or_path": str(f["model"]), "dataset_name": str(f["sft"]), "output_dir": out,
            "report_to": "none", "use_cpu": True, "max_length": 64,
        }  # fmt: skip
    if job == "grpo":
        return {
            "model_name_or_path": str(f["model"]), "dataset": str(f["levels"]), "output_dir": out,
            "report_to": "none", "use_cpu": True, "use_vllm": False,
            "stages": [{"name": "one", "levels": [1], "max_steps": 1}],
        }  # fmt: skip
    if job == "eval":
        bench = {
            "name": "mine",
            "data_files": [str(f["sft"])],
            "query_field": "query",
            "answer_field": "response",
        }
        return {
            "model_name_or_path": str(f["model"]),
            "benchmarks": [bench],
            "output_dir": out,
            "report_to": "none",
        }
    if job == "levels":
        return {"small_query_info": str(f["qi"]), "output_dir": out}
    if job == "decontaminate":
        return {"dataset_name": str(f["sft"]), "benchmarks": ["gsm8k"], "output_dir": out}
    raise ValueError(job)


# (case id, job, recipe changes (None drops a key) or raw recipe text/bytes, overrides, expected fragments)
CASES = [
    # recipe files
    ("not_utf8", "generate", b"output_dir: caf\xe9\n", [], ["line 1 is not UTF-8"]),
    ("duplicate_key", "generate", "k_p: 4\nk_p: 8\n", [], ["key 'k_p' appears twice"]),
    ("empty_recipe", "sft", "# only a comment\n", [], ["empty recipe"]),
    ("not_a_mapping", "eval", "- a\n- b\n", [], ["must be a YAML mapping"]),
    ("bad_yaml", "levels", "output_dir: [x\n", [], ["is not valid YAML"]),
    # keys and values
    # a required key missing, in every job that has one
    ("sft_without_dataset", "sft", {"dataset_name": None}, [], ["key 'dataset_name' is required"]),
    ("sft_without_model", "sft", {"model_name_or_path": None}, [], ["key 'model_name_or_path' is required"]),
    ("grpo_without_model", "grpo", {"model_name_or_path": None}, [], ["key 'model_name_or_path' is required"]),
    ("grpo_without_stages", "grpo", {"stages": []}, [], ["key 'stages' is required"]),
    ("generate_without_pools", "generate", {"pools": None}, [], ["key 'pools' is required"]),
    ("generate_without_output_dir", "generate", {"output_dir": None}, [], ["key 'output_dir' is required"]),
    ("eval_without_model", "eval", {"model_name_or_path": None}, [], ["key 'model_name_or_path' is required"]),
    ("levels_without_output_dir", "levels", {"output_dir": None}, [], ["key 'output_dir' is required"]),
    ("decontaminate_without_data", "decontaminate", {"dataset_name": None}, [], ["key 'dataset_name' is required"]),
    ("unknown_key", "sft", {"learning_rat": 1e-5}, [], ["unknown key 'learning_rat'", "did you mean 'learning_rate'"]),
    ("wrong_type", "sft", {"num_train_epochs": "three"}, [], ["key 'num_train_epochs'", "expects float"]),
    ("max_tokens_negative", "generate", {"max_tokens": -5}, [], ["max_tokens must be at least 1"]),
    ("temperature_negative", "generate", {"temperature": -1}, [], ["temperature must be >= 0"]),
    ("top_p_above_one", "eval", {"top_p": 1.5}, [], ["top_p must be in (0, 1]"]),
    ("k_p_zero", "generate", {"k_p": 0}, [], ["'k_p' must be at least 1"]),
    ("request_fraction_zero", "generate", {"request_fraction": 0}, [], ["'request_fraction' must be in (0, 4]"]),
    ("unknown_strategy", "generate", {"strategy": "prop2dif"}, [], ["unknown strategy 'prop2dif'", "prop2diff"]),
    ("unknown_template", "generate", {"prompt_template": "alpacca"}, [], ["key 'prompt_template'", "alpaca"]),
    ("unknown_accelerate_config", "sft", {"accelerate_config": "zero4"}, [], ["accelerate_config 'zero4' not found"]),
    ("pool_unknown_key", "generate", {"pools": [{"source": "POOL", "answr": "a"}]}, [], ["pools[0]: unknown key 'answr'"]),
    ("pool_two_golds", "generate", {"pools": [{"source": "POOL", "answer": "a", "solution": "a"}]}, [], ["pools[0]", "exactly one of 'answer'"]),
    ("stage_unknown_key", "grpo", {"stages": [{"name": "one", "levls": [1]}]}, [], ["stages[0] 'one': unknown key 'levls'", "levels"]),
    ("stage_reserved_key", "grpo", {"stages": [{"name": "one", "output_dir": "x"}]}, [], ["stages[0] 'one'", "'output_dir' is set by the job"]),
    ("unknown_reward", "grpo", {"reward_funcs": ["acuracy"]}, [], ["unknown reward 'acuracy'", "accuracy"]),
    ("reward_weights_length", "grpo", {"reward_weights": [1.0]}, [], ["reward_weights has 1 values for 2 reward_funcs"]),
    ("eval_n_zero", "eval", {"n": 0}, [], ["n must be at least 1"]),
    ("eval_greedy_samples", "eval", {"n": 4}, [], ["n = 4 samples need temperature > 0"]),
    ("unknown_benchmark", "eval", {"benchmarks": ["math5000"]}, [], ["key 'benchmarks'", "math5000"]),
    ("sft_flash_attn_missing", "sft", {"attn_implementation": "flash_attention_2"}, [], ["flash_attention_2 needs flash-attn"]),
    ("grpo_flash_attn_missing", "grpo", {"attn_implementation": "flash_attention_2"}, [], ["flash_attention_2 needs flash-attn"]),
    ("levels_fraction", "levels", {"level3_success_fraction": 2.0}, [], ["level3_success_fraction must be in [0, 1]"]),
    # command-line overrides
    ("override_type", "generate", {}, ["--max_tokens", "many"], ["command line: key 'max_tokens' expects int", "'many'"]),
    ("override_unknown", "eval", {}, ["--temprature", "0.5"], ["unknown key 'temprature'", "did you mean 'temperature'"]),
    ("override_choice", "sft", {}, ["--lr_scheduler_type", "cosinee"], ["command line: key 'lr_scheduler_type'", "cosinee"]),
    ("override_bad_shard", "generate", {}, ["--shard", "3/2"], ["--shard expects i/N"]),
    ("override_stray_word", "levels", {}, ["seed", "3"], ["unexpected argument 'seed'"]),
    # files the recipe names
    ("missing_model_dir", "generate", {"model_name_or_path": "./no/such/model"}, [], ["key 'model_name_or_path'", "does not exist"]),
    ("missing_pool_file", "generate", {"pools": [{"source": "./missing/pool.jsonl", "answer": "a"}]}, [], ["pools[0]: pool file not found"]),
    ("missing_pool_info", "generate", {"pool_info": "./missing/info.parquet"}, [], ["key 'pool_info[0]'", "./missing/info.parquet"]),
    ("missing_sft_dataset", "sft", {"dataset_name": "./missing/data.jsonl"}, [], ["key 'dataset_name'", "./missing/data.jsonl"]),
    ("missing_benchmark_file", "eval", {"benchmarks": [{"name": "mine", "data_files": ["./missing/b.jsonl"], "query_field": "q", "answer_field": "a"}]}, [], ["./missing/b.jsonl"]),
    ("missing_query_info", "levels", {"small_query_info": "./missing/qi.parquet"}, [], ["key 'small_query_info'", "./missing/qi.parquet"]),
    # data files
    ("sft_missing_columns", "sft", {"query_column": "question"}, [], ["missing column(s) ['question']"]),
    ("pool_missing_column", "generate", {"pools": [{"source": "POOL", "query": "question", "answer": "a"}]}, [], ["missing column(s) ['question']"]),
    ("stage_empty_level", "grpo", {"stages": [{"name": "one", "levels": [7]}]}, [], ["stage 'one'", "(empty level)"]),
    ("corrupt_pool_file", "generate", {}, [], ["pool.jsonl: cannot be read as json", "row 1"]),
    ("stage_missing_column", "grpo", {"answer_column": "gold"}, [], ["has no column 'gold' (answer_column)"]),
]  # fmt: skip


@pytest.mark.parametrize("case,job,change,overrides,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_file_and_key(files, case, job, change, overrides, expected):
    recipe_path = files["root"] / f"{case}.yaml"
    if isinstance(change, bytes):
        recipe_path.write_bytes(change)
    elif isinstance(change, str):
        recipe_path.write_text(change)
    else:
        recipe = base_recipe(job, files)
        for key, value in change.items():
            if value is None:
                recipe.pop(key)
                continue
            if key == "pools":
                value = [
                    {**p, "source": str(files["pool"]) if p["source"] == "POOL" else p["source"]}
                    for p in value
                ]
            recipe[key] = value
        recipe_path.write_text(yaml.safe_dump(recipe))
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", job, str(recipe_path), *overrides],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(f"dart-trl {job}: error: "), done.stderr[-3000:]
    assert str(recipe_path) in lines[0] or str(files["pool"]) in lines[0]  # the recipe, or the data file
    for fragment in expected:
        assert fragment in lines[0]
    assert not (files["root"] / "out").exists()


def test_there_are_at_least_thirty_cases_across_every_job():
    assert len(CASES) >= 30
    assert {job for _, job, *_ in CASES} == {"generate", "sft", "grpo", "eval", "levels", "decontaminate"}
