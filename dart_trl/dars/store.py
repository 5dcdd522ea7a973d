"""The output directory of ``dart-trl generate``: append-only raw-sample shards, a state file, resume.

Layout::

    <output_dir>/raw/part-<time>-<pid>.jsonl   raw samples, one JSON object per line (append-only)
    <output_dir>/state.json                    small state: last finished round, counts, strategy
    <output_dir>/queries.parquet               the (shard of the) pool being sampled
    <output_dir>/dataset/train.parquet         final dataset (written by ``finalize``)
    <output_dir>/query_info.parquet            per-query statistics (written by ``finalize``)

Every run appends to a shard file of its own, flushed and fsynced after each engine call, so a
``kill -9`` can at worst leave a torn last line in the file it was writing: readers skip it, and no
later run appends after it. Rounds only move forward (the next round is one past the largest round
on disk), and request seeds derive from the round, so a resumed run never repeats a sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dart_trl.dars.pools import Query
from dart_trl.dars.stats import QueryStats
from dart_trl.files import atomic_path, write_atomic

RAW_DIR = "raw"
STATE_FILE = "state.json"
QUERIES_FILE = "queries.parquet"
QUERY_INFO_FILE = "query_info.parquet"
RAW_FIELDS = ("query_id", "round", "sample", "response", "answer", "correct", "finish_reason", "num_tokens")


def response_digest(text: str) -> bytes:
    """Identity of a response for de-duplication: a hash of its whitespace-stripped text."""
    return hashlib.blake2b(text.strip().encode("utf-8", "replace"), digest_size=16).digest()


def derive_seed(base_seed: int, query_id: str, round_no: int, part: int) -> int:
    """A request's seed from (base seed, query id, round, part), so no two requests share one."""
    key = f"{base_seed}\x1f{query_id}\x1f{round_no}\x1f{part}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") & 0x7FFFFFFF


class SampleStore:
    """Reads and appends raw samples and the state of one output directory."""

    def __init__(self, output_dir: str | os.PathLike):
        self.root = Path(output_dir)
        self.raw_dir = self.root / RAW_DIR
        self._writer = None

    # -- state and queries -------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        """The state file's content ({} when there is none).

        An empty or corrupt state file (a crash while it was written) is rebuilt from the raw shards,
        which are the truth, and rewritten; one line on stderr says so.
        """
        path = self.root / STATE_FILE
        if not path.is_file():
            return {}
        try:
            state = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError):
            state = None
        if isinstance(state, dict):
            return state
        state = self.state_from_shards()
        print(
            f"note: {path} was empty or corrupt; rebuilt it from the raw shards "
            f"(round {state['round']}, {state['raw_samples']} raw samples)",
            file=sys.stderr,
        )
        self.write_state(state)
        return state

    def state_from_shards(self) -> dict[str, Any]:
        """The state the raw shards imply: the last round on disk and the raw sample count."""
        rounds = [int(r.get("round") or 0) for r in self.iter_records()]
        return {"round": max(rounds, default=0), "raw_samples": len(rounds), "rebuilt_from_shards": True}

    def write_state(self, state: dict[str, Any]) -> None:
        """Replace the state file atomically (:func:`~dart_trl.files.write_atomic`)."""
        write_atomic(self.root / STATE_FILE, json.dumps(state, indent=1, sort_keys=True))

    def write_queries(self, queries: list[Query]) -> None:
        """Save the pool being sampled (the final dataset and ``--merge`` read queries from it)."""
        import pandas as pd

        frame = pd.DataFrame([asdict(q) for q in queries]).astype({"level": "Int64"})
        with atomic_path(self.root / QUERIES_FILE) as tmp:
            frame.to_parquet(tmp, index=False)

    def read_queries(self) -> list[Query]:
        """The queries saved by :meth:`write_queries`."""
        import pandas as pd

        frame = pd.read_parquet(self.root / QUERIES_FILE)
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        return [
            Query(
                str(r["query_id"]),
                r["query"],
                r["gold"],
                None if r["level"] is None else int(r["level"]),
                r["domain"],
                r["pool"],
            )
            for r in rows
        ]

    # -- raw samples -------------------------------------------------------------------------
    def shard_files(self) -> list[Path]:
        """Raw shard files, in the order they were started."""
        return sorted(self.raw_dir.glob("*.jsonl")) if self.raw_dir.is_dir() else []

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every raw sample on disk; a torn line (from a killed writer) is skipped."""
        for path in self.shard_files():
            with path.open("rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # torn tail of a killed run: never appended to again
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and "query_id" in record:
                        yield record

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records to this run's shard file, then flush and fsync it."""
        if self._writer is None:
            self.raw_dir.mkdir(parents=True, exist_ok=True)
            name = f"part-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}.jsonl"
            self._writer = (self.raw_dir / name).open("ab")
        data = b"".join(
            (json.dumps({k: r.get(k) for k in RAW_FIELDS}, ensure_ascii=False) + "\n").encode()
            for r in records
        )
        try:
            self._writer.write(data)
            self._writer.flush()
            os.fsync(self._writer.fileno())
        except OSError as err:  # a full disk: name the file; what was fsynced before stays
            raise OSError(err.errno, err.strerror, self._writer.name) from None

    def close(self) -> None:
        """Close this run's shard file."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError:
                pass  # its last write failed and was reported; the file keeps what was fsynced

    def tally(
        self, query_ids: Iterable[str], known_pass_rates: dict[str, float] | None = None
    ) -> tuple[dict[str, QueryStats], dict[str, set[bytes]], int]:
        """Rebuild per-query statistics from disk.

        Returns the stats of each query in ``query_ids`` (samples of other queries are ignored), the
        digests of each query's distinct correct responses, and the largest round on disk (0 if none).
        """
        known = known_pass_rates or {}
        stats = {qid: QueryStats(known_pass_rate=known.get(qid)) for qid in query_ids}
        digests: dict[str, set[bytes]] = {qid: set() for qid in stats}
        last_round = 0
        for record in self.iter_records():
            last_round = max(last_round, int(record.get("round") or 0))
            s = stats.get(record["query_id"])
            if s is None:
                continue
            s.n_samples += 1
            if record.get("correct"):
                s.n_corrects += 1
                digest = response_digest(record.get("response") or "")
                if digest not in digests[record["query_id"]]:
                    digests[record["query_id"]].add(digest)
                    s.n_unique_corrects += 1
        return stats, digests, last_round

    def next_round(self, last_round_on_disk: int) -> int:
        """The round number a (resumed) run starts with: one past any round seen or recorded."""
        return max(last_round_on_disk, int(self.read_state().get("round", 0))) + 1
