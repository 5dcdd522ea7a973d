"""The golds of every benchmark file in ``../shared/data``, item by item.

For each item: the gold the loader hands the grader is the one Python's ``json`` reads from the raw
file (through the benchmark's published reading: ``####`` for GSM8K, the last ``\\boxed{}`` of a
Minerva solution, ...); the published answer, boxed, grades correct against it; a perturbed answer
grades wrong.
"""

from __future__ import annotations

import pytest
from benchmark_files import FILES, perturb, read_raw

from dart_trl.eval.benchmarks import BENCHMARKS, load_benchmark
from dart_trl.grading import Grader

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("bench", list(FILES))
def test_golds_are_the_files_and_grade_themselves_right_and_perturbed_wrong(bench, shared_data):
    name, _, gold_of = FILES[bench]
    rows = read_raw(shared_data / name)
    loaded = load_benchmark(BENCHMARKS[bench], [str(shared_data / name)])
    assert [item.index for item in loaded.items] == list(range(len(rows)))
    differ = [
        (it.index, it.gold, gold_of(rows[it.index]))
        for it in loaded.items
        if it.gold != gold_of(rows[it.index])
    ]
    assert not differ, f"{name}: {len(differ)} golds differ from the file, first: {differ[:5]}"

    checks = []
    for item in loaded.items:
        checks.append((item, f"So the final answer is \\boxed{{{item.gold}}}.", True))
        checks.append((item, f"So the final answer is \\boxed{{{perturb(item.gold, item.options)}}}.", False))
    # Some perturbed answers need math-verify (about 130 of CollegeMath's take 0.3-2 s each on an idle
    # core). A deadline well above that: a worker killed at its deadline is replaced, and a replacement
    # pays its start-up again, which under load costs more than the check. A timeout grades wrong.
    with Grader(timeout=10) as grader:
        verdicts = grader.grade_batch(
            {"completion": text, "gold": it.gold, **it.options} for it, text, _ in checks
        )
    failures = [
        (it.index, it.gold, v.answer, v.reason)
        for (it, _, expected), v in zip(checks, verdicts, strict=True)
        if v.correct != expected
    ]
    assert not failures, f"{name}: {len(failures)} golds mis-graded, first: {failures[:5]}"
