"""A synthetic arithmetic query pool and held-out benchmark for the CPU demo.

Three kinds of query of rising difficulty: one-digit sums (easy), two-digit sums (medium) and
two-digit by one-digit products (hard). The pool and the benchmark ask about the same facts in
different words, so a model that learned a fact from the pool can answer the benchmark's question.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PHRASINGS = {
    "add": ["What is {a} + {b}?", "Compute {a} + {b}.", "Calculate {a} + {b}."],
    "mul": ["What is {a} * {b}?", "Compute {a} * {b}.", "Calculate {a} * {b}."],
}
KINDS = {
    # kind: (operation, range of a, range of b)
    "easy": ("add", (0, 9), (0, 9)),
    "medium": ("add", (10, 49), (1, 9)),
    "hard": ("mul", (11, 49), (3, 9)),
}


def solution(operation: str, a: int, b: int) -> tuple[str, str]:
    """A short worked solution ending in a boxed answer, and the answer itself."""
    answer = a + b if operation == "add" else a * b
    sign = "+" if operation == "add" else "*"
    return f"{a} {sign} {b} = {answer}. The answer is \\boxed{{{answer}}}.", str(answer)


def make_facts(per_kind: int, seed: int) -> list[dict]:
    """Draw ``per_kind`` distinct facts of each kind: id, kind, operation, a, b, answer, solution."""
    rng = random.Random(seed)
    facts = []
    for kind, (operation, (a_lo, a_hi), (b_lo, b_hi)) in KINDS.items():
        pairs = sorted({(a, b) for a in range(a_lo, a_hi + 1) for b in range(b_lo, b_hi + 1)})
        for a, b in rng.sample(pairs, min(per_kind, len(pairs))):
            text, answer = solution(operation, a, b)
            facts.append(
                dict(
                    id=f"{kind}-{a}-{b}",
                    kind=kind,
                    operation=operation,
                    a=a,
                    b=b,
                    answer=answer,
                    solution=text,
                )
            )
    return facts


def phrase(fact: dict, index: int) -> str:
    """Ask about ``fact`` with phrasing number ``index`` of its operation."""
    templates = PHRASINGS[fact["operation"]]
    return templates[index % len(templates)].format(a=fact["a"], b=fact["b"])


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """Write ``rows`` as JSON lines and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def build_demo_data(out_dir: Path, per_kind: int = 24, seed: int = 0) -> dict[str, Path]:
    """Write the demo's files to ``out_dir`` and return their paths by name.

    - ``pool``: the DARS query pool (id, query, answer, level), phrasing 0 or 1 of each fact;
    - ``teacher_sft``: what the teacher is trained on (both pool phrasings): every easy fact, most
      medium ones and a few hard ones, so that it solves easy queries, some medium and few hard ones;
    - ``benchmark``: the held-out benchmark, the same facts in phrasing 2, which no model is trained on.
    """
    facts = make_facts(per_kind, seed)
    rng = random.Random(seed + 1)
    share = {"easy": 1.0, "medium": 0.6, "hard": 0.25}
    pool, teacher, benchmark = [], [], []
    for i, fact in enumerate(facts):
        query = phrase(fact, i % 2)
        level = {"easy": 1, "medium": 2, "hard": 3}[fact["kind"]]
        pool.append(dict(id=fact["id"], query=query, answer=fact["answer"], level=level))
        if rng.random() < share[fact["kind"]]:
            for k in range(2):  # both pool phrasings, so the model learns the fact rather than the words
                teacher.append(dict(query=phrase(fact, k), response=fact["solution"]))
        benchmark.append(dict(id=fact["id"], query=phrase(fact, 2), answer=fact["answer"], level=level))
    return {
        "pool": write_jsonl(pool, out_dir / "pool.jsonl"),
        "teacher_sft": write_jsonl(teacher, out_dir / "teacher_sft.jsonl"),
        "benchmark": write_jsonl(benchmark, out_dir / "benchmark.jsonl"),
    }


def corpus(facts_file: Path) -> str:
    """Text to train the tiny tokenizer on: the prompt template and every query and solution."""
    from dart_trl.templates import ALPACA

    lines = [ALPACA]
    for row in map(json.loads, facts_file.read_text().splitlines()):
        lines.append(row.get("query", "") + "\n" + row.get("response", row.get("answer", "")) + "\n")
    return "".join(lines)
