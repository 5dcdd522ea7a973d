"""The questions of the benchmarks a recipe names, read through the eval registry and cached.

``benchmarks`` means what it means in ``dart-trl eval``: registry names, or mappings with local
``data_files``, other field names, a row limit, or a benchmark of one's own. The question is the raw
query field (OlympiadBench without the instruction ``eval`` puts before it). The normalised tokens
of a benchmark file are cached under ``<cache_dir>/decontam/``, keyed by the sha256 of its bytes,
the query field, the row limit and the normalisation version, so a benchmark file is read and
normalised once; a Hub dataset without local files is read each time (the Hub client caches it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dart_trl.config import RecipeError
from dart_trl.decontam.matching import Question, tokens
from dart_trl.eval.benchmarks import (
    BENCHMARKS,
    Benchmark,
    BenchmarkSpec,
    check_data_files,
    custom_benchmark,
    fetch_source,
    get_benchmark,
    load_benchmark,
    remap_fields,
)
from dart_trl.eval.sources import PinnedFile, default_cache_dir, file_sha256
from dart_trl.files import write_atomic

NORMALISATION_VERSION = 2


@dataclass(frozen=True)
class BenchmarkSource:
    """A benchmark as a recipe names it: the registry entry (query read raw), local files, row limit."""

    benchmark: Benchmark
    data_files: list[str] | None
    limit: int | None


def resolve(entries: Sequence[str | BenchmarkSpec], where: str) -> list[BenchmarkSource]:
    """The recipe's ``benchmarks`` entries as :class:`BenchmarkSource` s; names and files checked."""
    if not entries:
        raise RecipeError(f"{where}: is empty; name at least one of {list(BENCHMARKS)}")
    sources = []
    for entry in entries:
        spec = BenchmarkSpec(name=entry) if isinstance(entry, str) else entry
        try:
            if spec.name not in BENCHMARKS and spec.data_files and spec.query_field and spec.answer_field:
                benchmark = custom_benchmark(spec.name, spec.query_field, spec.answer_field)
            else:
                benchmark = get_benchmark(spec.name)
                benchmark = remap_fields(
                    benchmark, spec.query_field or benchmark.query_field, spec.answer_field
                )
            files = check_data_files(benchmark.name, spec.data_files)
        except RecipeError as err:
            raise RecipeError(f"{where}: {err}") from None
        sources.append(BenchmarkSource(benchmark, files, spec.limit))
    names = [s.benchmark.name for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RecipeError(f"{where}: lists {repeated} more than once")
    return sources


def _cache_key(source: BenchmarkSource, cache_dir: str | None) -> str | None:
    """What identifies the questions of ``source``: the sha256 of its files, field, limit, version."""
    pinned = source.benchmark.source if isinstance(source.benchmark.source, PinnedFile) else None
    if source.data_files:
        if any(f.startswith(("http://", "https://")) for f in source.data_files):
            return None
        hashes = [file_sha256(f) for f in source.data_files]
    elif pinned is not None:
        fetch_source(source.benchmark.name, pinned, cache_dir)  # downloaded and verified once
        hashes = [pinned.sha256]
    else:
        return None
    key = {
        "files": hashes,
        "query_field": source.benchmark.query_field,
        "limit": source.limit,
        "version": NORMALISATION_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def load_questions(source: BenchmarkSource, cache_dir: str | None = None) -> tuple[list[Question], bool]:
    """The questions of ``source`` and whether they came from the cache."""
    key = _cache_key(source, cache_dir)
    path = Path(cache_dir or default_cache_dir()) / "decontam" / f"{key}.json" if key else None
    name = source.benchmark.name
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text())
            return [Question(name, index, tuple(words)) for index, words in cached["questions"]], True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache file is rebuilt below
    loaded = load_benchmark(source.benchmark, source.data_files, source.limit, cache_dir)
    questions = [Question(name, item.index, tuple(tokens(item.query))) for item in loaded.items]
    if path is not None:
        write_atomic(path, json.dumps({"questions": [[q.index, list(q.tokens)] for q in questions]}))
    return questions, False
