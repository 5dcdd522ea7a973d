"""`dart-trl levels`: the AM-Math-Difficulty-RL card's criteria on real query_info.parquet files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dart_trl.cli import main as cli_main
from dart_trl.grpo.levels import assign_levels, read_pass_rates
from dart_trl.tracking.offline import find_runs, read_run


def write_query_info(path, rows):
    """A query_info.parquet like `dart-trl generate` writes: (query_id, n_samples, n_corrects)."""
    frame = pd.DataFrame(rows, columns=["query_id", "n_samples", "n_corrects"])
    frame["pass_rate"] = frame["n_corrects"] / frame["n_samples"]
    frame["level"] = 3  # generate's MATH level column, unrelated to the RL levels
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def three_models(tmp_path):
    # q1: small partial -> 1 (and mid partial too -> 2); q2: small 0, mid 1 -> 2; q3: small 0, mid partial -> 2
    # q4: small 1 -> none from small/mid; q5: small 0, mid 0 -> none; large: q5, q6 fail -> 3; q1..q4 solve.
    small = [("q1", 8, 3), ("q2", 8, 0), ("q3", 8, 0), ("q4", 8, 8), ("q5", 8, 0), ("q7", 0, 0)]
    mid = [("q1", 8, 5), ("q2", 8, 8), ("q3", 8, 2), ("q4", 8, 8), ("q5", 8, 0)]
    large = [("q1", 4, 4), ("q2", 4, 4), ("q3", 4, 2), ("q4", 4, 4), ("q5", 4, 0), ("q6", 4, 0)]
    return {
        "small": write_query_info(tmp_path / "small" / "query_info.parquet", small),
        "mid": write_query_info(tmp_path / "mid" / "query_info.parquet", mid),
        "large": write_query_info(tmp_path / "large" / "query_info.parquet", large),
    }


def test_card_criteria(three_models):
    rates = {m: read_pass_rates(str(p)) for m, p in three_models.items()}
    assert "q7" not in rates["small"]  # never sampled: no pass rate
    levels = assign_levels(rates["small"], rates["mid"], rates["large"], seed=0)
    assert levels["q1"][:2] == [1, 2]
    assert 1 not in levels["q2"] and 2 in levels["q2"]
    assert 2 in levels["q3"]
    assert 1 not in levels["q4"] and 2 not in levels["q4"]
    assert levels["q5"] == [3] and levels["q6"] == [3]  # the large model always fails
    # Exactly half of the large model's 4 successes (q1..q4) are kept in level 3, reproducibly.
    in_level3 = sorted(q for q in ("q1", "q2", "q3", "q4") if 3 in levels[q])
    assert len(in_level3) == 2
    assert in_level3 == sorted(
        q for q in ("q1", "q2", "q3", "q4") if 3 in assign_levels(None, None, rates["large"], seed=0)[q]
    )
    other_seeds = {
        tuple(
            q for q in ("q1", "q2", "q3", "q4") if 3 in assign_levels(None, None, rates["large"], seed=s)[q]
        )
        for s in range(10)
    }
    assert len(other_seeds) > 1  # the sample depends on the seed


def test_levels_job_joins_pool_and_writes_parquet(three_models, tmp_path, wandb_dir):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(
            json.dumps({"query_id": f"q{i}", "query": f"Q{i}", "answer": str(i)}) + "\n" for i in range(1, 7)
        )
    )
    recipe = tmp_path / "levels.yaml"
    recipe.write_text(
        f"small_query_info: {three_models['small'].parent}\n"
        f"mid_query_info: {three_models['mid']}\n"
        f"large_query_info: {three_models['large']}\n"
        f"pool: {pool}\noutput_dir: {tmp_path / 'out'}\nseed: 3\n"
    )
    assert cli_main(["levels", str(recipe)]) == 0
    out = pd.read_parquet(tmp_path / "out" / "levels.parquet")
    assert sorted(out["query_id"]) == [f"q{i}" for i in range(1, 7)]
    assert {"query", "answer", "levels", "level_1", "level_2", "level_3", "pass_rate_small"} <= set(
        out.columns
    )
    by_id = out.set_index("query_id")
    assert list(by_id.loc["q2", "levels"])[0] == 2 and bool(by_id.loc["q2", "level_2"])
    assert by_id.loc["q1", "pass_rate_mid"] == 5 / 8 and pd.isna(
        by_id.loc["q6", "pass_rate_small"]
    )  # q6: large only
    summary = json.loads((tmp_path / "out" / "levels_summary.json").read_text())
    assert summary["level_1"] == int(out["level_1"].sum()) == 1
    assert summary["level_3"] == 4  # q5, q6 and 2 of the 4 successes
    # W&B: the counts and the recipe's thresholds, the pool's size recounted from the parquet file
    (run,) = [read_run(d) for d in find_runs(wandb_dir)]
    assert run.job_type == "levels" and run.name == "levels-out"
    assert run.summary["levels/questions"] == len(out) == 6
    for level in (1, 2, 3):
        assert run.summary[f"levels/level_{level}/questions"] == int(out[f"level_{level}"].sum())
    assert run.summary["levels/unlabelled"] == int((out["levels"].map(len) == 0).sum())
    assert run.config["seed"] == 3 and run.config["level3_success_fraction"] == 0.5  # a default, resolved
    # The output feeds a GRPO stage: load_table + list-valued level filter.
    from dart_trl.config import parse_recipe
    from dart_trl.grpo.train import JOB, StagedGRPOArguments, load_stage_data

    grpo = tmp_path / "grpo.yaml"
    grpo.write_text(
        f"model_name_or_path: some/model\ndataset: {tmp_path / 'out'}\nlevel_column: levels\n"
        "stages: [{name: l2, levels: [2]}]\nuse_cpu: true\n"
    )
    recipe, _ = parse_recipe([str(grpo)], JOB)
    table = load_stage_data(recipe, recipe.get(StagedGRPOArguments).stages[0])
    assert sorted(table["answer"]) == ["1", "2", "3"]


def test_bad_inputs_exit_2(three_models, tmp_path, capsys):
    recipe = tmp_path / "levels.yaml"
    recipe.write_text(f"output_dir: {tmp_path / 'out'}\n")
    assert cli_main(["levels", str(recipe)]) == 2
    assert "at least one of small_query_info" in capsys.readouterr().err
    broken = tmp_path / "broken" / "query_info.parquet"
    pd.DataFrame({"query_id": ["a"], "n_correct": [1]}).to_parquet(broken.parent.mkdir() or broken)
    recipe.write_text(f"small_query_info: {broken}\noutput_dir: {tmp_path / 'out'}\n")
    assert cli_main(["levels", str(recipe)]) == 2
    assert "needs 'n_samples' + 'n_corrects' or 'pass_rate'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
