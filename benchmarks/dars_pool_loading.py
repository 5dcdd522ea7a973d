"""Time to read a DART pool dataset as its distinct queries and to join the published pass rates.

Builds a synthetic table shaped like ``hkust-nlp/dart-math-pool-math`` (``--queries`` queries with
``--rows-per-query`` responses each, ``query_metadata`` stored as a Python dict literal string; the real
one has 7473 queries and ~216 rows per query) and its query-info table (one row per query, plus 27
without pool rows), as parquet files in a temporary directory, then times through the project's code:

- ``load_pools`` with ``distinct: true`` (``id: query_id``, ``level: query_metadata.level``);
- ``join_pool_info`` by id, and by normalised query text through the pool table (``join: query``).

    python benchmarks/dars_pool_loading.py [--queries 7473] [--rows-per-query 216]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dart_trl.dars.difficulty import PoolInfoSpec, join_pool_info
from dart_trl.dars.pools import PoolSpec, Query, load_pools


def write_tables(root: Path, queries: int, rows_per_query: int) -> tuple[Path, Path]:
    """The synthetic pool and query-info parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [f"{i:012x}" for i in range(queries)]
    texts = [
        f"Problem {i}: compute the value of  $x_{{{i}}}$ given the conditions above." for i in range(queries)
    ]
    pool_rows = queries * rows_per_query
    order = [i % queries for i in range(pool_rows)]
    pool = pa.table(
        {
            "query_id": [ids[i] for i in order],
            "query": [texts[i] for i in order],
            "gt_ans": [str(i) for i in order],
            "response": [f"Step by step for problem {i}. The answer is $\\boxed{{{i}}}$." for i in order],
            "ans_correct": [True] * pool_rows,
            "domain": ["Algebra"] * pool_rows,
            "query_metadata": [repr({"level": i % 5 + 1}) for i in order],
        }
    )
    info_ids = ids + [f"extra{i:07d}" for i in range(27)]
    info = pa.table(
        {
            "query_id": info_ids,
            "pass_rate": [(i % 100) / 100 for i in range(len(info_ids))],
            "tot_n_samples": [64] * len(info_ids),
            "tot_n_corrects": [(i % 100) * 64 // 100 for i in range(len(info_ids))],
        }
    )
    pool_path, info_path = root / "pool.parquet", root / "info.parquet"
    pq.write_table(pool, pool_path)
    pq.write_table(info, info_path)
    return pool_path, info_path


def timed(label: str, func):
    """Run ``func`` and print how long it took."""
    start = time.perf_counter()
    result = func()
    print(f"{label}: {time.perf_counter() - start:.1f} s")
    return result


def main() -> None:
    """Build the tables, time the loading and the two joins, and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=7473)
    parser.add_argument("--rows-per-query", type=int, default=216)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pool_path, info_path = write_tables(Path(tmp), args.queries, args.rows_per_query)
        print(
            f"pool: {args.queries * args.rows_per_query:,} rows, {pool_path.stat().st_size / 2**20:.0f} MiB parquet"
        )
        spec = PoolSpec(
            source=str(pool_path), name="math", distinct=True, id="query_id", query="query",
            answer="gt_ans", level="query_metadata.level", domain="domain",
        )  # fmt: skip
        queries, reports = timed("load_pools (distinct, first load)", lambda: load_pools([spec]))
        print(reports[0].line())
        timed("load_pools (distinct, cached arrow)", lambda: load_pools([spec]))
        by_id = timed(
            "join_pool_info by id", lambda: join_pool_info(queries, [PoolInfoSpec(str(info_path))], "bench")
        )
        print(by_id.coverage.lines()[-1])
        renamed = [
            Query(f"math/{i}", q.query, q.gold, q.level, q.domain, q.pool) for i, q in enumerate(queries)
        ]
        by_text = PoolInfoSpec(str(info_path), join="query", queries=str(pool_path))
        text = timed("join_pool_info by query text", lambda: join_pool_info(renamed, [by_text], "bench"))
        print(text.coverage.lines()[-1])


if __name__ == "__main__":
    main()
