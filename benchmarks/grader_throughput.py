"""Throughput of ``Grader.grade_batch`` on a DARS-like stream vs a naive per-pair math-verify loop.

Stream: ``QUERIES`` queries x ``SAMPLES`` completions. Each query takes a gold from the shared
benchmark files (GSM8K, MATH/Minerva, college math, OlympiadBench, AIME/AMC) and a handful of
distinct answers (the gold, written two ways, and perturbed golds), rendered as boxed or
"The answer is" endings after a short reasoning prefix: like rejection sampling, most samples of a
query repeat a few answers.

Baseline: ``math_verify.verify(parse(f"${gold}$"), parse(completion))`` for every pair, in this
process (math-verify's own signal timeouts on). It is timed on the first ``NAIVE_QUERIES``
queries and extrapolated to the whole stream. The Grader (2 worker processes, empty memo) grades the
whole stream twice: cold (worker start-up included) and with its workers already running (the
steady state of a long DARS / GRPO run). Both accuracies on the timed subset are printed.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time

from _shared import REPO_ROOT, read_rows

sys.path.insert(0, str(REPO_ROOT))

from math_verify import parse, verify  # noqa: E402

from dart_trl.grading import Grader, last_boxed  # noqa: E402

QUERIES = 200
SAMPLES = 64
NAIVE_QUERIES = 12
logging.getLogger("math_verify").setLevel(logging.ERROR)


def _golds() -> list[str]:
    golds = [
        r["answer"].split("####")[-1].strip().replace(",", "") for r in read_rows("gsm8k-test.jsonl")[:300]
    ]
    golds += [g for r in read_rows("minerva-math-test.jsonl") if (g := last_boxed(r["solution"]))]
    golds += [
        r["answer"].strip("$ ") for r in read_rows("college-math-test.jsonl")[:300] if len(r["answer"]) < 40
    ]
    golds += [
        ", ".join(r["final_answer"]).strip("$") for r in read_rows("olympiadbench-OE_TO_maths_en_COMP.json")
    ]
    golds += [str(r["answer"]) for name in ("aime24-test.jsonl", "amc23-test.jsonl") for r in read_rows(name)]
    return golds


def _perturb(gold: str, delta: int) -> str:
    ints = list(re.finditer(r"\d+", gold))
    if not ints:
        return f"{gold} + {delta}"
    last = ints[-1]
    return gold[: last.start()] + str(int(last.group()) + delta) + gold[last.end() :]


def build_stream(rng: random.Random) -> list[dict]:
    """``QUERIES * SAMPLES`` items with a few distinct answers per query."""
    golds = rng.sample(_golds(), QUERIES)
    items = []
    for gold in golds:
        answers = [gold, gold, gold, _perturb(gold, 1), _perturb(gold, 2), _perturb(gold, 7)]
        weights = [4, 2, 1, 2, 1, 1]
        for _ in range(SAMPLES):
            answer = rng.choices(answers, weights)[0]
            prefix = (
                f"Let me think step by step. First, {rng.randint(2, 99)} + {rng.randint(2, 99)} is easy. "
            )
            ending = rng.choice(
                [f"So the final answer is $\\boxed{{{answer}}}$.", f"The answer is ${answer}$."]
            )
            items.append({"completion": prefix + ending, "gold": gold})
    return items


def naive(items: list[dict]) -> list[bool]:
    """The per-pair math-verify loop."""
    return [bool(verify(parse(f"${it['gold']}$"), parse(it["completion"]))) for it in items]


def main() -> int:
    """Build the stream, time both graders, print items/s, speedup and accuracies."""
    items = build_stream(random.Random(0))
    subset = items[: NAIVE_QUERIES * SAMPLES]

    start = time.perf_counter()
    baseline = naive(subset)
    naive_s = time.perf_counter() - start
    naive_rate = len(subset) / naive_s

    start = time.perf_counter()
    with Grader(num_workers=2) as grader:
        verdicts = grader.grade_batch(items)
    cold_s = time.perf_counter() - start

    with Grader(num_workers=2) as grader:  # workers already running, empty memo: a long DARS run
        grader.grade(r"\boxed{\sec^2(y)}", r"\tan^2(y)+1")
        start = time.perf_counter()
        warm_verdicts = grader.grade_batch(items)
        grader_s = time.perf_counter() - start
    assert [v.correct for v in warm_verdicts] == [v.correct for v in verdicts]
    grader_rate = len(items) / grader_s

    sub_verdicts = verdicts[: len(subset)]
    agree = sum(v.correct == b for v, b in zip(sub_verdicts, baseline, strict=True))
    reasons: dict[str, int] = {}
    for v in verdicts:
        reasons[v.reason] = reasons.get(v.reason, 0) + 1
    print(f"stream: {QUERIES} queries x {SAMPLES} samples = {len(items)} items")
    print(
        f"naive math-verify loop: {naive_rate:.1f} items/s (timed on {len(subset)} items in {naive_s:.1f}s, "
        f"extrapolated to {len(items) / naive_rate:.0f}s for the stream)"
    )
    print(
        f"Grader.grade_batch, 2 workers already started, empty memo: {grader_rate:.1f} items/s "
        f"({grader_s:.2f}s for the stream)"
    )
    print(
        f"Grader.grade_batch, cold (worker start-up included): {len(items) / cold_s:.1f} items/s ({cold_s:.2f}s)"
    )
    print(f"speedup: {grader_rate / naive_rate:.1f}x warm, {len(items) / cold_s / naive_rate:.1f}x cold")
    print(
        f"accuracy on the timed subset: naive {sum(baseline) / len(subset):.4f}, "
        f"Grader {sum(v.correct for v in sub_verdicts) / len(subset):.4f}, "
        f"verdict agreement {agree / len(subset):.4f}"
    )
    print(
        f"Grader accuracy on the stream: {sum(v.correct for v in verdicts) / len(items):.4f}; reasons {reasons}"
    )
    disagreements = [
        (v, b, it) for v, b, it in zip(sub_verdicts, baseline, subset, strict=True) if v.correct != b
    ]
    for v, b, it in disagreements[:20]:
        print(f"  DISAGREE naive={b} grader={v.correct} ({v.reason}) gold={it['gold']!r} answer={v.answer!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
