"""Our grader side by side with math-verify on every benchmark file in ../shared/data.

For each item, two completions: the published answer boxed (it should grade correct) and a perturbed
answer (it should grade wrong; the perturbations of ``tests/benchmark_files.py``). Both are graded by
``dart_trl.grading.Grader`` (the item's options: TheoremQA's answer type, OlympiadBench's tolerance,
DeepMind's list kinds) and by math-verify (``verify(parse(gold), parse(completion))``, its defaults,
in worker processes with its own timeouts). Prints, per benchmark, how often the two agree and how often
each is right, then every disagreement with the side that is right (the one that matches the expected
verdict), which is the side this project takes unless the README's grading notes say otherwise.

    python benchmarks/grader_vs_math_verify.py [--show 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from _shared import DATA_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from benchmark_files import FILES, perturb  # noqa: E402

from dart_trl.eval.benchmarks import BENCHMARKS, load_benchmark  # noqa: E402
from dart_trl.grading import Grader  # noqa: E402


def math_verify_grade(pair: tuple[str, str]) -> bool | None:
    """math-verify's verdict on (gold, completion), with its default settings; None when it raised."""
    from math_verify import parse, verify

    gold, completion = pair
    try:
        return bool(verify(parse(f"\\boxed{{{gold}}}"), parse(completion)))
    except Exception:  # math-verify raises on some inputs; count it as no verdict
        return None


def main() -> int:
    """Grade every published and perturbed answer both ways and print agreement and disagreements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=15, help="disagreements listed per benchmark")
    args = parser.parse_args()
    start = time.perf_counter()
    totals = {"items": 0, "agree": 0, "ours": 0, "theirs": 0}
    with Grader(num_workers=2, timeout=5.0) as grader, ProcessPoolExecutor(2) as pool:
        for bench, (name, _, _) in FILES.items():
            loaded = load_benchmark(BENCHMARKS[bench], [str(DATA_DIR / name)])
            cases = []
            for item in loaded.items:
                cases.append((item, f"So the final answer is \\boxed{{{item.gold}}}.", True, "published"))
                bad = perturb(item.gold, item.options)
                cases.append((item, f"So the final answer is \\boxed{{{bad}}}.", False, "perturbed"))
            ours = [
                v.correct
                for v in grader.grade_batch(
                    {"completion": c, "gold": it.gold, **it.options} for it, c, _, _ in cases
                )
            ]
            theirs = list(pool.map(math_verify_grade, [(it.gold, c) for it, c, _, _ in cases], chunksize=64))
            rows = list(zip(cases, ours, theirs, strict=True))
            agree = sum(o == t for _, o, t in rows)
            ours_right = sum(o == case[2] for case, o, _ in rows)
            theirs_right = sum(t == case[2] for case, _, t in rows)
            for key, value in (
                ("items", len(rows)),
                ("agree", agree),
                ("ours", ours_right),
                ("theirs", theirs_right),
            ):
                totals[key] += value
            print(
                f"{bench}: {len(rows)} answers, agree {agree} ({100 * agree / len(rows):.2f}%), "
                f"ours right {ours_right}, math-verify right {theirs_right}"
            )
            shown = 0
            for (item, _, expected, form), o, t in rows:
                if o != t and shown < args.show:
                    right = "ours" if o == expected else "math-verify" if t == expected else "neither"
                    gold = item.gold if len(item.gold) <= 80 else item.gold[:77] + "..."
                    print(
                        f"  {bench}#{item.index} [{form}] gold={gold!r} ours={o} math-verify={t} right: {right}"
                    )
                    shown += 1
    n = totals["items"]
    print(
        f"all: {n} answers, agree {totals['agree']} ({100 * totals['agree'] / n:.2f}%), ours right {totals['ours']}, "
        f"math-verify right {totals['theirs']} ({time.perf_counter() - start:.0f}s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
