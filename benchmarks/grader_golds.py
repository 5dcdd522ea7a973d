"""Self-consistency of ``dart_trl.grading`` on the gold answers of every benchmark in ../shared/data.

For each gold: ``\\boxed{gold}`` and "The answer is gold." must grade correct, and a perturbed gold
(+1 on its last integer that is not an exponent or the base of a power; a flipped boolean; the next
choice letter; ``gold + 1`` when there is no digit) must grade wrong. Prints counts per file, lists
failures and the items that cannot be graded (TheoremQA questions that need a picture).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator

from _shared import REPO_ROOT, read_rows

sys.path.insert(0, str(REPO_ROOT))

from dart_trl.grading import Grader, last_boxed  # noqa: E402

Gold = tuple[str, str, dict]  # (item id, gold string, grading options)


def _gsm8k() -> Iterator[Gold]:
    for i, r in enumerate(read_rows("gsm8k-test.jsonl")):
        yield f"gsm8k#{i}", r["answer"].split("####")[-1].strip().replace(",", ""), {}


def _field(name: str, field: str, tag: str) -> Iterator[Gold]:
    for i, r in enumerate(read_rows(name)):
        yield f"{tag}#{r.get('id', i)}", str(r[field]), {}


def _olympiad() -> Iterator[Gold]:
    for r in read_rows("olympiadbench-OE_TO_maths_en_COMP.json"):
        opts = {"abs_tol": float(r["error"])} if r.get("error") else {}
        yield f"olympiadbench#{r['id']}", ", ".join(r["final_answer"]), opts


def _theoremqa_gold(answer: object) -> str:
    if isinstance(answer, list):
        return "[" + ", ".join(str(a) for a in answer) + "]"
    return str(answer)


def _theoremqa(not_gradable: list[str]) -> Iterator[Gold]:
    for r in read_rows("theoremqa.json"):
        if r.get("Picture"):
            not_gradable.append(f"theoremqa#{r['id']} (needs picture {r['Picture']})")
            continue
        yield f"theoremqa#{r['id']}", _theoremqa_gold(r["Answer"]), {"answer_type": r["Answer_type"]}


def _minerva(not_gradable: list[str]) -> Iterator[Gold]:
    for i, r in enumerate(read_rows("minerva-math-test.jsonl")):
        gold = last_boxed(r["solution"])
        if gold is None:
            not_gradable.append(f"minerva#{i} (no boxed answer in solution)")
            continue
        yield f"minerva#{i}", gold, {}


def perturb(gold: str, opts: dict) -> str:
    """A different answer close to ``gold``."""
    kind = (opts.get("answer_type") or "").lower()
    if kind == "bool":
        return "False" if gold.strip().lower() == "true" else "True"
    m = re.fullmatch(r"\(?([a-eA-E])\)?", gold.strip())
    if m:
        return gold.replace(m.group(1), chr(ord(m.group(1)) + 1))
    # the last integer that is neither an exponent nor the base of a power (11^0 == 10^0)
    ints = list(re.finditer(r"(?<![\d^{])\d+(?![\d.]*\s*\^)", gold)) or list(re.finditer(r"\d+", gold))
    if ints:
        last = ints[-1]
        return gold[: last.start()] + str(int(last.group()) + 1) + gold[last.end() :]
    if "\\infty" in gold:
        return gold.replace("\\infty", "0")  # infinity + 1 is still infinity
    return f"{gold} + 1"


def is_worked_solution(gold: str) -> bool:
    """A gold that is a whole solution (several lines or over 200 characters), not a final answer:
    "The answer is <gold>" then reads as a final answer followed by its derivation."""
    return "\n" in gold.strip() or len(gold) > 200


def main() -> int:
    """Grade every gold three ways; print per-file counts and failures."""
    not_gradable: list[str] = []
    sources = {
        "gsm8k-test.jsonl": _gsm8k(),
        "college-math-test.jsonl": _field("college-math-test.jsonl", "answer", "college"),
        "deepmind-mathematics.json": _field("deepmind-mathematics.json", "answer", "deepmind"),
        "olympiadbench-OE_TO_maths_en_COMP.json": _olympiad(),
        "theoremqa.json": _theoremqa(not_gradable),
        "minerva-math-test.jsonl": _minerva(not_gradable),
        "aime24-test.jsonl": _field("aime24-test.jsonl", "answer", "aime24"),
        "amc23-test.jsonl": _field("amc23-test.jsonl", "answer", "amc23"),
    }
    forms = {
        "boxed": (lambda g: f"So the final result is \\boxed{{{g}}}.", True),
        "answer_is": (lambda g: f"Putting it together. The answer is {g}", True),
        "perturbed": (None, False),
    }
    total_fail = 0
    start = time.perf_counter()
    with Grader(num_workers=2, timeout=3.0) as grader:
        for name, golds in sources.items():
            golds = list(golds)
            items, meta = [], []
            for item_id, gold, opts in golds:
                for form, (make, expected) in forms.items():
                    text = f"\\boxed{{{perturb(gold, opts)}}}" if make is None else make(gold)
                    items.append({"completion": text, "gold": gold, **opts})
                    meta.append((item_id, form, expected, gold))
            verdicts = grader.grade_batch(items)
            fails = [(m, v) for m, v in zip(meta, verdicts, strict=True) if v.correct != m[2]]
            per_form = {f: sum(1 for m, _ in fails if m[1] == f) for f in forms}
            total_fail += len(fails)
            worked = sum(1 for m, _ in fails if m[1] == "answer_is" and is_worked_solution(m[3]))
            print(f"{name}: {len(golds)} golds, failures by form {per_form}", end="")
            print(f" ({worked} of the answer_is failures are worked solutions)" if worked else "")
            for (item_id, form, _, gold), v in fails[:40]:
                print(f"  FAIL {item_id} [{form}] gold={gold!r} answer={v.answer!r} reason={v.reason}")
            if len(fails) > 40:
                print(f"  ... {len(fails) - 40} more")
    print(f"not gradable ({len(not_gradable)}):", json.dumps(not_gradable))
    print(f"total failures: {total_fail} ({time.perf_counter() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
