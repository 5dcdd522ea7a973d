"""`dart-trl decontaminate` and the `decontaminate` guard of `generate`, `sft` and `grpo`: planted copies
of real benchmark questions (verbatim, re-spaced inside and outside math delimiters, re-cased, with a
prefix or suffix, short ones, numbers changed) among clean rows, found by row and benchmark index read
from the raw files; the clean copy trains."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import REPO_ROOT

from dart_trl import cli
from dart_trl.data import load_table
from dart_trl.decontam import job
from dart_trl.tracking.offline import find_runs, read_run

RECIPE = str(REPO_ROOT / "recipes" / "decontaminate.yaml")
SFT_RECIPE = REPO_ROOT / "recipes" / "sft_tiny_cpu.yaml"

# Ordinary math phrasing, including a CollegeMath boilerplate sentence that dozens of its questions share.
CLEAN = [
    "What is the value of $x$ if $2x + 3 = 11$?",
    "What is the value of the sum of the first 100 positive integers?",
    "Find the number of positive integers less than 1000 that are divisible by 7 but not by 11.",
    "Solve the equation, giving the exact solutions which lie in $[0, 2\\pi)$: $\\tan(x) = 17$.",
    "Please format your answer as $n \\times 10^x$ where $n$ is to 2 decimal places: how many seconds are "
    "there in 3 years?",
    "A bag has 4 red marbles and 9 blue marbles. Two are drawn without replacement. What is the probability "
    "that both are red?",
    "Let $f(x) = x^2 + 1$. Compute $f(f(2))$.",
    "Tom has twice as many apples as Anna, who has 7 apples. How many apples do they have together?",
]
CUSTOM_QUESTION = (
    "If 3 apples cost 12 dollars and 5 pears cost 20 dollars, what do 7 apples and 9 pears cost?"
)


def read(path):
    """Rows of a .jsonl or .json (list) file, read with json alone."""
    text = path.read_text()
    return (
        [json.loads(line) for line in text.splitlines() if line.strip()]
        if path.suffix == ".jsonl"
        else json.loads(text)
    )


def first_unique(rows, field, keep):
    """Index of the first row whose ``field`` passes ``keep`` and appears once in the file."""
    texts = [r[field] for r in rows]
    return next(i for i, t in enumerate(texts) if keep(t) and texts.count(t) == 1)


@pytest.fixture
def planted(shared_data, tmp_path):
    """A training file of clean rows and planted copies; the truth: row -> (benchmark, index, kind)."""
    gsm8k = read(shared_data / "gsm8k-test.jsonl")
    college = read(shared_data / "college-math-test.jsonl")
    dm = read(shared_data / "deepmind-mathematics.json")
    olympiad = read(shared_data / "olympiadbench-OE_TO_maths_en_COMP.json")
    minerva = read(shared_data / "minerva-math-test.jsonl")
    g = first_unique(gsm8k, "question", lambda t: len(t.split()) > 30)
    c = first_unique(college, "question", lambda t: "$" in t and len(t.split()) > 12)
    o = first_unique(olympiad, "question", lambda t: len(t.split()) > 20)
    m = first_unique(minerva, "problem", lambda t: "$" in t and len(t.split()) > 20)
    d_long = first_unique(
        dm, "question", lambda t: "$" not in t and "=" in t and " + " in t and len(t.split()) >= 10
    )
    d_short = first_unique(dm, "question", lambda t: len(t.split()) <= 4 and "divided" in t)
    d_short2 = first_unique(dm, "question", lambda t: len(t.split()) <= 5 and t.endswith("?"))
    c_short = first_unique(college, "question", lambda t: t.startswith("Simplify:") and len(t.split()) <= 3)
    respaced = re.sub(
        r"\$([^$]*)\$", lambda x: "\\( " + " ".join(x[1].replace(" ", "")) + " \\)", college[c]["question"]
    )
    copies = [
        (gsm8k[g]["question"], "gsm8k", g, "ngram"),
        (respaced.upper(), "college_math", c, "ngram"),
        (
            "Answer the following question.\n" + olympiad[o]["question"] + " Explain each step.",
            "olympiadbench",
            o,
            "ngram",
        ),
        ("  ".join(minerva[m]["problem"].split()).replace("$", "$ ").lower(), "minerva_math", m, "ngram"),
        (
            dm[d_long]["question"].replace(" + ", "+").replace(" = ", "=").replace("*", " * "),
            "deepmind_math",
            d_long,
            "ngram",
        ),
        (dm[d_short]["question"], "deepmind_math", d_short, "whole_question"),
        (dm[d_short2]["question"] + " Show your work", "deepmind_math", d_short2, "whole_question"),
        ("Problem 4. " + college[c_short]["question"].upper(), "college_math", c_short, "whole_question"),
        (re.sub(r"\d+", lambda x: str(int(x[0]) + 2), CUSTOM_QUESTION), "mine", 0, "numbers_changed"),
    ]
    rows = [
        {"uid": f"clean-{i}", "query": t, "response": "The answer is $\\boxed{1}$."}
        for i, t in enumerate(CLEAN)
    ]
    truth = {}
    for i, (text, name, index, kind) in enumerate(copies):  # each copy after a clean row
        rows.append({"uid": f"pad-{i}", "query": f"Compute {i} times {i + 40}.", "response": "x"})
        truth[len(rows)] = (name, index, kind)
        rows.append({"uid": f"copy-{i}", "query": text, "response": "See above."})
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    mine = tmp_path / "mine.jsonl"
    mine.write_text(json.dumps({"q": CUSTOM_QUESTION, "a": "47"}) + "\n")
    benchmarks = [
        {"name": "gsm8k", "data_files": str(shared_data / "gsm8k-test.jsonl")},
        {"name": "college_math", "data_files": str(shared_data / "college-math-test.jsonl")},
        {"name": "deepmind_math", "data_files": str(shared_data / "deepmind-mathematics.json")},
        {"name": "olympiadbench", "data_files": str(shared_data / "olympiadbench-OE_TO_maths_en_COMP.json")},
        {"name": "theoremqa", "data_files": str(shared_data / "theoremqa.json")},
        {"name": "minerva_math", "data_files": str(shared_data / "minerva-math-test.jsonl")},
        {"name": "mine", "data_files": str(mine), "query_field": "q", "answer_field": "a"},
    ]
    return data, rows, truth, benchmarks


def write_recipe(tmp_path, **values):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_planted_copies_are_found_and_left_out(planted, tmp_path, wandb_dir, monkeypatch):
    data, rows, truth, benchmarks = planted
    monkeypatch.setenv("DART_TRL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    recipe = write_recipe(
        tmp_path,
        dataset_name=str(data),
        id_column="uid",
        benchmarks=benchmarks,
        output_dir=str(out),
        num_proc=2,
    )
    assert cli.main(["decontaminate", recipe]) == 0

    found = {r["row"]: r for r in read(out / job.MATCHES_NAME)}
    assert {row: (r["benchmark"], r["benchmark_index"], r["match"]) for row, r in found.items()} == truth
    assert all(found[row]["id"] == rows[row]["uid"] for row in found)
    ngram = found[next(row for row, t in truth.items() if t[0] == "gsm8k")]["ngram"]
    assert len(ngram.split()) == 8
    report = json.loads((out / job.REPORT_NAME).read_text())
    exact = [row for row, t in truth.items() if t[2] != "numbers_changed"]
    assert report["rows_checked"] == len(rows) and report["rows_flagged"] == len(exact)
    assert report["rows_numbers_changed_only"] == 1
    for name in (
        "gsm8k",
        "college_math",
        "deepmind_math",
        "olympiadbench",
        "minerva_math",
        "mine",
        "theoremqa",
    ):
        assert report["per_benchmark"][name]["rows"] == sum(t[0] == name for t in truth.values())

    clean = load_table(str(out / job.CLEAN_DIR))
    assert clean.column_names == ["uid", "query", "response"]
    assert clean["uid"] == [r["uid"] for i, r in enumerate(rows) if i not in exact]

    (run_dir,) = find_runs(wandb_dir)
    summary = read_run(run_dir).summary
    assert summary["decontam/rows_flagged"] == len(exact)
    assert summary["decontam/college_math/whole_question"] == 1

    # A second run reads every benchmark's questions from the cache.
    assert (
        cli.main(["decontaminate", recipe, "--output_dir", str(tmp_path / "again"), "--report_to", "none"])
        == 0
    )
    again = json.loads((tmp_path / "again" / job.REPORT_NAME).read_text())
    assert sorted(again["benchmarks_from_cache"]) == sorted(b["name"] for b in benchmarks)
    assert again["per_benchmark"] == report["per_benchmark"]


@pytest.mark.parametrize("kind", ["parquet", "json", "csv", "disk"])
def test_clean_copy_keeps_the_input_format(planted, tmp_path, kind):
    import datasets

    data, rows, truth, benchmarks = planted
    table = datasets.Dataset.from_list(rows)
    if kind in ("parquet", "csv"):
        source = tmp_path / f"train.{kind}"
        getattr(table, f"to_{kind}")(str(source))
    elif kind == "json":  # a JSON list, not JSON Lines
        source = tmp_path / "train.json"
        source.write_text(json.dumps(rows))
    else:
        source = tmp_path / "saved"
        table.save_to_disk(str(source))
    out = tmp_path / "out"
    recipe = write_recipe(
        tmp_path, dataset_name=str(source), benchmarks=benchmarks[:1], output_dir=str(out), report_to="none"
    )
    assert cli.main(["decontaminate", recipe]) == 0
    clean_dir = out / job.CLEAN_DIR
    assert (clean_dir / "dataset_info.json" if kind == "disk" else clean_dir / f"train.{kind}").is_file()
    gsm8k_rows = [row for row, t in truth.items() if t[0] == "gsm8k"]
    readable = clean_dir / "train.csv" if kind == "csv" else clean_dir  # data.py reads no csv directory
    assert load_table(str(readable))["uid"] == [r["uid"] for i, r in enumerate(rows) if i not in gsm8k_rows]


@pytest.mark.parametrize(
    "override,message",
    [
        (["--query_column", "question"], "missing column(s) ['question']"),
        (["--benchmarks", "[gsm8kk]"], "unknown benchmark 'gsm8kk' (did you mean 'gsm8k'?)"),
        (["--ngram_size", "1"], "ngram_size must be at least 2"),
    ],
    ids=["column", "benchmark", "ngram_size"],
)
def test_bad_input_is_one_line_exit_2(planted, tmp_path, capsys, override, message):
    data, *_ = planted
    out = tmp_path / "out"
    code = cli.main(
        ["decontaminate", RECIPE, "--dataset_name", str(data), "--output_dir", str(out), *override]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("dart-trl decontaminate: error: ")
    assert message in err[0] and not out.exists()


def sft_recipe(tmp_path, tiny_model, data, **extra):
    values = yaml.safe_load(SFT_RECIPE.read_text())
    values.update(
        model_name_or_path=str(tiny_model),
        dataset_name=str(data),
        output_dir=str(tmp_path / "model"),
        max_length=128,
        report_to="none",
        **extra,
    )
    return write_recipe(tmp_path, **values)


def test_sft_guard_refuses_before_launch(planted, tmp_path, tiny_model, capsys):
    data, rows, truth, benchmarks = planted
    recipe = sft_recipe(tmp_path, tiny_model, data, decontaminate=benchmarks)
    code = cli.main(["sft", recipe])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("dart-trl sft: error: ")
    exact = sorted(row for row, t in truth.items() if t[2] != "numbers_changed")
    assert f"{len(exact)} of {len(rows)} rows contain benchmark questions" in err[-1]
    assert f"first rows: {', '.join(str(r) for r in exact[:5])}, ..." in err[-1]
    assert not (tmp_path / "model").exists()


def test_sft_guard_drops_and_the_rest_trains(planted, tmp_path, tiny_model, capsys, wandb_dir):
    from dart_trl.sft import train as sft

    data, rows, truth, benchmarks = planted
    recipe = sft_recipe(tmp_path, tiny_model, data, decontaminate=benchmarks, decontaminate_action="drop")
    assert sft.main([recipe, "--max_steps", "2", "--report_to", "wandb"]) == 0
    exact = [row for row, t in truth.items() if t[2] != "numbers_changed"]
    assert f"{len(exact)} of {len(rows)} rows contain benchmark questions" in capsys.readouterr().err
    assert (tmp_path / "model" / "config.json").is_file()
    (run_dir,) = find_runs(wandb_dir)
    config = read_run(run_dir).config
    assert config["decontaminated_rows"] == len(exact) and config["dataset_rows"] == len(rows) - len(exact)


def test_clean_copy_trains(planted, tmp_path, tiny_model):
    from dart_trl.sft import train as sft

    data, rows, truth, benchmarks = planted
    out = tmp_path / "decontaminated"
    recipe = write_recipe(
        tmp_path, dataset_name=str(data), benchmarks=benchmarks, output_dir=str(out), report_to="none"
    )
    assert cli.main(["decontaminate", recipe]) == 0
    assert sft.main([sft_recipe(tmp_path, tiny_model, out / job.CLEAN_DIR), "--max_steps", "1"]) == 0
    assert (tmp_path / "model" / "config.json").is_file()


def with_answers(planted, tmp_path):
    """The planted rows as an RL/DARS pool: id, query, answer, level."""
    data, rows, truth, benchmarks = planted
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(
            json.dumps({"id": r["uid"], "query": r["query"], "answer": "1", "level": 1}) + "\n" for r in rows
        )
    )
    return pool


def grpo_recipe(tmp_path, tiny_model, pool, **extra):
    values = yaml.safe_load((REPO_ROOT / "recipes" / "grpo_tiny_cpu.yaml").read_text())
    values.update(
        model_name_or_path=str(tiny_model),
        dataset=str(pool),
        output_dir=str(tmp_path / "grpo"),
        stages=[{"name": "level1", "levels": [1], "max_steps": 1}],
        report_to="none",
        **extra,
    )
    return write_recipe(tmp_path, **values)


def test_grpo_guard_refuses_and_drops(planted, tmp_path, tiny_model, capsys):
    from dart_trl.config import parse_recipe
    from dart_trl.grpo import train as grpo

    data, rows, truth, benchmarks = planted
    pool = with_answers(planted, tmp_path)
    exact = sorted(row for row, t in truth.items() if t[2] != "numbers_changed")
    assert cli.main(["grpo", grpo_recipe(tmp_path, tiny_model, pool, decontaminate=benchmarks)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dart-trl grpo: error: ") and "stage 'level1'" in err
    assert f"{len(exact)} of {len(rows)} rows contain benchmark questions" in err
    assert not (tmp_path / "grpo").exists()

    recipe = grpo_recipe(tmp_path, tiny_model, pool, decontaminate=benchmarks, decontaminate_action="drop")
    parsed, _ = parse_recipe([recipe], grpo.JOB)
    (stage,) = parsed.get(grpo.StagedGRPOArguments).stages
    table = grpo.load_stage_data(parsed, stage)
    assert table["query"] == [r["query"] for i, r in enumerate(rows) if i not in exact]
    assert table["prompt_id"] == list(range(len(rows) - len(exact)))


def test_generate_guard_refuses_and_drops_before_sampling(planted, tmp_path, capsys):
    data, rows, truth, benchmarks = planted
    pool = with_answers(planted, tmp_path)
    exact = sorted(row for row, t in truth.items() if t[2] != "numbers_changed")
    values = yaml.safe_load((REPO_ROOT / "recipes" / "dars_tiny_cpu.yaml").read_text())
    values.update(
        pools=[{"source": str(pool), "id": "id", "query": "query", "answer": "answer", "level": "level"}],
        output_dir=str(tmp_path / "dars"),
        decontaminate=benchmarks,
        report_to="none",
    )
    recipe = write_recipe(tmp_path, **values)
    assert cli.main(["generate", recipe, "--plan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{len(exact)} of {len(rows)} rows contain benchmark questions" in err
    assert f"first ids: {', '.join(rows[r]['uid'] for r in exact[:5])}, ..." in err

    assert cli.main(["generate", recipe, "--plan", "--decontaminate_action", "drop"]) == 0
    captured = capsys.readouterr()
    assert f"dart-trl generate: decontamination: {len(exact)} of {len(rows)} rows" in captured.err
    assert f"{len(rows) - len(exact)} queries" in captured.out
