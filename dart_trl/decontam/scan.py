"""Check every row of a table against a benchmark :class:`~dart_trl.decontam.matching.Index`.

Rows are matched in chunks by ``num_proc`` forked worker processes that share the index (built once,
before the fork). A worker gets SIGKILL when the job's process dies, so none outlives the job.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from dart_trl.decontam.matching import EXACT_KINDS, Index, Match
from dart_trl.decontam.questions import BenchmarkSource, load_questions
from dart_trl.processes import _prctl_pdeathsig

CHUNK_ROWS = 8192

# What forked workers read: the index and the texts of each column (set before the fork).
_SHARED: dict[str, object] = {}


@dataclass(frozen=True)
class RowMatch:
    """A benchmark question a row matches: the column it was found in and how."""

    column: str
    match: Match


@dataclass
class ScanResult:
    """The rows checked and, for each row that matches, its matches (one per benchmark)."""

    rows: int
    index: Index
    matches: dict[int, list[RowMatch]] = field(default_factory=dict)

    def contaminated(self, near: bool = False) -> list[int]:
        """Rows with an exact match (``ngram``, ``whole_question``); with ``near``, number-changed too."""
        return sorted(
            row
            for row, found in self.matches.items()
            if near or any(m.match.kind in EXACT_KINDS for m in found)
        )

    def per_benchmark(self) -> dict[str, dict[str, int]]:
        """For each benchmark, the rows that match it, counted by kind (every benchmark of the index)."""
        counts = {q.benchmark: {"rows": 0} for q in self.index.questions}
        for found in self.matches.values():
            for m in found:
                entry = counts[self.index.questions[m.match.question].benchmark]
                entry["rows"] += 1
                entry[m.match.kind] = entry.get(m.match.kind, 0) + 1
        return counts


def build_index(
    sources: Sequence[BenchmarkSource], ngram_size: int, common_questions: int, cache_dir: str | None
) -> tuple[Index, list[str]]:
    """The index of every question of ``sources``, and which benchmarks came from the n-gram cache."""
    questions, cached = [], []
    for source in sources:
        found, hit = load_questions(source, cache_dir)
        questions += found
        if hit:
            cached.append(source.benchmark.name)
    return Index(questions, ngram_size, common_questions), cached


def column_values(table, columns) -> dict[str, list]:
    """The values of ``columns`` of a ``datasets.Dataset`` as Python lists, read in one pass through Arrow
    (indexing the dataset row by row costs more than the matching)."""
    return table.select_columns(list(columns)).to_dict()


def _scan_chunk(span: tuple[int, int]) -> list[tuple[int, list[RowMatch]]]:
    index: Index = _SHARED["index"]  # type: ignore[assignment]
    columns: dict[str, list] = _SHARED["columns"]  # type: ignore[assignment]
    out = []
    for row in range(*span):
        found: dict[str, RowMatch] = {}
        for column, texts in columns.items():
            text = texts[row]
            if not isinstance(text, str) or not text:
                continue
            for match in index.matches(text):
                found.setdefault(index.questions[match.question].benchmark, RowMatch(column, match))
        if found:
            out.append((row, list(found.values())))
    return out


def scan(columns: dict[str, list], index: Index, num_proc: int = 1) -> ScanResult:
    """Match the texts of ``columns`` (equal-length lists: column name -> one text per row)."""
    rows = len(next(iter(columns.values()), []))
    spans = [(start, min(start + CHUNK_ROWS, rows)) for start in range(0, rows, CHUNK_ROWS)]
    _SHARED.update(index=index, columns=columns)
    try:
        if num_proc <= 1 or len(spans) <= 1:
            chunks = map(_scan_chunk, spans)
            result = ScanResult(rows, index, {row: found for chunk in chunks for row, found in chunk})
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(num_proc, initializer=_prctl_pdeathsig(os.getpid())) as pool:
                chunks = pool.imap(_scan_chunk, spans)
                result = ScanResult(rows, index, {row: found for chunk in chunks for row, found in chunk})
    finally:
        _SHARED.clear()
    return result
