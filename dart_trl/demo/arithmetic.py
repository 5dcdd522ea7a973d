"""A synthetic arithmetic pool with known difficulty levels, an imperfect teacher corpus, and per-level tests.

Three levels of query: one-digit sums (level 1), two-digit sums (level 2) and two-digit by one-digit
products (level 3). Every fact has several valid worked solutions (different orders of steps,
intermediate results, wording), so a model trained on them writes varied correct working at
temperature 1. The teacher's corpus also holds *slips*: worked solutions with one wrong step, carried
through to a wrong answer. Each fact gets a slip share drawn from its level's range, so the trained
teacher solves easy facts nearly always and hard ones only sometimes, with a spread inside each level.

The pool and the per-level benchmarks ask about the same facts in different words: the benchmark
phrasing is never trained on, so a model answers it only if it learned the fact, not the sentence.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

LEVELS = {
    # level: (operation, range of a, range of b)
    1: ("add", (0, 9), (0, 9)),
    2: ("add", (10, 49), (10, 49)),
    3: ("mul", (11, 49), (3, 9)),
}
# Share of a fact's teacher rows that carry a slip, drawn uniformly from its level's range.
SLIP_SHARE = {1: (0.0, 0.15), 2: (0.25, 0.6), 3: (0.5, 0.9)}
TEACHER_ROWS_PER_FACT = 8
PHRASINGS = {
    "add": ["What is {a} + {b}?", "Compute {a} + {b}.", "Calculate {a} + {b}."],
    "mul": ["What is {a} * {b}?", "Compute {a} * {b}.", "Calculate {a} * {b}."],
}
POOL_PHRASINGS = 2  # phrasings 0 and 1 are asked in the pool and trained on; phrasing 2 is the benchmark's
ENDINGS = ["The answer is \\boxed{{{r}}}.", "So the answer is \\boxed{{{r}}}.", "Answer: \\boxed{{{r}}}."]


def add_steps(a: int, b: int, slip: int) -> list[str]:
    """Worked solutions of ``a + b`` (before the closing sentence); ``slip`` is added to one step's result."""
    r = a + b + slip
    styles = [f"{a} + {b} = {r}.", f"{b} + {a} = {r}.", f"Adding {a} and {b} gives {r}."]
    if a >= 10 and b >= 10:  # tens, then units
        at, au, bt, bu = a - a % 10, a % 10, b - b % 10, b % 10
        units = au + bu + slip
        styles += [
            f"{a} + {b} = {at} + {bt} + {au} + {bu} = {at + bt} + {units} = {r}.",
            f"Units: {au} + {bu} = {units}. Tens: {at} + {bt} = {at + bt}. Total: {at + bt} + {units} = {r}.",
            f"{a} + {bt} = {a + bt}, then {a + bt} + {bu} = {r}.",
        ]
    else:  # count on from the larger number, or make ten
        big, small = max(a, b), min(a, b)
        styles += [f"Start at {big} and add {small}: {big} + {small} = {r}."]
        if big + small > 10 and big < 10:
            to_ten = 10 - big
            rest = small - to_ten
            styles += [
                f"{big} + {to_ten} = 10, and {rest} more makes {10 + rest + slip}, so {a} + {b} = {r}."
            ]
        else:
            styles += [f"{a} plus {b} is {r}."]
    return styles


def mul_steps(a: int, b: int, slip: int) -> list[str]:
    """Worked solutions of ``a * b`` (two-digit ``a``, one-digit ``b``); ``slip`` is added to one step's result."""
    at, au = a - a % 10, a % 10
    tens, units = at * b, au * b + slip
    r = tens + units
    up = at + 10
    return [
        f"{a} * {b} = {r}.",
        f"{b} * {a} = {r}.",
        f"{a} * {b} = {at} * {b} + {au} * {b} = {tens} + {units} = {r}.",
        f"First {au} * {b} = {units}, then {at} * {b} = {tens}. Adding them: {tens} + {units} = {r}.",
        f"Multiplying {a} by {b} gives {r}.",
        f"{a} * {b} = {up} * {b} - {up - a} * {b} = {up * b} - {up * b - r} = {r}.",
    ]


def worked_solutions(operation: str, a: int, b: int, slip: int = 0) -> list[str]:
    """Every worked solution of the fact (with one step off by ``slip``), each with every closing sentence."""
    steps = add_steps(a, b, slip) if operation == "add" else mul_steps(a, b, slip)
    r = (a + b if operation == "add" else a * b) + slip
    return [f"{s} {end.format(r=r)}" for s in steps for end in ENDINGS]


def answer_of(operation: str, a: int, b: int) -> str:
    """The correct answer of the fact, as text."""
    return str(a + b if operation == "add" else a * b)


def make_facts(per_level: int, seed: int) -> list[dict]:
    """Draw ``per_level`` distinct facts of each level: id, level, operation, a, b, answer."""
    rng = random.Random(seed)
    facts = []
    for level, (operation, (a_lo, a_hi), (b_lo, b_hi)) in LEVELS.items():
        pairs = sorted({(a, b) for a in range(a_lo, a_hi + 1) for b in range(b_lo, b_hi + 1)})
        for a, b in rng.sample(pairs, min(per_level, len(pairs))):
            facts.append(
                dict(id=f"L{level}-{a}-{b}", level=level, operation=operation, a=a, b=b,
                     answer=answer_of(operation, a, b))
            )  # fmt: skip
    return facts


def phrase(fact: dict, index: int) -> str:
    """Ask about ``fact`` with phrasing number ``index`` of its operation."""
    return PHRASINGS[fact["operation"]][index].format(a=fact["a"], b=fact["b"])


def slip_value(rng: random.Random, fact: dict) -> int:
    """A plausible nonzero error of one step: off by one or two, or by ten with two-digit numbers."""
    return rng.choice([-10, -2, -1, 1, 2, 10] if fact["a"] >= 10 else [-2, -1, 1, 2])


def teacher_rows(fact: dict, slip_share: float, rng: random.Random) -> list[dict]:
    """The teacher's rows for one fact: varied correct solutions, and ``slip_share`` of them with a slip.

    At least one row is correct, so the teacher can solve every fact sometimes. Rows alternate between
    the pool's phrasings, so the teacher learns the fact rather than the sentence.
    """
    n_slips = min(TEACHER_ROWS_PER_FACT - 1, round(slip_share * TEACHER_ROWS_PER_FACT))
    correct = worked_solutions(fact["operation"], fact["a"], fact["b"])
    responses = rng.sample(correct, TEACHER_ROWS_PER_FACT - n_slips)
    for _ in range(n_slips):
        responses.append(
            rng.choice(worked_solutions(fact["operation"], fact["a"], fact["b"], slip_value(rng, fact)))
        )
    return [dict(query=phrase(fact, i % POOL_PHRASINGS), response=r) for i, r in enumerate(responses)]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """Write ``rows`` as JSON lines and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def build_demo_data(out_dir: Path, per_level: int = 40, seed: int = 0) -> dict[str, Path]:
    """Write the demo's files to ``out_dir`` and return their paths by name.

    - ``pool``: the DARS query pool (id, query, answer, level), one pool phrasing per fact;
    - ``teacher_sft``: the teacher's corpus (query, response), :data:`TEACHER_ROWS_PER_FACT` rows per
      fact with the fact's slip share (``teacher_slips`` lists each fact's share);
    - ``benchmark_level{1,2,3}``: the held-out benchmark of each level, the same facts in phrasing 2,
      which no model is trained on.
    """
    facts = make_facts(per_level, seed)
    rng = random.Random(seed + 1)
    pool, teacher, slips = [], [], []
    benchmarks: dict[int, list[dict]] = {level: [] for level in LEVELS}
    for i, fact in enumerate(facts):
        pool.append(dict(id=fact["id"], query=phrase(fact, i % POOL_PHRASINGS), answer=fact["answer"],
                         level=fact["level"]))  # fmt: skip
        share = rng.uniform(*SLIP_SHARE[fact["level"]])
        slips.append(dict(id=fact["id"], level=fact["level"], slip_share=share))
        teacher += teacher_rows(fact, share, rng)
        benchmarks[fact["level"]].append(
            dict(
                id=fact["id"], query=phrase(fact, POOL_PHRASINGS), answer=fact["answer"], level=fact["level"]
            )
        )
    rng.shuffle(teacher)
    paths = {
        "pool": write_jsonl(pool, out_dir / "pool.jsonl"),
        "teacher_sft": write_jsonl(teacher, out_dir / "teacher_sft.jsonl"),
        "teacher_slips": write_jsonl(slips, out_dir / "teacher_slips.jsonl"),
    }
    for level, rows in benchmarks.items():
        paths[f"benchmark_level{level}"] = write_jsonl(rows, out_dir / f"benchmark_level{level}.jsonl")
    return paths


def corpus(rows_file: Path) -> str:
    """Text to train the tiny tokenizer on: every row as a model sees it (Alpaca prompt, then the solution)."""
    from dart_trl.templates import format_prompt

    rows = map(json.loads, rows_file.read_text().splitlines())
    return "".join(format_prompt("alpaca", row["query"]) + row["response"] + "\n" for row in rows)
