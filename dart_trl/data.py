"""Loading tables of queries, responses and answers: Hub datasets or local files, with checks.

Every job reads its data through :func:`load_table`, so a missing file or column is reported the
same way everywhere: one line naming the source and what is wrong, before any model is loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from dart_trl.config import RecipeError
from dart_trl.config.checks import looks_local

GENERATED_DATASET_DIR = "dataset"
# A folder of local copies of Hub datasets, for machines that cannot reach the Hub: the split `split` of
# `owner/name` is read from `<folder>/owner--name--split.{parquet,jsonl,json}` when that file exists.
MIRROR_ENV = "DART_TRL_DATA_MIRROR"
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def _local_files(path: Path) -> tuple[str, list[str]] | None:
    if path.is_file():
        builder = _BUILDERS.get(path.suffix)
        if builder is None:
            raise RecipeError(
                f"{path}: unsupported file type '{path.suffix}'; use one of {sorted(_BUILDERS)}"
            )
        return builder, [str(path)]
    if path.is_dir():
        for suffix in (".parquet", ".jsonl", ".json", ".arrow"):
            files = sorted(str(p) for p in path.rglob(f"*{suffix}") if "state" not in p.name)
            if files:
                return _BUILDERS[suffix], files
    return None


def mirrored(source: str, split: str) -> str:
    """The local copy of Hub dataset ``source`` (split ``split``) in ``$DART_TRL_DATA_MIRROR``, if any,
    else ``source`` itself."""
    folder = os.environ.get(MIRROR_ENV)
    if not folder or looks_local(source) or source.count("/") != 1:
        return source
    stem = f"{source.replace('/', '--')}--{split}"
    for suffix in (".parquet", ".jsonl", ".json"):
        if (Path(folder) / f"{stem}{suffix}").is_file():
            return str(Path(folder) / f"{stem}{suffix}")
    return source


def load_table(source: str, split: str = "train", config: str | None = None, data_files=None):
    """Load a ``datasets.Dataset`` from a local file or directory, or a Hub dataset id.

    Local sources: a ``.jsonl``/``.json``/``.parquet``/``.csv`` file, a ``save_to_disk`` directory,
    a directory of such files, or the output directory of ``dart-trl generate`` (its final dataset
    lives in the ``dataset/`` subdirectory). ``data_files`` passes
    explicit files to the Hub/builder loader. Raises :class:`RecipeError` when the source is missing.
    """
    import datasets

    source = mirrored(source, split)
    path = Path(source)
    if (path / GENERATED_DATASET_DIR).is_dir():  # the output directory of `dart-trl generate`
        path = path / GENERATED_DATASET_DIR
    if data_files:
        first = data_files if isinstance(data_files, str) else next(iter(data_files), "")
        builder = _BUILDERS.get(Path(str(first)).suffix, source)
        return datasets.load_dataset(
            builder, data_files=data_files, split=split if builder == source else "train"
        )
    if path.is_dir() and (path / "dataset_info.json").exists():
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    local = _local_files(path)
    if local is not None:
        builder, files = local
        verbosity = datasets.logging.get_verbosity()
        datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its own error log would be a 2nd line
        try:
            return datasets.load_dataset(builder, data_files=files, split="train")
        except (ValueError, StopIteration) as err:  # how datasets reports local files holding no rows
            raise RecipeError(f"{source}: the dataset is empty (0 rows could be read: {err})") from None
        except datasets.exceptions.DatasetGenerationError as err:  # a corrupt file: say what the reader said
            cause = " ".join(str(err.__cause__ or err).split())
            raise RecipeError(f"{source}: cannot be read as {builder}: {cause}") from None
        finally:
            datasets.logging.set_verbosity(verbosity)
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise RecipeError(f"dataset not found: {source} (no such file, or no data files in that directory)")
    try:
        return datasets.load_dataset(source, config, split=split)
    except Exception as err:  # the hub client raises many types; the message is what matters
        raise RecipeError(f"could not load dataset '{source}' (split {split}): {err}") from None


def require_columns(dataset, columns: Iterable[str], source: str) -> None:
    """Raise :class:`RecipeError` naming ``source`` and the columns found when any of ``columns`` is missing."""
    check_columns(dataset.column_names, columns, source)


def check_columns(found: list[str], columns: Iterable[str], source: str) -> None:
    """Raise :class:`RecipeError` naming ``source`` and the columns ``found`` when any of ``columns`` is missing."""
    missing = [c for c in columns if c and c not in found]
    if missing:
        raise RecipeError(f"{source}: missing column(s) {missing}; columns found: {found}")


def peek_columns(source: str, split: str = "train", config: str | None = None) -> list[str]:
    """The column names of a table, read from its schema or first record where that is enough.

    Parquet files give their schema, JSON Lines their first record, a ``save_to_disk`` directory its
    ``dataset_info.json`` and a Hub dataset its builder's features, so a job can check its columns
    before it loads (or downloads) any rows. Other sources are loaded with :func:`load_table`.
    """
    source = mirrored(source, split)
    path = Path(source).expanduser()
    if (path / GENERATED_DATASET_DIR).is_dir():
        path = path / GENERATED_DATASET_DIR
    local = None if (path / "dataset_info.json").exists() else _local_files(path)
    if local is not None and local[0] == "parquet":
        import pyarrow.parquet as pq

        if sum(pq.read_metadata(f).num_rows for f in local[1]) == 0:
            raise RecipeError(f"{source}: the dataset is empty (0 rows)")
        return list(pq.read_schema(local[1][0]).names)
    if local is not None and local[1][0].endswith(".jsonl"):
        with open(local[1][0], encoding="utf-8", errors="replace") as f:
            first = next((line for line in f if line.strip()), None)
        if first is None:
            raise RecipeError(f"{source}: the dataset is empty (0 rows)")
        try:
            return list(json.loads(first))
        except (ValueError, TypeError):
            raise RecipeError(f"{local[1][0]}: line 1 is not a JSON object") from None
    if local is None and not path.exists() and not looks_local(source):
        import datasets

        try:
            features = datasets.load_dataset_builder(source, config).info.features
        except Exception as err:  # the hub client raises many types; the message is what matters
            raise RecipeError(f"could not load dataset '{source}': {err}") from None
        if features is not None:
            return list(features)
    return load_table(source, split, config).column_names
