"""Speed and memory of ``dart-trl decontaminate`` on a DART-sized dataset (590k rows) against every
registered benchmark that is available locally.

No DART dataset is reachable offline, so the rows are synthetic: each is a benchmark question of 8 or
more words from ``../shared/data`` with its words shuffled (the length and vocabulary of real math
questions, almost never an 8-word run of one), plus ``--planted`` verbatim copies of benchmark questions. With
``--responses`` each row also gets a ~250-word response made the same way, checked too. The
benchmarks are the shared files (GSM8K, CollegeMath, DeepMind Mathematics, OlympiadBench, TheoremQA,
Minerva, AIME24, AMC23) and the MATH/MATH-500 schema files in ``../shared/data/hub`` (a few made-up
rows: the real MATH test is a Hub dataset). The job runs twice, in this process: cold (benchmark files
read and normalised) and warm (their questions from the cache). Printed: seconds, rows/s, peak memory
of this process and of the worker processes.

    python benchmarks/decontaminate.py [--rows 590000] [--num-proc 2] [--responses] [--planted 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

import yaml
from _shared import DATA_DIR, read_rows

from dart_trl import cli
from dart_trl.decontam.job import REPORT_NAME

BENCHMARK_FILES = {
    "gsm8k": ("gsm8k-test.jsonl", "question"),
    "college_math": ("college-math-test.jsonl", "question"),
    "deepmind_math": ("deepmind-mathematics.json", "question"),
    "olympiadbench": ("olympiadbench-OE_TO_maths_en_COMP.json", "question"),
    "theoremqa": ("theoremqa.json", "Question"),
    "minerva_math": ("minerva-math-test.jsonl", "problem"),
    "aime24": ("aime24-test.jsonl", "problem"),
    "amc23": ("amc23-test.jsonl", "problem"),
    "math": ("hub/DigitalLearningGmbH--MATH-lighteval--train.jsonl", "problem"),
    "math500": ("hub/HuggingFaceH4--MATH-500--test.jsonl", "problem"),
}


def write_rows(path: Path, rows: int, planted: int, responses: bool, seed: int = 0) -> None:
    """The synthetic parquet file: shuffled-word questions (and responses), ``planted`` copies spread out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    questions = [r[field] for name, (file, field) in BENCHMARK_FILES.items() for r in read_rows(file)]
    words = [
        q.split() for q in questions if len(q.split()) >= 8
    ]  # a shuffled 2-word question is often itself
    query = []
    for _ in range(rows):
        chosen = list(rng.choice(words))
        rng.shuffle(chosen)
        query.append(" ".join(chosen))
    for i in range(planted):
        query[(i * 7919) % rows] = questions[(i * 7919) % len(questions)]  # from every benchmark
    table = {"query_id": [f"{i:08d}" for i in range(rows)], "query": query}
    if responses:
        table["response"] = [" ".join(rng.choices(rng.choice(words), k=250)) for _ in range(rows)]
    pq.write_table(pa.table(table), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=590_000)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--planted", type=int, default=1000)
    parser.add_argument("--responses", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "dart.parquet"
        start = time.perf_counter()
        write_rows(data, args.rows, args.planted, args.responses)
        print(f"wrote {args.rows} synthetic rows in {time.perf_counter() - start:.1f} s")
        benchmarks = [{"name": n, "data_files": str(DATA_DIR / f)} for n, (f, _) in BENCHMARK_FILES.items()]
        recipe = root / "recipe.yaml"
        recipe.write_text(
            yaml.safe_dump(
                {
                    "dataset_name": str(data),
                    "query_column": "query",
                    "response_column": "response" if args.responses else None,
                    "id_column": "query_id",
                    "benchmarks": benchmarks,
                    "num_proc": args.num_proc,
                    "cache_dir": str(root / "cache"),
                    "report_to": "none",
                }
            )
        )
        for run in ("cold", "warm"):
            out = root / run
            start = time.perf_counter()
            assert cli.main(["decontaminate", str(recipe), "--output_dir", str(out)]) == 0
            seconds = time.perf_counter() - start
            report = json.loads((out / REPORT_NAME).read_text())
            print(
                f"{run}: {seconds:.1f} s for {report['rows_checked']} rows ({report['rows_checked'] / seconds:,.0f} "
                f"rows/s, whole job); {report['rows_flagged']} flagged ({args.planted} planted); benchmark questions "
                f"{sum(report['benchmark_questions'].values())}; from cache: {len(report['benchmarks_from_cache'])}"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: this process {own:.0f} MiB, largest worker process {workers:.0f} MiB")


if __name__ == "__main__":
    main()
