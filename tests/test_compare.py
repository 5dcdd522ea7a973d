"""``dart-trl compare`` on two real eval runs of scripted models that get some questions right (a table known
by hand), read from run directories and from their offline W&B runs."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from scripted_openai import ScriptedServer

from dart_trl.config import run_guarded
from dart_trl.eval.compare import RunScores, columns_of, main, markdown_table, summary_scores, table_rows
from dart_trl.eval.evaluate import main as eval_main
from dart_trl.tracking.offline import find_runs, read_run

GSM8K_ROWS = [
    {"question": "What is 2 + 2?", "answer": "#### 4"},
    {"question": "What is 3 * 5?", "answer": "#### 15"},
    {"question": "What is 9 - 1?", "answer": "#### 8"},
]
DEEPMIND_ROWS = [
    {"question": "Calculate 6 - 9.", "answer": "-3"},
    {"question": "Calculate 2*7.", "answer": "14"},
]
GOLDS = {r["question"]: r["answer"].removeprefix("#### ") for r in GSM8K_ROWS + DEEPMIND_ROWS}
# Which questions each scripted "model" answers right (the others get a wrong number), and so the
# table compare must print, by hand: accuracy in percent per benchmark and their average.
RIGHT = {
    "alpaca": {"What is 2 + 2?", "What is 9 - 1?", "Calculate 2*7."},
    "raw": {"What is 3 * 5?", "Calculate 6 - 9.", "Calculate 2*7."},
}
HAND_TABLE = {
    "tiny-alpaca": [100 * 2 / 3, 50.0, (100 * 2 / 3 + 50) / 2],
    "tiny-raw": [100 / 3, 100.0, (100 / 3 + 100) / 2],
}


def scripted_model(right: set[str]):
    """A server's answers: the gold, boxed, for the questions in ``right``; a wrong number otherwise."""

    def answer(prompt: str, n: int, seed) -> list[str]:
        question = next(q for q in GOLDS if q in prompt)
        value = GOLDS[question] if question in right else "1000"
        return [f"So the answer is \\boxed{{{value}}}."] * n

    return answer


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two eval runs of scripted models (OpenAI-compatible servers on 127.0.0.1) that get some questions
    right, each with results.json and an offline W&B run."""
    root = tmp_path_factory.mktemp("compare")
    (root / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GSM8K_ROWS))
    (root / "deepmind.json").write_text(json.dumps(DEEPMIND_ROWS))
    benchmarks = [
        {"name": "gsm8k", "data_files": str(root / "gsm8k.jsonl")},
        {"name": "deepmind_math", "data_files": str(root / "deepmind.json")},
    ]
    dirs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_DIR", str(root / "wandb"))
        (root / "wandb").mkdir()
        for template in ("alpaca", "raw"):
            recipe = root / f"{template}.yaml"
            with ScriptedServer(scripted_model(RIGHT[template])) as server:
                values = dict(
                    model_name_or_path=f"scripted-{template}",
                    benchmarks=benchmarks,
                    prompt_template=template,
                    backend="openai",
                    base_url=server.base_url,
                    max_tokens=8,
                    output_dir=str(root / template),
                    run_name=f"tiny-{template}",
                    wandb_group="cmp",
                )
                recipe.write_text(yaml.safe_dump(values))
                assert run_guarded("eval", eval_main, [str(recipe)]) == 0
            dirs.append(root / template)
    return root, dirs


def expected_rows(dirs):
    """The hand table, after checking that each run's results.json says the same."""
    for d in dirs:
        results = json.loads((d / "results.json").read_text())
        scores = [100 * results["benchmarks"][b]["accuracy"] for b in ("gsm8k", "deepmind_math")]
        assert [*scores, 100 * results["average"]] == pytest.approx(HAND_TABLE[results["run_name"]])
    return HAND_TABLE


def assert_same_table(table, expected):
    assert set(table) == set(expected)
    for run, values in expected.items():
        assert table[run] == pytest.approx(values, abs=0.01)


def test_compare_run_dirs_writes_table_csv_and_chart(two_runs, tmp_path, capsys):
    _, dirs = two_runs
    out = tmp_path / "cmp"
    assert run_guarded("compare", main, [*map(str, dirs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert header == "| run | GSM8K | DM | AVG |"
    assert (out / "comparison.md").read_text().startswith(header)
    with (out / "comparison.csv").open() as f:
        table = {
            row["run"]: [float(row[c]) for c in ("gsm8k", "deepmind_math", "AVG")]
            for row in csv.DictReader(f)
        }
    assert_same_table(table, expected_rows(dirs))
    png = (out / "comparison.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_compare_reads_a_wandb_group_offline(two_runs, tmp_path):
    root, dirs = two_runs
    out = tmp_path / "cmp"
    argv = ["--wandb-group", "cmp", "--wandb-dir", str(root / "wandb"), "--out", str(out)]
    assert run_guarded("compare", main, argv) == 0
    with (out / "comparison.csv").open() as f:
        table = {
            row["run"]: [float(row[c]) for c in ("gsm8k", "deepmind_math", "AVG")]
            for row in csv.DictReader(f)
        }
    assert_same_table(table, expected_rows(dirs))

    # the comparison is in W&B too: a compare run of the group, its table in accuracy 0-1
    compares = [(d, read_run(d)) for d in find_runs(root / "wandb")]
    compares = [(d, r) for d, r in compares if r.job_type == "compare" and r.group == "cmp"]
    assert len(compares) == 1
    run_dir, run = compares[0]
    assert run.name == "compare-cmp" and run.config["report_to"] == ["wandb"]
    logged = json.loads((run_dir / "files" / run.summary["compare/table/path"]).read_text())
    assert logged["columns"] == ["run", "gsm8k", "deepmind_math", "average_shared"]
    assert_same_table({row[0]: [100 * v for v in row[1:]] for row in logged["data"]}, expected_rows(dirs))
    assert run.summary["compare/chart/_type"] == "image-file"


def test_compare_reads_a_wandb_run_dir(two_runs, tmp_path):
    root, dirs = two_runs
    run_dirs = [d for d in find_runs(root / "wandb") if read_run(d).job_type == "eval"]
    assert len(run_dirs) == 2
    assert run_guarded("compare", main, [*map(str, run_dirs), "--out", str(tmp_path)]) == 0
    with (tmp_path / "comparison.csv").open() as f:
        table = {
            row["run"]: [float(row[c]) for c in ("gsm8k", "deepmind_math", "AVG")]
            for row in csv.DictReader(f)
        }
    assert_same_table(table, expected_rows(dirs))


def test_markdown_bolds_the_best_of_each_column_and_averages_shared_benchmarks():
    runs = [
        RunScores("base", {"math": 0.30, "gsm8k": 0.70, "theoremqa": 0.20}),
        RunScores("dart", {"math": 0.45, "gsm8k": 0.65}),
    ]
    columns = ["math", "gsm8k", "theoremqa"]
    shared, rows = table_rows(runs, columns)
    assert shared == ["math", "gsm8k"]
    assert rows[0][-1] == pytest.approx(50.0) and rows[1][-1] == pytest.approx(55.0)
    lines = markdown_table(runs, columns, rows).splitlines()
    assert lines[2] == "| base | 30.0 | **70.0** | **20.0** | 50.0 |"
    assert lines[3] == "| dart | **45.0** | 65.0 | - | **55.0** |"


def test_views_get_their_own_column_after_the_benchmark_and_stay_out_of_avg():
    summary = {
        "bench/gsm8k/accuracy": 0.5,
        "bench/theoremqa/accuracy": 0.2,
        "bench/theoremqa/no_picture/accuracy": 0.25,
        "bench/theoremqa/items/_type": "table-file",
        "bench/average/accuracy": 0.35,
        "bench/table/_type": "table-file",
    }
    run = RunScores("dart", summary_scores(summary))
    assert run.scores == {"gsm8k": 0.5, "theoremqa": 0.2, "theoremqa/no_picture": 0.25}
    columns = columns_of([run])
    assert columns == ["gsm8k", "theoremqa", "theoremqa/no_picture"]
    shared, rows = table_rows([run], columns)
    assert shared == ["gsm8k", "theoremqa"] and rows[0] == pytest.approx([50.0, 20.0, 25.0, 35.0])
    assert (
        markdown_table([run], columns, rows).splitlines()[0]
        == "| run | GSM8K | Theorem | Theorem (no_picture) | AVG |"
    )


def test_missing_run_dir_exits_2(tmp_path, capsys):
    assert run_guarded("compare", main, [str(tmp_path / "nope")]) == 2
    assert "no results.json" in capsys.readouterr().err
