"""A strategy, a sampler and rewards from outside the package, named by import path, run by the real jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT

from dart_trl.grpo.rewards import RewardContext, build_rewards
from dart_trl.grpo.train import StagedGRPOArguments, StageSpec

TESTS = REPO_ROOT / "tests"


def test_generate_runs_a_strategy_and_a_sampler_of_ones_own(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"q": f"What is {i} + {i + 2}?", "a": str(2 * i + 2)}) + "\n" for i in range(6))
    )
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(model),
                "strategy": "toy_plugins.FirstCorrect",
                "backend": "toy_plugins.ArithmeticSampler",
                "probe_samples": 0,
                "max_trials": 8,
                "prompt_template": "raw",
                "pools": [{"source": str(pool), "name": "toy", "query": "q", "answer": "a"}],
                "output_dir": str(tmp_path / "out"),
                "report_to": "none",
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    info = pd.read_parquet(tmp_path / "out" / "query_info.parquet")
    assert len(info) == 6 and (info["target"] == 1).all() and (info["n_responses"] == 1).all()
    assert (info["stop_reason"] == "target_met").all()
    assert "one correct response per query" in (tmp_path / "out" / "README.md").read_text()


def test_rewards_of_ones_own_by_import_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    names = ["toy_plugins.shortness", "toy_plugins.budget", "format"]
    args = StagedGRPOArguments(stages=[StageSpec(name="one")], reward_funcs=names)  # accepted by the recipe
    funcs = build_rewards(args.reward_funcs, RewardContext(max_completion_length=40))
    completions = ["\\boxed{4}", "x" * 30]
    assert funcs[0](completions=completions) == [1.0, 0.0]
    assert funcs[1](completions=completions) == pytest.approx([1 - 9 / 40, 1 - 30 / 40])
    assert funcs[2](completions=completions) == [1.0, 0.0]
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        StagedGRPOArguments(reward_funcs=["toy_plugins.missing"])
