"""The W&B runs of a small pipeline, read back offline: every key of docs/wandb.md where it applies.

One pipeline is shared by the tests of this module (tiny models, transformers sampling, CPU): DARS with
two strategies, SFT on one's data, two GRPO stages from the SFT model, two evaluations, levels, compare.
Every step runs through the ``dart-trl`` command in one W&B group, given by ``$WANDB_RUN_GROUP``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, run_job

from dart_trl.tracking.offline import OfflineRun, find_runs, read_run

pytestmark = pytest.mark.slow

GROUP = "vocab"
DOC = REPO_ROOT / "docs" / "wandb.md"
TRAINED = {1: [(2, 3), (4, 5), (6, 1)], 2: [(10, 7), (6, 6)]}  # level: additions the model learns
UNSEEN = {2: [(123, 456)]}
JOB_TYPES = ("generate", "sft", "grpo-stage", "levels", "eval", "compare")


def question(a: int, b: int) -> str:
    return f"Q: {a}+{b}=?\nA:"


def answering_model(path: Path) -> Path:
    """A tiny Llama trained (~15 s on 2 cores) to answer the TRAINED additions, so DARS keeps responses."""
    from dart_trl.demo.tiny import build_answering_model

    pairs = [p for level in TRAINED.values() for p in level]
    return build_answering_model(
        path, [f"{question(a, b)} The answer is \\boxed{{{a + b}}}." for a, b in pairs]
    )


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def dart_trl(job: str, recipe: str, env: dict, **overrides) -> None:
    command = [sys.executable, "-m", "dart_trl.cli", job]
    if recipe:
        command.append(str(REPO_ROOT / "recipes" / recipe))
    for key, value in overrides.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    done = run_job(command, timeout=600, env=env)
    assert done.returncode == 0, f"{job}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    env = dict(os.environ, WANDB_DIR=str(root), WANDB_RUN_GROUP=GROUP, PYTHONPATH=str(REPO_ROOT))
    model = answering_model(root / "models" / "answering")
    rows = [
        {"id": f"add-{a}-{b}", "question": question(a, b), "answer": str(a + b), "level": level}
        for group in (TRAINED, UNSEEN)
        for level, pairs in group.items()
        for a, b in pairs
    ]
    pool = write_jsonl(root / "pool.jsonl", rows)
    pools = [{"source": str(pool), "id": "id", "query": "question", "answer": "answer", "level": "level"}]
    dars = {}
    for strategy, sizes in {"uniform": {"k_u": 2}, "vrt": {}}.items():
        dars[strategy] = root / "dars" / strategy
        dart_trl(
            "generate", "dars_tiny_cpu.yaml", env, model_name_or_path=str(model), pools=pools,
            output_dir=str(dars[strategy]), strategy=strategy, max_trials="6", probe_samples="2",
            backend="transformers", prompt_template="raw", max_tokens="16", stop=["\n"],
            run_name=f"dars-{strategy}", wandb_tags=[strategy], **sizes,
        )  # fmt: skip
    sft = root / "models" / "sft"
    dart_trl(
        "sft", "sft_tiny_cpu.yaml", env, model_name_or_path=str(model), dataset_name=str(dars["uniform"] / "dataset"),
        output_dir=str(sft), max_steps="2", run_name="sft-uniform", wandb_group=GROUP,
    )  # fmt: skip
    grpo_data = write_jsonl(root / "grpo.jsonl", [{"query": r["question"], **r} for r in rows])
    stages = [
        {"name": "level1", "levels": [1], "max_steps": 2},
        {"name": "level2", "levels": [2], "max_steps": 2},
    ]
    dart_trl(
        "grpo", "grpo_tiny_cpu.yaml", env, model_name_or_path=str(sft), dataset=str(grpo_data), stages=stages,
        output_dir=str(root / "grpo"), wandb_group=GROUP,
    )  # fmt: skip
    benchmarks = [
        {"name": f"level{level}", "data_files": str(write_jsonl(root / f"bench{level}.jsonl", part)),
         "query_field": "question", "answer_field": "answer"}
        for level in (1, 2)
        if (part := [r for r in rows if r["level"] == level])
    ]  # fmt: skip
    evals = {"sft": (sft, {}), "grpo": (root / "grpo" / "level2" / "final", {"n": "2", "temperature": "1.0"})}
    for name, (path, sampling) in evals.items():
        dart_trl(
            "eval", "eval_tiny_cpu.yaml", env, model_name_or_path=str(path), benchmarks=benchmarks,
            output_dir=str(root / "eval" / name), prompt_template="raw", max_tokens="16", **sampling,
        )  # fmt: skip
    dart_trl(
        "levels", "levels_from_pass_rates.yaml", env, small_query_info=str(dars["vrt"]),
        mid_query_info=str(dars["uniform"]), large_query_info=str(dars["uniform"]), pool=str(pool),
        query_id_column="id", output_dir=str(root / "levels"),
    )  # fmt: skip
    dart_trl(
        "compare", "", env, **{"wandb-group": GROUP, "wandb-dir": str(root), "out": str(root / "compare")}
    )
    runs = [(d, read_run(d)) for d in find_runs(root)]
    return {"root": root, "dars": dars, "runs": runs, "evals": {n: root / "eval" / n for n in evals}}


def runs_of(pipeline, job_type: str) -> list[tuple[Path, OfflineRun]]:
    return [(d, r) for d, r in pipeline["runs"] if r.job_type == job_type]


def table_of(run_dir: Path, run: OfflineRun, key: str) -> list[dict]:
    """A W&B table the run logged, read from its file as json: a dict per row."""
    table = json.loads((run_dir / "files" / run.summary[f"{key}/path"]).read_text())
    return [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]


def documented_keys() -> list[tuple[str, str, set[str]]]:
    """(key, where, job types) of every row of docs/wandb.md's config and metric tables."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        if len(cells) == 3:  # config table: key | jobs | meaning
            where, jobs = "config", cells[1]
        else:
            where, jobs = cells[1], cells[2]
        if jobs == "all":
            types = set(JOB_TYPES)
        elif jobs == "all but compare":
            types = set(JOB_TYPES) - {"compare"}
        else:
            types = {j.strip() for j in jobs.split(",")}
        rows += [(key, where, types) for key in re.findall(r"`([^`]+)`", cells[0])]
    return rows


# Keys that apply only to some runs of a job type in this pipeline, and why.
CONDITIONAL = {
    "model_run_id": "absent where the model was not trained by dart-trl (the answering model)",
    "data_run_id": "absent where the data set was not written by dart-trl (the GRPO stages' jsonl)",
    "dars_strategy": "absent where no DARS data set is upstream",
    "dars/progress/eta_seconds": "absent when the remaining samples cannot be estimated",
    "dars/target_hist": "absent when no query has a target (VRT)",
}
PER_N = ("pass@n", "maj@n")  # eval runs with n > 1 only


def expand(key: str, run: OfflineRun, pipeline) -> list[str]:
    """The key with its placeholders filled for ``run``; [] when a placeholder has no value here."""
    values = {
        "<level>": ["1", "2"],
        "<benchmark>": ["level1", "level2"],
        "<reason>": [],  # data-dependent: checked against results.json in test_eval_table_equals_results
        "<view>": [],
    }
    keys = [key]
    for placeholder, options in values.items():
        keys = [k.replace(placeholder, o) for k in keys for o in options] if placeholder in key else keys
    return keys


def logged(run: OfflineRun, key: str, where: str) -> bool:
    if where == "config":
        return key in run.config
    if where == "history":
        return bool(run.series(key))
    if where in ("table", "image", "histogram"):  # a media summary: its fields, flattened or not
        return f"{key}/_type" in run.summary or isinstance(run.summary.get(key), dict)
    return key in run.summary


def test_every_job_logged_one_run_in_the_group(pipeline):
    runs = [r for _, r in pipeline["runs"]]
    assert sorted(r.job_type for r in runs) == sorted(
        ["generate", "generate", "sft", "grpo-stage", "grpo-stage", "eval", "eval", "levels", "compare"]
    )
    assert {r.group for r in runs} == {GROUP}
    names = [r.name for r in runs]
    assert len(names) == len(set(names)), names  # no name repeats across job types
    assert "eval-grpo-level2" in names  # not eval-final
    assert {r.name: r.tags for r in runs if r.job_type == "generate"} == {
        "dars-uniform": ["uniform"],
        "dars-vrt": ["vrt"],
    }


def test_every_documented_key_is_present_where_it_applies(pipeline):
    missing = []
    checked = 0
    for key, where, types in documented_keys():
        base = key.split("/")[-1] if key.startswith("bench/") else key
        if key in CONDITIONAL or base in CONDITIONAL:
            continue
        for _, run in pipeline["runs"]:
            if run.job_type not in types or (base in PER_N and run.config["n"] == 1):
                continue
            for name in expand(key, run, pipeline):
                checked += 1
                if not logged(run, name, where):
                    missing.append(f"{run.job_type} {run.name}: {where} {name}")
    assert not missing, "\n".join(missing)
    assert checked > 150


def test_config_is_the_resolved_recipe_with_versions(pipeline):
    for _, run in pipeline["runs"]:
        assert isinstance(run.config["report_to"], list), run.name
        assert isinstance(run.config["git_dirty"], bool) or run.config["git_dirty"] is None
        assert run.config["versions"]["torch"] and run.config["versions"]["trl"], run.name
    for _, run in runs_of(pipeline, "generate"):
        for key in ("chunk_samples", "grading_timeout", "pool_info"):  # defaults, not in the recipe file
            assert key in run.config, key
    for _, run in runs_of(pipeline, "eval"):
        assert run.config["seed"] is not None and run.config["top_p"] == 1.0


def test_dars_per_level_keys_equal_query_info(pipeline):
    for strategy, out in pipeline["dars"].items():
        ((run_dir, run),) = [
            (d, r) for d, r in runs_of(pipeline, "generate") if r.config["strategy"] == strategy
        ]
        info = pd.read_parquet(out / "query_info.parquet")
        by_level: dict[str, dict] = {}
        for row in info.to_dict("records"):  # recounted by hand
            level = by_level.setdefault(str(row["level"]), dict(q=0, s=0, c=0, r=0, none=0))
            level["q"] += 1
            level["s"] += row["n_samples"]
            level["c"] += row["n_corrects"]
            level["r"] += row["n_responses"]
            level["none"] += row["n_responses"] == 0
        assert set(by_level) == {"1", "2"}
        for level, n in by_level.items():
            prefix = f"dars/level_{level}/"
            assert run.summary[prefix + "questions"] == n["q"]
            assert run.summary[prefix + "samples"] == n["s"]
            assert run.summary[prefix + "responses"] == n["r"]
            assert run.summary[prefix + "responses_per_question"] == pytest.approx(n["r"] / n["q"])
            assert run.summary[prefix + "questions_without_response"] == n["none"]
            assert run.summary[prefix + "accuracy"] == pytest.approx(n["c"] / n["s"])
        total_s, total_c = sum(n["s"] for n in by_level.values()), sum(n["c"] for n in by_level.values())
        assert run.summary["dars/samples"] == total_s and run.summary["dars/accuracy"] == pytest.approx(
            total_c / total_s
        )
        assert sum(n["r"] for n in by_level.values()) > 0  # the answering model solved some
        # the per-query table is query_info, row for row
        table = table_of(run_dir, run, "dars/queries")
        assert [
            (r["query_id"], r["level"], r["samples"], r["responses"], r["stop_reason"]) for r in table
        ] == [
            (r["query_id"], r["level"], r["n_samples"], r["n_responses"], r["stop_reason"])
            for r in info.to_dict("records")
        ]
        levels = table_of(run_dir, run, "dars/levels")
        assert {r["level"]: r["questions"] for r in levels} == {k: n["q"] for k, n in by_level.items()}
        # per-round values are drawn against the round; the rounds' samples add up to the run's
        assert run.series("dars/round") == sorted(run.series("dars/round"))
        assert sum(run.series("dars/round/samples")) == total_s


def test_grpo_stages_carry_index_and_continuous_step(pipeline):
    stages = sorted((r for _, r in runs_of(pipeline, "grpo-stage")), key=lambda r: r.config["stage_index"])
    assert [(r.name, r.config["stage_index"], r.config["num_stages"]) for r in stages] == [
        ("level1", 1, 2),
        ("level2", 2, 2),
    ]
    assert [r.config["stage_levels"] for r in stages] == [[1], [2]]
    sft_run = next(r for _, r in runs_of(pipeline, "sft"))
    assert stages[0].config["model_run_id"] == sft_run.run_id
    assert stages[1].config["model_run_id"] == stages[0].run_id
    assert stages[1].config["model_name_or_path"].endswith("level1/final")
    assert [r.config["dars_strategy"] for r in stages] == ["uniform", "uniform"]
    steps = [s for r in stages for s in r.series("train/curriculum/step")]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 4
    assert [r.summary["grpo/step"] for r in stages] == [2, 4]


def test_eval_table_equals_results_and_links_its_model(pipeline):
    runs = {r.config["model_name_or_path"]: (d, r) for d, r in runs_of(pipeline, "eval")}
    for out in pipeline["evals"].values():
        results = json.loads((out / "results.json").read_text())
        run_dir, run = runs[results["model"]]
        rows = table_of(run_dir, run, "bench/table")
        assert [r["benchmark"] for r in rows] == list(results["benchmarks"])
        for row in rows:
            m = results["benchmarks"][row["benchmark"]]
            assert row["accuracy"] == pytest.approx(m["accuracy"])
            assert (row["questions"], row["samples"], row["skipped"]) == (
                m["total"],
                m["samples"],
                m["skipped"],
            )
            n = run.config["n"]
            assert (row["pass@n"], row["maj@n"]) == (m.get(f"pass@{n}"), m.get(f"maj@{n}"))
            assert row["data_sha256"] == m["data_sha256"] == run.config["data_sha256"][row["benchmark"]]
            for reason, count in m["reasons"].items():
                assert run.summary[f"bench/{row['benchmark']}/reasons/{reason}"] == count
        assert run.summary["bench/average/accuracy"] == pytest.approx(results["average"])
        assert run.config["dars_strategy"] == "uniform"  # both models come from the uniform data
        assert run.config["model_run_id"]
    assert sorted(r.config["n"] for _, r in runs_of(pipeline, "eval")) == [1, 2]


def test_compare_run_redraws_the_comparison(pipeline):
    ((run_dir, run),) = runs_of(pipeline, "compare")
    rows = table_of(run_dir, run, "compare/table")
    csv = pd.read_csv(pipeline["root"] / "compare" / "comparison.csv")
    assert [r["run"] for r in rows] == list(csv["run"])
    for row, (_, expected) in zip(rows, csv.iterrows(), strict=True):
        for column in ("level1", "level2"):
            assert 100 * row[column] == pytest.approx(expected[column], abs=0.01)
        assert 100 * row["average_shared"] == pytest.approx(expected["AVG"], abs=0.01)
    # the levels run logged its counts
    ((_, levels),) = runs_of(pipeline, "levels")
    summary = json.loads((pipeline["root"] / "levels" / "levels_summary.json").read_text())
    assert levels.summary["levels/questions"] == summary["queries"]
    assert yaml.safe_load((pipeline["root"] / "levels" / "recipe.resolved.yaml").read_text())


def test_shard_and_merge_runs_have_distinct_names(tmp_path, tiny_model, wandb_dir):
    pool = write_jsonl(
        tmp_path / "pool.jsonl", [{"id": f"q{i}", "q": f"{i}+1=?", "a": str(i + 1)} for i in range(2)]
    )
    recipe = tmp_path / "dars.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(tiny_model),
                "strategy": "vrt",
                "max_trials": 1,
                "probe_samples": 0,
                "pools": [{"source": str(pool), "id": "id", "query": "q", "answer": "a"}],
                "prompt_template": "raw",
                "output_dir": str(tmp_path / "out"),
                "backend": "transformers",
                "max_tokens": 2,
                "wandb_group": "shards",
            }
        )
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)]
    for extra in (["--shard", "0/2"], ["--shard", "1/2"], ["--merge"]):
        done = run_job(command + extra, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    runs = [read_run(d) for d in find_runs(wandb_dir)]
    assert sorted(r.name for r in runs) == ["out-merge", "out-shard-000-of-002", "out-shard-001-of-002"]
    assert {r.group for r in runs} == {"shards"}
    (merged,) = [r for r in runs if r.name == "out-merge"]
    assert merged.summary["dars/questions"] == 2 and merged.summary["dars/samples"] == 2
