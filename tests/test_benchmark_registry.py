"""Benchmark loaders against the real files in ../shared/data, and bad benchmark input."""

from __future__ import annotations

import json
import re

import pytest

from dart_trl.config import RecipeError
from dart_trl.eval.benchmarks import (
    BENCHMARKS,
    PAPER_BENCHMARKS,
    get_benchmark,
    load_benchmark,
)
from dart_trl.eval.sources import PinnedFile
from dart_trl.grading import Grader
from dart_trl.templates import template_names

# benchmark -> (file in ../shared/data, rows in it)
SHARED_FILES = {
    "gsm8k": ("gsm8k-test.jsonl", 1319),
    "college_math": ("college-math-test.jsonl", 2818),
    "deepmind_math": ("deepmind-mathematics.json", 1000),
    "olympiadbench": ("olympiadbench-OE_TO_maths_en_COMP.json", 675),
    "theoremqa": ("theoremqa.json", 800),
    "aime24": ("aime24-test.jsonl", 30),
    "amc23": ("amc23-test.jsonl", 40),
    "minerva_math": ("minerva-math-test.jsonl", 272),
}


@pytest.fixture(scope="module")
def grader():
    with Grader() as g:
        yield g


def test_registry_lists_the_issue_benchmarks_with_public_sources():
    expected = {
        "math500",
        "math",
        "gsm8k",
        "college_math",
        "deepmind_math",
        "olympiadbench",
        "theoremqa",
        "aime24",
        "amc23",
        "minerva_math",
    }
    assert set(BENCHMARKS) == expected
    assert PAPER_BENCHMARKS == [
        "math",
        "gsm8k",
        "college_math",
        "deepmind_math",
        "olympiadbench",
        "theoremqa",
    ]
    for b in BENCHMARKS.values():
        is_pinned = isinstance(b.source, PinnedFile) and re.fullmatch(r"[0-9a-f]{40}", b.source.commit)
        is_hub_id = isinstance(b.source, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", b.source) is not None
        assert is_pinned or is_hub_id, b.source
        assert b.template in template_names()


@pytest.mark.parametrize("name", sorted(SHARED_FILES))
def test_shared_file_loads_with_expected_count_and_every_gold_is_accepted(name, shared_data, grader):
    file_name, rows = SHARED_FILES[name]
    loaded = load_benchmark(get_benchmark(name), [str(shared_data / file_name)])
    assert len(loaded.items) == rows
    assert all(item.query.strip() and item.gold.strip() for item in loaded.items)
    verdicts = grader.grade_batch(
        {"completion": f"So the final answer is $\\boxed{{{it.gold}}}$.", "gold": it.gold, **it.options}
        for it in loaded.items
    )
    rejected = [
        (it.index, it.gold, v.reason) for it, v in zip(loaded.items, verdicts, strict=True) if not v.correct
    ]
    assert not rejected, rejected[:10]


def test_gsm8k_gold_is_the_number_after_hashes_and_a_wrong_number_fails(shared_data, grader):
    loaded = load_benchmark(get_benchmark("gsm8k"), [str(shared_data / "gsm8k-test.jsonl")], limit=50)
    raw = [json.loads(line) for line in (shared_data / "gsm8k-test.jsonl").read_text().splitlines()[:50]]
    assert [it.gold for it in loaded.items] == [
        r["answer"].rsplit("####", 1)[1].strip().replace(",", "") for r in raw
    ]
    wrong = grader.grade_batch(
        {"completion": f"\\boxed{{{int(it.gold) + 1}}}", "gold": it.gold} for it in loaded.items
    )
    assert not any(v.correct for v in wrong)


def test_theoremqa_scores_all_800_as_the_paper_and_views_the_747_without_picture(shared_data):
    loaded = load_benchmark(get_benchmark("theoremqa"), [str(shared_data / "theoremqa.json")])
    raw = json.loads((shared_data / "theoremqa.json").read_text())
    assert [it.index for it in loaded.items] == list(range(800))
    assert [it.query for it in loaded.items] == [r["Question"] for r in raw]  # picture items keep their text
    assert sorted(loaded.views["no_picture"]) == [i for i, r in enumerate(raw) if not r["Picture"]]
    assert len(loaded.views["no_picture"]) == 747
    for item, r in zip(loaded.items, raw, strict=True):
        assert item.options["answer_type"] == r["Answer_type"]
        if r["Answer_type"] == "bool":
            assert item.gold in {"True", "False"}
        if r["Answer_type"].startswith("list"):
            assert item.gold.startswith("[")


def test_olympiadbench_tolerance_and_instruction(shared_data, grader):
    loaded = load_benchmark(
        get_benchmark("olympiadbench"), [str(shared_data / "olympiadbench-OE_TO_maths_en_COMP.json")]
    )
    raw = json.loads((shared_data / "olympiadbench-OE_TO_maths_en_COMP.json").read_text())
    with_error = [it for it, r in zip(loaded.items, raw, strict=True) if r["error"]]
    assert with_error and all(
        it.options["abs_tol"] == float(r["error"])
        for it, r in zip(loaded.items, raw, strict=True)
        if r["error"]
    )
    item = with_error[0]
    within = grader.grade(f"\\boxed{{{float(item.gold) + 0.05}}}", item.gold, **item.options)
    outside = grader.grade(f"\\boxed{{{float(item.gold) + 0.5}}}", item.gold, **item.options)
    assert within.correct and not outside.correct
    assert all(
        it.query.endswith(r["question"]) and "\\boxed{" in it.query
        for it, r in zip(loaded.items, raw, strict=True)
    )


def test_unknown_benchmark_lists_the_registry():
    with pytest.raises(RecipeError) as err:
        get_benchmark("gsm8kk")
    message = str(err.value)
    assert "gsm8kk" in message and "did you mean 'gsm8k'" in message
    assert all(name in message for name in BENCHMARKS)


def test_file_missing_the_mapped_field_names_file_and_field(tmp_path):
    path = tmp_path / "renamed.jsonl"
    path.write_text(json.dumps({"problem": "1+1?", "answer": "#### 2"}) + "\n")
    with pytest.raises(RecipeError) as err:
        load_benchmark(get_benchmark("gsm8k"), [str(path)])
    assert str(path) in str(err.value) and "'question'" in str(err.value)


def test_published_file_unreachable_offline_is_one_clear_error(tmp_path):
    # conftest sets HF_DATASETS_OFFLINE=1: the published CollegeMath file cannot be fetched.
    with pytest.raises(RecipeError) as err:
        load_benchmark(get_benchmark("college_math"), cache_dir=str(tmp_path / "cache"))
    assert "college-math-test.jsonl" in str(err.value) and "data_files" in str(err.value)
