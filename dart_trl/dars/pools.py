"""Query pools declared in a recipe: Hub ids or local files mapped onto (id, query, gold, level, domain).

A pool declaration is a mapping::

    {source: DigitalLearningGmbH/MATH-lighteval, split: train, name: math, query: problem,
     solution: solution, level: level, domain: type, filters: {level: [4, 5]}}

``answer`` names a gold-answer column; ``solution`` a worked solution whose last ``\\boxed{}`` is the
gold; ``gold_format: gsm8k`` takes the text after the last ``####``. Rows without a usable gold are
skipped and counted, with the first few ids shown. Without an ``id`` column a query's id is
``<name>/<row index>``.

A column may be a dotted path into a nested column (``level: query_metadata.level``); a nested column
stored as text holding a dict (a Python or JSON literal, as some DART datasets have it) is parsed with
``json``/``ast.literal_eval``, never evaluated. ``distinct: true`` reads a dataset with many rows per
query, such as the DART pools (``hkust-nlp/dart-math-pool-math``: all correct responses, ~216 rows per
query), as its distinct queries: the first row of each id (or each query text without an id column).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dart_trl.config import RecipeError
from dart_trl.dars.fields import MISSING, FieldPath


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
    distinct: bool = field(
        default=False,
        metadata={
            "help": "The dataset has several rows per query (responses, e.g. hkust-nlp/dart-math-pool-math): "
            "read the first row of each id (or query text) as one query. Otherwise a repeated id is an error."
        },
    )
    query: str = field(
        default="query",
        metadata={
            "help": "Column holding the query text. Any column key may be a dotted path into a nested "
            "column (query_metadata.level), also when the nested column is stored as a dict literal string."
        },
    )
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
    distinct: int | None = None  # distinct queries among the rows, for a pool read with distinct: true

    def line(self) -> str:
        """A one-line summary, naming the first skipped ids."""
        text = f"pool {self.name}: {self.kept} queries kept of {self.rows} rows"
        if self.distinct is not None:
            text += f" ({self.distinct} distinct queries)"
        if self.filtered:
            text += f", {self.filtered} filtered out"
        if self.skipped_no_gold:
            first = ", ".join(self.skipped_no_gold[:5])
            text += f", {len(self.skipped_no_gold)} skipped without a usable gold (first: {first})"
        return text


def check_pool_files(pools: list[PoolSpec], where: str) -> None:
    """Every local pool file exists (cheap; before anything loads)."""
    for i, pool in enumerate(pools):
        if pool.is_local and not Path(pool.source).expanduser().exists():
            raise RecipeError(f"{where}: pools[{i}]: pool file not found: {pool.source}")


def check_pool_columns(pools: list[PoolSpec], where: str) -> None:
    """Every column a pool names (for a dotted path, its top column) is in the table, read from the
    schema or first record where the format allows (nested keys are checked when the pool loads)."""
    from dart_trl.data import check_columns, peek_columns

    for i, pool in enumerate(pools):
        found = peek_columns(pool.source, pool.split, pool.config)
        columns = list(dict.fromkeys(p.column for p in _column_paths(pool, found).values()))
        check_columns(found, columns, f"{where}: pools[{i}] ({pool.source})")


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


def _column_paths(pool: PoolSpec, columns: list[str]) -> dict[str, FieldPath]:
    """The field path of every column the pool reads, by its recipe key: query, answer or solution, id,
    level, domain, and ``filters.<column>``."""
    names = {"query": pool.query, "answer": pool.answer, "solution": pool.solution, "id": pool.id}
    names.update({k: getattr(pool, k) for k in ("level", "domain") if k not in pool.values})
    names.update({f"filters.{c}": c for c in pool.filters if c not in ("level", "domain")})
    return {key: FieldPath.of(name, columns) for key, name in names.items() if name}


def column_values(table: Any, column: str) -> list[Any]:
    """All values of one column of a ``datasets.Dataset``, read through Arrow (fast for millions of rows)."""
    return table.with_format("arrow")[column].to_pylist()


def first_rows(table: Any, path: FieldPath) -> list[int]:
    """Indices of the first row of each distinct value at ``path`` in ``table``."""
    first: dict[str, int] = {}
    for i, value in enumerate(column_values(table, path.column)):
        key = path.read({path.column: value}) if path.keys else value
        if key is not MISSING and key is not None:
            first.setdefault(str(key).strip(), i)
    return sorted(first.values())


def load_pool(pool: PoolSpec, index: int, recipe: str | None = None) -> tuple[list[Query], PoolReport]:
    """Load one declared pool into queries; a missing column or nested key raises :class:`RecipeError`
    naming the recipe file (when given) and the pool."""
    from dart_trl.data import load_table, require_columns

    name = pool.pool_name
    where = f"{recipe}: pools[{index}] ({pool.source})" if recipe else f"pools[{index}] ({pool.source})"
    table = load_table(pool.source, split=pool.split, config=pool.config)
    paths = _column_paths(pool, table.column_names)
    columns = list(dict.fromkeys(p.column for p in paths.values()))
    require_columns(table, columns, where)
    table = table.select_columns(columns)  # the columns read, so long unused ones (responses) stay on disk
    head = table.select(range(min(len(table), 100)))
    head_rows = [head[i] for i in range(len(head))]
    for key, path in paths.items():
        reason = path.missing_reason(head_rows)
        if reason:
            raise RecipeError(f"{where}: key '{key}': {reason}")
    rows_total = len(table)
    row_indices: list[int] | range = range(rows_total)
    if pool.distinct:
        key_path = paths.get("id") or paths["query"]
        row_indices = first_rows(table, key_path)
        table = table.select(row_indices)

    def read(key: str, row: dict[str, Any]) -> Any:
        path = paths.get(key)
        value = MISSING if path is None else path.read(row)
        return None if value is MISSING else value

    values = pool.values
    queries: list[Query] = []
    skipped: list[str] = []
    filtered = 0
    seen: set[str] = set()
    for row_index, row in zip(row_indices, table, strict=True):
        query_id = str(read("id", row)) if pool.id else f"{name}/{row_index}"
        level = parse_level(values["level"] if "level" in values else read("level", row))
        domain = values["domain"] if "domain" in values else read("domain", row)
        domain = None if domain is None else str(domain)
        fields = {"level": level, "domain": domain}
        if any(
            not _matches(fields[col] if col in fields else read(f"filters.{col}", row), allowed)
            for col, allowed in pool.filters.items()
        ):
            filtered += 1
            continue
        query_text = read("query", row)
        gold = extract_gold(read("answer" if pool.answer else "solution", row), pool)
        if not gold or not isinstance(query_text, str) or not query_text.strip():
            skipped.append(query_id)
            continue
        if query_id in seen:
            raise RecipeError(
                f"{where}: duplicate query id '{query_id}'; a dataset with several rows per query "
                "(responses) needs 'distinct: true'"
            )
        seen.add(query_id)
        queries.append(Query(query_id, query_text.strip(), gold, level, domain, name))
        if pool.limit and len(queries) >= pool.limit:
            break
    distinct = len(table) if pool.distinct else None
    return queries, PoolReport(name, rows_total, len(queries), skipped, filtered, distinct)


def load_pools(pools: list[PoolSpec], recipe: str | None = None) -> tuple[list[Query], list[PoolReport]]:
    """Load every declared pool; query ids must be unique across pools. Errors name ``recipe`` (a file)."""
    prefix = f"{recipe}: " if recipe else ""
    queries: list[Query] = []
    reports: list[PoolReport] = []
    owner: dict[str, str] = {}
    for i, pool in enumerate(pools):
        loaded, report = load_pool(pool, i, recipe)
        for q in loaded:
            if q.query_id in owner:
                raise RecipeError(
                    f"{prefix}query id '{q.query_id}' appears in pools '{owner[q.query_id]}' and '{q.pool}'; "
                    "give the pools different names or id columns"
                )
            owner[q.query_id] = q.pool
        queries += loaded
        reports.append(report)
    if not queries:
        raise RecipeError(
            f"{prefix}the declared pools hold no usable query (see the skipped/filtered counts)"
        )
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
