"""Conformance of ``dart_trl.grading`` on ../shared/data/grader-conformance.jsonl.

Each row is a (pred, gold, expected) case from math-verify's public tests. Both ``pred`` and
``gold`` can be full model-style texts or bare answers, so both go through ``extract_answer``
(the gold falls back to its raw text when nothing is extracted), then ``Grader`` compares them.
Prints the accuracy (target >= 97%) and lists every miss.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from _shared import REPO_ROOT, read_rows

sys.path.insert(0, str(REPO_ROOT))

from dart_trl.grading import Grader, extract_answer  # noqa: E402


def main() -> int:
    """Grade every conformance row and print accuracy and misses."""
    rows = read_rows("grader-conformance.jsonl")
    items = [{"completion": r["pred"], "gold": extract_answer(r["gold"]) or r["gold"]} for r in rows]
    start = time.perf_counter()
    with Grader(num_workers=2) as grader:
        verdicts = grader.grade_batch(items)
    elapsed = time.perf_counter() - start
    misses = [
        (r, v, it["gold"])
        for r, v, it in zip(rows, verdicts, items, strict=True)
        if v.correct != r["expected"]
    ]
    hits = len(rows) - len(misses)
    print(f"conformance: {hits}/{len(rows)} = {100 * hits / len(rows):.1f}% ({elapsed:.1f}s)")
    print("misses by test:", dict(Counter(r["test"] for r, _, _ in misses)))
    for r, v, gold in misses:
        print(
            f"  MISS [{r['test']}] expected={r['expected']} got={v.correct} ({v.reason}) "
            f"answer={v.answer!r} gold={gold!r}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
