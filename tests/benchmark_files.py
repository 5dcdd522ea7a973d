"""The benchmark files of ``../shared/data`` read as their papers read them, with Python's ``json`` only:
the independent truth the eval tests compare the project's loaders and metrics with."""

from __future__ import annotations

import json
import re
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


# The file of each benchmark in ../shared/data: the published copies of the pinned files, and GSM8K's split.
SHARED_COPIES = {bench: spec[0] for bench, spec in FILES.items()}


def read_raw(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def perturb(gold: str, opts: dict) -> str:
    """A different answer close to ``gold``: a flipped boolean, the next choice letter, a number moved
    past its tolerance, or +1 on the last integer of its final value (not an exponent nor the base of a
    power: ``11^0 == 10^0``); ``+ 1`` when that value has no digit."""
    kind = (opts.get("answer_type") or "").lower()
    if kind == "bool":
        return "False" if gold.strip().lower() == "true" else "True"
    m = re.fullmatch(r"\(?([a-eA-E])\)?", gold.strip())
    if m:
        return gold.replace(m.group(1), chr(ord(m.group(1)) + 1))
    if opts.get("abs_tol") and re.fullmatch(r"-?\d+(?:\.\d+)?", gold.strip()):
        return str(float(gold) + 10 * float(opts["abs_tol"]) + 1)
    if re.fullmatch(r"-?\d+\.\d{6,}", gold.strip()):  # a long decimal: past float64 noise (README, Grading)
        whole, _, digits = gold.strip().partition(".")
        return f"{int(whole) + (-1 if whole.startswith('-') else 1)}.{digits}"
    head, equals, last = gold.rpartition("=")  # a derivation a = b = c is judged by its final value
    power = r"(?![\d.]*\s*\^(?!\{\\circ\}))"  # not the base of a power (a degree sign is no power)
    ints = list(re.finditer(rf"(?<![\d^{{])\d+{power}", last)) or list(re.finditer(r"\d+", last))
    if ints:
        hit = ints[-1]
        return head + equals + last[: hit.start()] + str(int(hit.group()) + 1) + last[hit.end() :]
    if "\\infty" in last:
        return head + equals + last.replace("\\infty", "0")  # infinity + 1 is still infinity
    value = last.rstrip().removesuffix("$")  # inside the math: "$... = i$" -> "$... = i + 1$"
    return head + equals + value + " + 1" + last[len(value) :]
