"""`dart-trl generate` rejects bad input with one line and exit code 2 before loading any model; --plan."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml


def write_recipe(tmp_path, **overrides):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"q": f"{i}+1?", "a": str(i + 1), "lvl": i % 5 + 1}) + "\n" for i in range(10))
    )
    model = tmp_path / "model"  # a config.json is all these runs look at; no weights are ever loaded
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    recipe = {
        "model_name_or_path": str(model),
        "strategy": "uniform",
        "k_u": 4,
        "max_trials": 64,
        "pools": [{"source": str(pool), "name": "toy", "query": "q", "answer": "a", "level": "lvl"}],
        "output_dir": str(tmp_path / "out"),
        "report_to": "none",
        **overrides,
    }
    path = tmp_path / "dars.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run_generate(*args):
    return subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", "generate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"strategy": "prop2dif"}, "unknown strategy 'prop2dif'; did you mean 'prop2diff'?"),
        (
            {"pools": [{"source": "POOL", "query": "question", "answer": "a"}]},
            "missing column(s) ['question']",
        ),
        (
            {"pools": [{"source": "./missing/pool.jsonl", "query": "q", "answer": "a"}]},
            "pool file not found: ./missing/pool.jsonl",
        ),
        (
            {"pools": [{"source": "POOL", "query": "q", "answr": "a"}]},
            "unknown key 'answr'; did you mean 'answer'?",
        ),
        ({"prompt_template": "alpacca"}, "key 'prompt_template' expects one of ['alpaca',"),
        (
            {"model_name_or_path": "./no/such/model"},
            "key 'model_name_or_path': model directory ./no/such/model",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, overrides, expected):
    pools = overrides.get("pools")
    if pools:
        overrides["pools"] = [
            {**p, "source": str(tmp_path / "pool.jsonl") if p["source"] == "POOL" else p["source"]}
            for p in pools
        ]
    result = run_generate(write_recipe(tmp_path, **overrides))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dart-trl generate: error:"), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written, no model touched


def test_bad_shard_and_plan(tmp_path):
    recipe = write_recipe(tmp_path)
    bad = run_generate(recipe, "--shard", "3/3")
    assert bad.returncode == 2 and "--shard expects i/N" in bad.stderr
    plan = run_generate(recipe, "--plan", "--plan_samples_per_second", "10")
    assert plan.returncode == 0, plan.stderr
    assert "plan: strategy uniform, 10 queries" in plan.stdout
    total = next(line for line in plan.stdout.splitlines() if line.strip().startswith("total"))
    # Levels 1..5 twice at the default assumed pass rates 0.9/0.8/0.65/0.5/0.3: 2 * sum(4 / p).
    expected = 2 * sum(4 / p for p in (0.9, 0.8, 0.65, 0.5, 0.3))
    assert int(total.split()[2].replace(",", "")) == round(expected)
    assert "GPU hours at 10 samples/s" in plan.stdout
    shard = run_generate(recipe, "--plan", "--shard", "0/2")
    assert "shard 0/2:" in shard.stdout and not (tmp_path / "out").exists()
