"""``--merge``: combine the output directories of ``--shard i/N`` runs into one output directory."""

from __future__ import annotations

import shutil
from pathlib import Path

from dart_trl.config import RecipeError
from dart_trl.dars.pools import Query
from dart_trl.dars.store import QUERIES_FILE, SampleStore

SHARD_GLOB = "shard-*-of-*"


def shard_dirname(index: int, count: int) -> str:
    """The subdirectory of the output directory that shard ``index`` of ``count`` writes to."""
    return f"shard-{index:03d}-of-{count:03d}"


def find_shard_dirs(output_dir: Path) -> list[Path]:
    """Shard output directories under ``output_dir`` (``shard-###-of-###``)."""
    return sorted(p for p in output_dir.glob(SHARD_GLOB) if p.is_dir())


def merge_shards(target: SampleStore, shard_dirs: list[Path]) -> list[Query]:
    """Copy every shard's raw files into ``target`` and save the union of their queries.

    Raw files keep their names, prefixed with the shard directory's name, so merging again is
    idempotent. Raises :class:`RecipeError` for a directory that is not a generate output or for a
    query id found in two shards.
    """
    if not shard_dirs:
        raise RecipeError(f"--merge: no shard directories given or found under {target.root}")
    queries: list[Query] = []
    owner: dict[str, Path] = {}
    target.raw_dir.mkdir(parents=True, exist_ok=True)
    for shard_dir in shard_dirs:
        shard = SampleStore(shard_dir)
        if not (shard_dir / QUERIES_FILE).is_file():
            raise RecipeError(f"--merge: {shard_dir} is not a dart-trl generate output (no {QUERIES_FILE})")
        for q in shard.read_queries():
            if q.query_id in owner:
                raise RecipeError(
                    f"--merge: query '{q.query_id}' is in both {owner[q.query_id]} and {shard_dir}"
                )
            owner[q.query_id] = shard_dir
            queries.append(q)
        for path in shard.shard_files():
            shutil.copyfile(path, target.raw_dir / f"{shard_dir.name}-{path.name}")
    target.write_queries(queries)
    return queries
