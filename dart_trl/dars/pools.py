"""Query pools declared in a recipe: Hub ids or local files mapped onto (id, query, gold, level, domain).

A pool declaration is a mapping::

    {source: DigitalLearningGmbH/MATH-lighteval, split: train, name: math, query: problem,
     solution: solution, level: level, domain: type, filters: {level: [4, 5]}}

``answer`` names a gold-answer column; ``solution`` a worked solution whose last ``\\boxed{}`` is the
gold; ``gold_format: gsm8k`` takes the text after the last ``####``. Rows without a usable gold are
skipped and counted, with the first few ids shown. Without an ``id`` column a query's id is
``<name>/<row index>``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dart_trl.config import RecipeError


@dataclass
class PoolSpec:
    """One query pool of a ``generate`` recipe: where its rows are and which columns mean what."""

    source: str = field(metadata={"help": "Hub dataset id or local file/directory."})
    split: str = field(default="train", metadata={"help": "Split to read."})
    config: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    name: str | None = field(
        default=None,
        metadata={"help": "Pool name used in ids and metadata (default: the source's last part)."},
    )
    id: str | None = field(
        default=None, metadata={"help": "Column holding a query id (default: <name>/<row index>)."}
    )
    query: str = field(default="query", metadata={"help": "Column holding the query text."})
    answer: str | None = field(default=None, metadata={"help": "Column holding the gold answer."})
    solution: str | None = field(
        default=None, metadata={"help": "Column holding a worked solution; the gold is its last \\boxed{}."}
    )
    gold_format: Literal["plain", "gsm8k"] = field(
        default="plain", metadata={"help": "plain, or gsm8k: the gold is the text after the last ####."}
    )
    level: str | None = field(
        default=None, metadata={"help": "Column holding a difficulty level (an int, or text like 'Level 5')."}
    )
    domain: str | None = field(default=None, metadata={"help": "Column holding a domain or subject."})
    values: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Constants for every row, e.g. {domain: GSM8K, level: 0}."}
    )
    filters: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Keep rows whose column (or level/domain) is one of the given values."},
    )
    limit: int | None = field(default=None, metadata={"help": "Keep at most this many rows (after filters)."})

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("'source' (a Hub id or a local file) is required")
        if bool(self.answer) == bool(self.solution):
            raise ValueError("give exactly one of 'answer' (gold column) or 'solution'")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")

    @property
    def pool_name(self) -> str:
        """The pool's name: ``name``, else the last part of its source without the suffix."""
        return self.name or Path(self.source).stem

    @property
    def required_columns(self) -> list[str]:
        """The columns this declaration reads: query, gold, and id/level/domain/filter columns."""
        columns = [self.query, self.answer or self.solution, self.id]
        columns += [getattr(self, k) for k in ("level", "domain") if k not in self.values]
        columns += [c for c in self.filters if c not in ("level", "domain")]
        return [c for c in columns if c]

    @property
    def is_local(self) -> bool:
        """Whether the source is a local path (else a Hub id)."""
        return self.source.startswith((".", "/", "~")) or Path(self.source).suffix in {
            ".jsonl", ".json", ".parquet", ".csv"
        }  # fmt: skip


@dataclass(frozen=True)
class Query:
    """One query of the pool, with its gold answer and metadata."""

    query_id: str
    query: str
    gold: str
    level: int | None
    domain: str | None
    pool: str


@dataclass
class PoolReport:
    """What loading a pool kept and skipped."""

    name: str
    rows: int
    kept: int
    skipped_no_gold: list[str]
    filtered: int

    def line(self) -> str:
        """A one-line summary, naming the first skipped ids."""
        text = f"pool {self.name}: {self.kept} queries kept of {self.rows} rows"
        if self.filtered:
            text += f", {self.filtered} filtered out"
        if self.skipped_no_gold:
            first = ", ".join(self.skipped_no_gold[:5])
            text += f", {len(self.skipped_no_gold)} skipped without a usable gold (first: {first})"
        return text


def check_pool_sources(pools: list[PoolSpec], where: str) -> None:
    """Every pool's source exists and has the columns its declaration reads (from its schema or first
    record, not its rows), before anything loads."""
    from dart_trl.data import check_columns, peek_columns

    for i, pool in enumerate(pools):
        if pool.is_local and not Path(pool.source).expanduser().exists():
            raise RecipeError(f"{where}: pools[{i}]: pool file not found: {pool.source}")
        found = peek_columns(pool.source, pool.split, pool.config)
        check_columns(found, pool.required_columns, f"{where}: pools[{i}] ({pool.source})")


def parse_level(value: Any) -> int | None:
    """An int level from an int or text such as 'Level 5'; None when there is none ('Level ?')."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    found = re.findall(r"-?\d+", str(value))
    return int(found[-1]) if found else None


def extract_gold(raw: Any, pool: PoolSpec) -> str | None:
    """The gold answer of a row's answer/solution cell, or None when it has none."""
    from dart_trl.grading import last_boxed

    if raw is None:
        return None
    text = str(raw).strip()
    if pool.solution:
        return last_boxed(text)
    if pool.gold_format == "gsm8k":
        if "####" not in text:
            return None
        text = text.rsplit("####", 1)[1].strip().replace(",", "")
    return text or None


def _matches(value: Any, allowed: Any) -> bool:
    allowed = allowed if isinstance(allowed, list) else [allowed]
    return any(value == a or str(value) == str(a) for a in allowed)


def load_pool(pool: PoolSpec, index: int) -> tuple[list[Query], PoolReport]:
    """Load one declared pool into queries; a missing column raises :class:`RecipeError`."""
    from dart_trl.data import load_table, require_columns

    name = pool.pool_name
    source = pool.source
    table = load_table(source, split=pool.split, config=pool.config)
    values = pool.values
    gold_column = pool.answer or pool.solution
    query_column = pool.query
    filters = pool.filters
    require_columns(table, pool.required_columns, f"pools[{index}] ({source})")

    queries: list[Query] = []
    skipped: list[str] = []
    filtered = 0
    seen: set[str] = set()
    for row_index, row in enumerate(table):
        query_id = str(row[pool.id]) if pool.id else f"{name}/{row_index}"
        level = parse_level(values["level"] if "level" in values else row.get(pool.level or "", None))
        domain = values.get("domain", row.get(pool.domain or "", None))
        domain = None if domain is None else str(domain)
        fields = {**row, "level": level, "domain": domain}
        if any(not _matches(fields.get(col), allowed) for col, allowed in filters.items()):
            filtered += 1
            continue
        query_text = row[query_column]
        gold = extract_gold(row[gold_column], pool)
        if not gold or not isinstance(query_text, str) or not query_text.strip():
            skipped.append(query_id)
            continue
        if query_id in seen:
            raise RecipeError(f"pools[{index}] ({source}): duplicate query id '{query_id}'")
        seen.add(query_id)
        queries.append(Query(query_id, query_text.strip(), gold, level, domain, name))
        if pool.limit and len(queries) >= pool.limit:
            break
    report = PoolReport(name, len(table), len(queries), skipped, filtered)
    return queries, report


def load_pools(pools: list[PoolSpec]) -> tuple[list[Query], list[PoolReport]]:
    """Load every declared pool; query ids must be unique across pools."""
    queries: list[Query] = []
    reports: list[PoolReport] = []
    owner: dict[str, str] = {}
    for i, pool in enumerate(pools):
        loaded, report = load_pool(pool, i)
        for q in loaded:
            if q.query_id in owner:
                raise RecipeError(
                    f"query id '{q.query_id}' appears in pools '{owner[q.query_id]}' and '{q.pool}'; "
                    "give the pools different names or id columns"
                )
            owner[q.query_id] = q.pool
        queries += loaded
        reports.append(report)
    if not queries:
        raise RecipeError("the declared pools hold no usable query (see the skipped/filtered counts)")
    return queries, reports


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``--shard i/N`` (0 <= i < N)."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise RecipeError(f"--shard expects i/N with 0 <= i < N, got {text!r}")
    return int(match[1]), int(match[2])


def shard_of(query_id: str, num_shards: int) -> int:
    """The shard a query belongs to: a stable hash of its id, so any row order gives the same split."""
    digest = hashlib.blake2b(query_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def select_shard(queries: list[Query], shard: tuple[int, int] | None) -> list[Query]:
    """The queries of shard ``(i, N)`` (all of them when ``shard`` is None)."""
    if shard is None:
        return queries
    index, count = shard
    return [q for q in queries if shard_of(q.query_id, count) == index]
