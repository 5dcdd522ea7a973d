"""Known query difficulty: pass rates from pool-info tables, joined to the pools, and the join's coverage.

A pool-info table has one row per query with an id and a pass rate, in the format of
``hkust-nlp/dart-math-pool-math-query-info`` (``query_id``, ``pass_rate``, ``tot_n_samples``,
``tot_n_corrects``, ...: the pass rates of DeepSeekMath-7B-RL the paper's Prop2Diff used; rows with
no samples are ignored, rates are clipped to [0, 1]). A table joins to the pools

- by id (``join: id``): the pools' query ids are the table's ids, as when the pools are read from the
  DART pool datasets (``id: query_id``);
- by query text (``join: query``): a pool query matches a row with the same normalised text (Unicode
  NFKC, whitespace runs collapsed). The text is a column of the table or, for tables without query
  text (the DART query-info tables), of ``queries``: a table with the same ids and their texts, such
  as the DART pool dataset (the first row of each id is read).

Several tables may be given (MATH and GSM8K); a query takes the pass rate of the first one that matches
it. The coverage (queries matched, pool-only queries, info-only rows) is printed, logged to W&B and
kept with ``query_info.parquet``; a table that matches no pool query is an error before any sampling.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from dart_trl.config import RecipeError
from dart_trl.dars.fields import FieldPath
from dart_trl.dars.pools import Query, column_values, first_rows

TOTALS = ("tot_n_samples", "tot_n_corrects")
SHOWN_IDS = 5  # unmatched ids named in a warning
KEPT_IDS = 20  # unmatched ids kept in the coverage record


@dataclass
class PoolInfoSpec:
    """One pool_info table: per-query pass rates, joined to the pools by query id or by query text."""

    source: str = field(
        metadata={
            "help": "Hub dataset id or local file with one row per query, e.g. "
            "hkust-nlp/dart-math-pool-math-query-info."
        }
    )
    split: str = field(default="train", metadata={"help": "Split to read."})
    config: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    id: str = field(default="query_id", metadata={"help": "Column holding the query id."})
    pass_rate: str = field(
        default="pass_rate",
        metadata={"help": "Column holding the pass rate; when absent, tot_n_corrects / tot_n_samples."},
    )
    join: Literal["id", "query"] = field(
        default="id",
        metadata={
            "help": "id: match the pools' query ids; query: match the normalised query text (for pools "
            "whose ids differ, e.g. MATH read from DigitalLearningGmbH/MATH-lighteval)."
        },
    )
    query: str = field(
        default="query",
        metadata={"help": "join: query: column holding the query text (in this table, or in 'queries')."},
    )
    queries: str | None = field(
        default=None,
        metadata={
            "help": "join: query, for a table without query text: a table with the same ids and their "
            "query text (Hub id or file), e.g. hkust-nlp/dart-math-pool-math."
        },
    )
    queries_split: str = field(default="train", metadata={"help": "Split of 'queries'."})

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("'source' (a Hub id or a local file) is required")
        if self.queries and self.join != "query":
            raise ValueError("'queries' gives query texts for 'join: query'; with 'join: id' leave it out")


def info_specs(value: str | list[str | PoolInfoSpec] | None) -> list[PoolInfoSpec]:
    """The recipe's ``pool_info`` as a list of entries (a bare source is an entry with the defaults)."""
    items = [] if value is None else [value] if isinstance(value, str) else value
    return [PoolInfoSpec(source=item) if isinstance(item, str) else item for item in items]


def normalize_query(text: str) -> str:
    """A query text for matching: Unicode NFKC, whitespace runs as one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def check_info_columns(specs: list[PoolInfoSpec], where: str) -> None:
    """The columns each pool_info table (and its ``queries`` table) needs are present (schema peek)."""
    from dart_trl.data import check_columns, peek_columns

    for i, spec in enumerate(specs):
        at = f"{where}: pool_info[{i}] ({spec.source})"
        found = peek_columns(spec.source, spec.split, spec.config)
        _rate_columns(spec, found, at)
        text_here = spec.join == "query" and not spec.queries
        check_columns(found, [spec.id, *([spec.query] if text_here else [])], at)
        if spec.queries:
            found = peek_columns(spec.queries, spec.queries_split)
            check_columns(found, [spec.id, spec.query], f"{at}: queries ({spec.queries})")


def _rate_columns(spec: PoolInfoSpec, columns: list[str], where: str) -> list[str]:
    if spec.pass_rate in columns:
        return [spec.pass_rate]
    if set(TOTALS) <= set(columns):
        return list(TOTALS)
    raise RecipeError(
        f"{where}: needs a '{spec.pass_rate}' column (or {' + '.join(TOTALS)}); columns found: {columns}"
    )


def _rate(values: list[Any]) -> float | None:
    if len(values) == 2:  # totals
        n, c = values
        values = [c / n if n else None]
    rate = values[0]
    if rate is None or isinstance(rate, bool) or (isinstance(rate, float) and math.isnan(rate)):
        return None
    return min(1.0, max(0.0, float(rate)))


@dataclass
class InfoTable:
    """A loaded pool_info table: join key -> (row id, pass rate), first row wins."""

    rows: int
    by_key: dict[str, tuple[str, float]]
    no_rate: int  # rows without samples (no pass rate): ignored
    no_text: list[str]  # join: query: ids without a query text


def load_info_table(spec: PoolInfoSpec, where: str) -> InfoTable:
    """Read one pool_info table into join keys (ids, or normalised query texts) and pass rates."""
    from dart_trl.data import load_table, require_columns

    table = load_table(spec.source, split=spec.split, config=spec.config)
    rate_columns = _rate_columns(spec, table.column_names, where)
    text_here = spec.join == "query" and not spec.queries
    require_columns(table, [spec.id, *([spec.query] if text_here else [])], where)
    ids = [str(v) for v in column_values(table, spec.id)]
    rates = [_rate(list(v)) for v in zip(*(column_values(table, c) for c in rate_columns), strict=True)]
    if spec.join == "id":
        keys: list[str | None] = ids
    elif text_here:
        keys = [normalize_query(t) if isinstance(t, str) else None for t in column_values(table, spec.query)]
    else:
        texts = _texts_by_id(spec, f"{where}: queries ({spec.queries})")
        keys = [texts.get(i) for i in ids]
    by_key: dict[str, tuple[str, float]] = {}
    no_text: list[str] = []
    for row_id, key, rate in zip(ids, keys, rates, strict=True):
        if rate is None:
            continue
        if key is None:
            no_text.append(row_id)
            continue
        by_key.setdefault(key, (row_id, rate))
    return InfoTable(len(ids), by_key, sum(r is None for r in rates), no_text)


def _texts_by_id(spec: PoolInfoSpec, where: str) -> dict[str, str]:
    """id -> normalised query text from ``spec.queries`` (the first row of each id)."""
    from dart_trl.data import load_table, require_columns

    table = load_table(spec.queries, split=spec.queries_split)
    require_columns(table, [spec.id, spec.query], where)
    table = table.select_columns([spec.id, spec.query])
    table = table.select(first_rows(table, FieldPath(spec.id)))
    return {
        str(i): normalize_query(t)
        for i, t in zip(column_values(table, spec.id), column_values(table, spec.query), strict=True)
        if isinstance(t, str)
    }


@dataclass
class SourceCoverage:
    """How one pool_info table joined: its rows, how many matched a pool query, the info-only ids."""

    source: str
    join: str
    rows: int
    matched: int
    no_rate: int
    info_only: list[str]

    def line(self) -> str:
        """One line for the terminal."""
        text = (
            f"pool_info {self.source} (join on {self.join}): {self.matched} of {self.rows} rows match a "
            f"pool query, {len(self.info_only)} info-only"
        )
        if self.no_rate:
            text += f", {self.no_rate} without samples (ignored)"
        return text


@dataclass
class Coverage:
    """The join of every pool_info table with the pools: matched queries, pool-only queries, info-only rows."""

    queries: int
    matched: int
    pool_only: list[str]
    sources: list[SourceCoverage]

    @property
    def info_only(self) -> list[str]:
        """Ids of the info rows (of every table) that match no pool query."""
        return [i for s in self.sources for i in s.info_only]

    @property
    def known_share(self) -> float:
        """Share of the pool's queries with a known pass rate."""
        return self.matched / self.queries if self.queries else 0.0

    def lines(self) -> list[str]:
        """The per-table lines and the total, for the terminal."""
        total = (
            f"pool_info coverage: {self.matched} of {self.queries} queries matched ({self.known_share:.1%} "
            f"with known difficulty), {len(self.pool_only)} pool-only, {len(self.info_only)} info-only"
        )
        return [s.line() for s in self.sources] + [total]

    def warning(self) -> str | None:
        """A one-line warning naming the first unmatched ids when the coverage is partial, else None."""
        if not self.pool_only and not self.info_only:
            return None
        parts = []
        if self.pool_only:
            first = ", ".join(self.pool_only[:SHOWN_IDS])
            parts.append(
                f"{len(self.pool_only)} pool queries have no pass rate (estimated online; first: {first})"
            )
        if self.info_only:
            first = ", ".join(self.info_only[:SHOWN_IDS])
            parts.append(f"{len(self.info_only)} pool_info rows match no pool query (first: {first})")
        return "warning: partial pool_info coverage: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The counts and the first unmatched ids, for W&B and ``query_info.parquet``."""
        return {
            "queries": self.queries,
            "matched": self.matched,
            "pool_only": len(self.pool_only),
            "info_only": len(self.info_only),
            "known_share": self.known_share,
            "first_pool_only": self.pool_only[:KEPT_IDS],
            "first_info_only": self.info_only[:KEPT_IDS],
            "sources": [
                {
                    "source": s.source,
                    "join": s.join,
                    "rows": s.rows,
                    "matched": s.matched,
                    "info_only": len(s.info_only),
                    "no_rate": s.no_rate,
                }
                for s in self.sources
            ],
        }


@dataclass
class KnownDifficulty:
    """Pass rates known before sampling: per query id, the table each came from, and the join's coverage."""

    pass_rates: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    coverage: Coverage | None = None


def join_pool_info(queries: list[Query], specs: list[PoolInfoSpec], where: str) -> KnownDifficulty:
    """Join the pool_info tables to the pool's queries; a table that matches no query is a RecipeError."""
    known = KnownDifficulty()
    if not specs:
        return known
    sources = []
    for i, spec in enumerate(specs):
        at = f"{where}: pool_info[{i}] ({spec.source})"
        table = load_info_table(spec, at)
        matched_keys: set[str] = set()
        for q in queries:
            key = q.query_id if spec.join == "id" else normalize_query(q.query)
            hit = table.by_key.get(key)
            if hit is None:
                continue
            matched_keys.add(key)
            if q.query_id not in known.pass_rates:
                known.pass_rates[q.query_id] = hit[1]
                known.sources[q.query_id] = spec.source
        if not matched_keys:
            raise RecipeError(f"{at}: {_no_match_reason(spec, table, queries)}")
        info_only = [row_id for key, (row_id, _) in table.by_key.items() if key not in matched_keys]
        sources.append(
            SourceCoverage(
                spec.source,
                spec.join,
                table.rows,
                len(matched_keys),
                table.no_rate,
                info_only + table.no_text,
            )
        )
    pool_only = [q.query_id for q in queries if q.query_id not in known.pass_rates]
    known.coverage = Coverage(len(queries), len(known.pass_rates), pool_only, sources)
    return known


def _no_match_reason(spec: PoolInfoSpec, table: InfoTable, queries: list[Query]) -> str:
    """Why a table matched nothing, with an example of each side's keys, in one sentence."""
    info_example = next(iter(table.by_key), None)
    if spec.join == "id":
        pool_example = queries[0].query_id if queries else None
        return (
            f"none of its {table.rows} rows matches a pool query id (pool ids look like '{pool_example}', "
            f"its ids like '{info_example}'); read the pools from the datasets these ids belong to "
            "(e.g. hkust-nlp/dart-math-pool-math with 'distinct: true, id: query_id'), or join on the "
            "query text ('join: query', with 'queries' when the table has no text)"
        )
    return (
        f"none of its {table.rows} rows has the text of a pool query (after normalising; "
        f"{len(table.no_text)} rows without text); check 'query' and 'queries'"
    )
