"""The end of a run: the final dataset, ``query_info.parquet`` and the dataset card.

Targets are exact: a query contributes exactly ``min(target, distinct correct responses found)``
responses (all distinct correct ones for VRT), taken in the order they were sampled; duplicate
responses of a query are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dart_trl.dars.config import DarsArguments
from dart_trl.dars.difficulty import KnownDifficulty
from dart_trl.dars.pools import Query
from dart_trl.dars.stats import MAX_ROUNDS, QueryStats
from dart_trl.dars.store import QUERY_INFO_FILE, SampleStore, response_digest
from dart_trl.data import GENERATED_DATASET_DIR
from dart_trl.files import atomic_path

DATASET_FILE = "train.parquet"
DATASET_COLUMNS = [
    "query",
    "response",
    "query_id",
    "level",
    "domain",
    "pool",
    "gold",
    "answer",
    "round",
    "num_tokens",
]


@dataclass
class FinalOutput:
    """Paths and counts of what :func:`finalize` wrote."""

    dataset_path: Path
    query_info_path: Path
    num_responses: int
    query_info: object  # pandas.DataFrame
    rows: list[dict]


def finalize(
    store: SampleStore,
    queries: list[Query],
    args: DarsArguments,
    known: KnownDifficulty | None = None,
) -> FinalOutput:
    """Write ``dataset/train.parquet`` and ``query_info.parquet`` from the raw samples on disk."""
    import datasets
    import pandas as pd

    known = known or KnownDifficulty()
    by_id = {q.query_id: q for q in queries}
    stats, _, _ = store.tally(by_id, known.pass_rates)
    targets = args.rule.targets(stats, args)
    quota = {
        qid: s.n_unique_corrects if targets[qid] is None else min(targets[qid], s.n_unique_corrects)
        for qid, s in stats.items()
    }
    kept: dict[str, set[bytes]] = {qid: set() for qid in stats}
    rows = []
    for record in store.iter_records():
        qid = record["query_id"]
        if qid not in kept or not record.get("correct") or len(kept[qid]) >= quota[qid]:
            continue
        digest = response_digest(record.get("response") or "")
        if digest in kept[qid]:
            continue
        kept[qid].add(digest)
        q = by_id[qid]
        rows.append(
            {
                "query": q.query,
                "response": record["response"],
                "query_id": qid,
                "level": q.level,
                "domain": q.domain,
                "pool": q.pool,
                "gold": q.gold,
                "answer": record.get("answer"),
                "round": record.get("round"),
                "num_tokens": record.get("num_tokens"),
            }
        )
    frame = pd.DataFrame(rows, columns=DATASET_COLUMNS).astype(
        {"level": "Int64", "round": "Int64", "num_tokens": "Int64"}
    )
    dataset_path = store.root / GENERATED_DATASET_DIR / DATASET_FILE
    with atomic_path(dataset_path) as tmp:
        datasets.Dataset.from_pandas(frame, preserve_index=False).to_parquet(str(tmp))

    info = query_info_frame(queries, stats, targets, kept, args, known)
    info_path = store.root / QUERY_INFO_FILE
    with atomic_path(info_path) as tmp:
        info.to_parquet(tmp, index=False)
    return FinalOutput(dataset_path, info_path, len(rows), info, rows)


def query_info_frame(
    queries: list[Query],
    stats: dict[str, QueryStats],
    targets: dict[str, int | None],
    kept: dict[str, set[bytes]],
    args: DarsArguments,
    known: KnownDifficulty | None = None,
):
    """Per-query statistics: query_id, level, domain, n_samples, n_corrects, pass_rate, target, stop_reason,
    and the pass rate known before sampling with the pool_info table it came from (null when none).
    The pool_info join's coverage (matched, pool-only, info-only) is in the frame's ``attrs``, which
    pandas stores in the parquet file (``pd.read_parquet(path).attrs["pool_info_coverage"]``)."""
    import pandas as pd

    known = known or KnownDifficulty()
    rows = []
    for q in queries:
        s = stats[q.query_id]
        rows.append(
            {
                "query_id": q.query_id,
                "level": q.level,
                "domain": q.domain,
                "pool": q.pool,
                "n_samples": s.n_samples,
                "n_corrects": s.n_corrects,
                "n_unique_corrects": s.n_unique_corrects,
                "n_responses": len(kept[q.query_id]),
                "pass_rate": s.n_corrects / s.n_samples if s.n_samples else None,
                "target": targets[q.query_id],
                "stop_reason": args.rule.stop_reason(s, targets[q.query_id], args) or MAX_ROUNDS,
                "known_pass_rate": known.pass_rates.get(q.query_id),
                "pool_info": known.sources.get(q.query_id),
            }
        )
    frame = pd.DataFrame(rows).astype(
        {"level": "Int64", "target": "Int64", "pass_rate": "float64", "known_pass_rate": "float64"}
    )
    if known.coverage is not None:
        frame.attrs["pool_info_coverage"] = known.coverage.as_dict()
    return frame


def dataset_card(args: DarsArguments, model: str, info, num_responses: int) -> str:
    """A short dataset card (README.md) describing how the dataset was synthesised."""
    target = args.rule.describe(args)
    return (
        "---\nlicense: other\ntags:\n- mathematics\n- synthetic\n- dart-math\n---\n\n"
        f"# DARS-{args.strategy} data synthesised with dart-trl\n\n"
        f"Responses sampled from `{model}` and kept when their final answer matches the gold answer "
        f"(Difficulty-Aware Rejection Sampling, strategy `{args.strategy}`: {target}; at most "
        f"{args.max_trials} raw samples per query).\n\n"
        f"- queries: {len(info)}\n- responses: {num_responses}\n"
        f"- raw samples: {int(info['n_samples'].sum())}\n\n"
        "Columns: `query`, `response`, `query_id`, `level`, `domain`, `pool`, `gold`, `answer`, `round`, "
        "`num_tokens`. Per-query statistics are in `query_info.parquet` next to the dataset.\n"
    )


def push_dataset(dataset_path: Path, card: str, repo_id: str, private: bool) -> None:
    """Push the final dataset and its card to the Hugging Face Hub."""
    import datasets
    from huggingface_hub import DatasetCard

    datasets.Dataset.from_parquet(str(dataset_path)).push_to_hub(repo_id, private=private)
    DatasetCard(card).push_to_hub(repo_id)
