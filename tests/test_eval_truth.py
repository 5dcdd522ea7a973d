"""Every figure ``dart-trl eval`` prints, against a truth this test computes itself.

A scripted OpenAI-compatible server (``tests/scripted_openai.py``) answers every question of every
benchmark file in ``../shared/data`` with a known pattern: per sample, the published answer in one of
the forms models write (boxed, "The answer is", an equivalent form such as ``\\frac{24}{2}`` for 12,
a bare list for a bracketed list gold) or a wrong answer (the same wrong answer repeated, or several
different ones). The golds, the pattern and so accuracy, pass@n and maj@n per benchmark and per view
are computed here from the raw files read with ``json``, without the project's loaders or grader.
"""

from __future__ import annotations

import json
import re
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from benchmark_files import FILES, read_raw
from conftest import SHARED_DATA, require_shared_data
from scripted_openai import ScriptedServer

from dart_trl.config import run_guarded
from dart_trl.eval.evaluate import main

pytestmark = pytest.mark.slow

N = 5  # samples per question in the sampled run
SAMPLED_ITEMS = 250  # questions per benchmark in the sampled run
SEED = 1000
WRONG = [f"-98765{j}.5" for j in range(N)]  # wrong answers no gold equals (checked below)


def equivalent_form(bench: str, row: dict, gold: str) -> str | None:
    """The gold written another way that means the same, or None when there is no safe one."""
    kind = str(row.get("Answer_type") or "")
    if kind == "bool":
        return "Yes" if gold == "True" else "No"
    if kind.startswith("list"):
        return gold[1:-1]  # [2, 3] -> 2, 3
    if kind == "option":
        return gold.strip("()").upper()  # (c) -> C
    if bench == "deepmind_math" and gold.startswith("["):
        return ", ".join(reversed(gold[1:-1].split(", ")))  # a set: any order
    if bench == "deepmind_math" and re.fullmatch(r"-?\d+(?: -?\d+)+", gold):
        return gold.replace(" ", ", ")  # a sorted sequence, commas instead of spaces
    if re.fullmatch(r"-?\d+", gold):
        return f"\\frac{{{2 * int(gold)}}}{{2}}"
    if re.fullmatch(r"-?\d+\.\d+", gold):
        return gold + "0"
    return None


def correct_text(bench: str, row: dict, gold: str, form: int) -> str:
    """A completion giving the published answer in form ``form`` (0 boxed, 1 "The answer is", 2 equivalent)."""
    worked = "\n" in gold.strip() or len(gold) > 200 or "$" in gold
    if form == 1 and not worked:
        return f"Working through the problem step by step. The answer is {gold}"
    other = equivalent_form(bench, row, gold) if form == 2 else None
    if other is not None:
        return f"Simplifying, the final answer is $\\boxed{{{other}}}$."
    return f"Let me solve it.\nSo the final answer is $\\boxed{{{gold}}}$."


def wrong_text(j: int) -> str:
    return f"I think the result is \\boxed{{{WRONG[j]}}}."


def h(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


def sampled_pattern(bench: str, index: int) -> list[tuple[bool, str]]:
    """Per sample: (correct, answer key); correct samples share the key "CORRECT".

    0..5 correct samples at positions drawn from a per-item order; the wrong ones all the same wrong
    answer, all different, or two wrong answers alternating (ties with the correct answer included).
    """
    seed = h(bench, index)
    num_correct = seed % (N + 1)
    order = sorted(range(N), key=lambda k: h(bench, index, k))
    correct = set(order[:num_correct])
    mode = (seed // (N + 1)) % 3
    pattern = []
    for k in range(N):
        if k in correct:
            pattern.append((True, "CORRECT"))
        else:
            pattern.append((False, WRONG[0] if mode == 0 else WRONG[k] if mode == 1 else WRONG[k % 2]))
    return pattern


def greedy_pattern(bench: str, index: int) -> list[tuple[bool, str]]:
    return [(True, "CORRECT")] if h(bench, index) % 4 else [(False, WRONG[0])]


def majority_truth(pattern: list[tuple[bool, str]]) -> bool:
    """Whether the most given answer is the correct one; a tie goes to the answer given first."""
    counts: dict[str, list[int]] = {}
    for k, (_, key) in enumerate(pattern):
        counts.setdefault(key, [0, k])[0] += 1
    winner = max(counts, key=lambda key: (counts[key][0], -counts[key][1]))
    return winner == "CORRECT"


def truth(pattern_of, items: dict[str, list[tuple[int, dict, str]]]) -> dict[str, dict[str, Fraction]]:
    """Accuracy, pass@n and maj@n per benchmark (and TheoremQA's no_picture view) from the pattern alone."""

    def metrics(rows):
        patterns = [pattern_of(bench, i) for bench, i in rows]
        return {
            "accuracy": sum(Fraction(sum(c for c, _ in p), len(p)) for p in patterns) / len(patterns),
            "pass": Fraction(sum(any(c for c, _ in p) for p in patterns), len(patterns)),
            "maj": Fraction(sum(majority_truth(p) for p in patterns), len(patterns)),
        }

    out = {bench: metrics([(bench, i) for i, _, _ in rows]) for bench, rows in items.items()}
    out["theoremqa/no_picture"] = metrics(
        [("theoremqa", i) for i, r, _ in items["theoremqa"] if not r.get("Picture")]
    )
    return out


@pytest.fixture(scope="module")
def items() -> dict[str, list[tuple[int, dict, str]]]:
    data = require_shared_data()
    out = {}
    for bench, (name, _, gold_of) in FILES.items():
        rows = read_raw(data / name)
        out[bench] = [(i, r, gold_of(r)) for i, r in enumerate(rows)]
        assert all(g for _, _, g in out[bench]), f"{name}: an item without a gold"
    return out


def scripted_answers(items, pattern_of):
    """The server's answer function: find the item by the request's seed (SEED + index) and question."""
    by_index: dict[int, list[tuple[str, dict, str, str]]] = {}
    for bench, rows in items.items():
        question_field = FILES[bench][1]
        for i, row, gold in rows:
            by_index.setdefault(i, []).append((bench, row, gold, row[question_field].strip()))

    def answer(prompt: str, n: int, seed: int | None) -> list[str]:
        candidates = [c for c in by_index.get((seed or 0) - SEED, []) if c[3] in prompt]
        if len(candidates) != 1:
            raise KeyError(prompt)
        bench, row, gold, _ = candidates[0]
        index = seed - SEED
        pattern = pattern_of(bench, index)
        assert len(pattern) == n
        texts, forms = [], 0
        for correct, key in pattern:
            if correct:
                texts.append(correct_text(bench, row, gold, (forms + h(bench, index)) % 3))
                forms += 1
            else:
                texts.append(wrong_text(WRONG.index(key)))
        return texts

    return answer


def run_eval(tmp_path: Path, items, pattern_of, **values) -> tuple[dict, ScriptedServer]:
    benchmarks = [{"name": b, "data_files": str(SHARED_DATA / FILES[b][0])} for b in FILES]
    with ScriptedServer(scripted_answers(items, pattern_of)) as server:
        recipe = tmp_path / "eval.yaml"
        recipe.write_text(
            yaml.safe_dump(
                dict(
                    model_name_or_path="scripted-model",
                    backend="openai",
                    base_url=server.base_url,
                    benchmarks=benchmarks,
                    seed=SEED,
                    max_tokens=64,
                    output_dir=str(tmp_path / "out"),
                    report_to="none",
                    **values,
                )
            )
        )
        assert run_guarded("eval", main, [str(recipe)]) == 0
    assert server.unknown == [], f"{len(server.unknown)} requests the script did not expect"
    return json.loads((tmp_path / "out" / "results.json").read_text()), server


def check_records(out: Path, items, pattern_of) -> None:
    """Every sample's verdict in ``<benchmark>.jsonl`` is the scripted one."""
    for bench, rows in items.items():
        records = [json.loads(line) for line in (out / f"{bench}.jsonl").read_text().splitlines()]
        expected = {(i, k): c for i, _, _ in rows for k, (c, _) in enumerate(pattern_of(bench, i))}
        got = {(r["index"], r["sample"]): r["correct"] for r in records}
        wrong = [
            (key, got.get(key), r_gold(records, key)) for key in expected if got.get(key) != expected[key]
        ]
        assert not wrong, f"{bench}: {len(wrong)} verdicts differ from the script, first: {wrong[:5]}"


def r_gold(records, key):
    return next(
        (r["gold"], r["completion"], r["reason"]) for r in records if (r["index"], r["sample"]) == key
    )


def assert_metrics(results: dict, expected: dict, n: int) -> None:
    for name, want in expected.items():
        bench, _, view = name.partition("/")
        got = results["benchmarks"][bench]
        got = got["views"][view] if view else got
        assert got["accuracy"] == pytest.approx(float(want["accuracy"]), abs=1e-12), name
        if n > 1:
            assert got[f"pass@{n}"] == pytest.approx(float(want["pass"]), abs=1e-12), name
            assert got[f"maj@{n}"] == pytest.approx(float(want["maj"]), abs=1e-12), name
    paper = [float(expected[b]["accuracy"]) for b in FILES]
    assert results["average"] == pytest.approx(sum(paper) / len(paper), abs=1e-12)


def test_no_gold_equals_a_wrong_answer(items):
    numbers = {Fraction(w) for w in WRONG}
    for bench, rows in items.items():
        for _, _, gold in rows:
            if re.fullmatch(r"-?\d+(?:\.\d+)?", gold):
                assert Fraction(gold) not in numbers, (bench, gold)


def test_greedy_accuracy_per_benchmark_and_view_equals_the_script(items, tmp_path):
    results, server = run_eval(tmp_path, items, greedy_pattern)
    assert server.requests == sum(len(rows) for rows in items.values())
    for bench, rows in items.items():
        assert results["benchmarks"][bench]["total"] == len(rows)
    check_records(tmp_path / "out", items, greedy_pattern)
    assert_metrics(results, truth(greedy_pattern, items), n=1)


def test_sampled_pass_and_majority_per_benchmark_equal_the_script(items, tmp_path):
    # the first SAMPLED_ITEMS questions of each file (every question is in the greedy test): CI's time
    items = {bench: rows[:SAMPLED_ITEMS] for bench, rows in items.items()}
    results, _ = run_eval(tmp_path, items, sampled_pattern, n=N, temperature=1.0, limit=SAMPLED_ITEMS)
    check_records(tmp_path / "out", items, sampled_pattern)
    expected = truth(sampled_pattern, items)
    assert 0 < expected["gsm8k"]["maj"] < 1
    assert_metrics(results, expected, n=N)
