"""The benchmark files of ``../shared/data`` read as their papers read them, with Python's ``json`` only:
the independent truth the eval tests compare the project's loaders and metrics with."""

from __future__ import annotations

import json
from pathlib import Path


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` of ``text`` (braces matched by hand)."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j].strip()
    return None


def theoremqa_gold(row: dict) -> str:
    answer = row["Answer"]
    return "[" + ", ".join(str(a) for a in answer) + "]" if isinstance(answer, list) else str(answer)


# benchmark: (file, question field, gold as the benchmark's paper reads it)
FILES = {
    "gsm8k": (
        "gsm8k-test.jsonl",
        "question",
        lambda r: r["answer"].split("####")[-1].strip().replace(",", ""),
    ),
    "college_math": ("college-math-test.jsonl", "question", lambda r: str(r["answer"])),
    "deepmind_math": ("deepmind-mathematics.json", "question", lambda r: str(r["answer"])),
    "olympiadbench": (
        "olympiadbench-OE_TO_maths_en_COMP.json",
        "question",
        lambda r: ", ".join(r["final_answer"]),
    ),
    "theoremqa": ("theoremqa.json", "Question", theoremqa_gold),
    "minerva_math": ("minerva-math-test.jsonl", "problem", lambda r: last_boxed(r["solution"])),
    "aime24": ("aime24-test.jsonl", "problem", lambda r: str(r["answer"])),
    "amc23": ("amc23-test.jsonl", "problem", lambda r: str(r["answer"])),
}


def read_raw(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())
