"""Conformance of ``dart_trl.grading`` on ../shared/data/grader-conformance.jsonl.

Each row is a (pred, gold, expected) case from math-verify's public tests. Both ``pred`` and
``gold`` can be full model-style texts or bare answers, so both go through ``extract_answer``
(the gold falls back to its raw text when nothing is extracted), then ``Grader`` compares them.
Prints the accuracy and every miss, and whether the target is met: every row right except the
misses pinned in ``grader_conformance_misses.json`` (with the reason and the side we take).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

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
    pinned = json.loads((Path(__file__).parent / "grader_conformance_misses.json").read_text())[
        "known_misses"
    ]
    target = len(rows) - len(pinned)
    print(f"conformance: {hits}/{len(rows)} = {100 * hits / len(rows):.1f}% ({elapsed:.1f}s)")
    missed = sorted(
        str(i) for i, (v, r) in enumerate(zip(verdicts, rows, strict=True)) if v.correct != r["expected"]
    )
    unpinned = [i for i in missed if i not in pinned]
    verdict = "met" if not unpinned and hits >= target else "MISSED"
    print(f"target {target}/{len(rows)} (every row but the {len(pinned)} pinned misses): {verdict}")
    if unpinned:
        print("misses not pinned (rows):", ", ".join(unpinned))
    print("misses by test:", dict(Counter(r["test"] for r, _, _ in misses)))
    for r, v, gold in misses:
        print(
            f"  MISS [{r['test']}] expected={r['expected']} got={v.correct} ({v.reason}) "
            f"answer={v.answer!r} gold={gold!r}"
        )
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    raise SystemExit(main())
