"""Loading tables of queries, responses and answers: Hub datasets or local files, with checks.

Every job reads its data through :func:`load_table`, so a missing file or column is reported the
same way everywhere: one line naming the source and what is wrong, before any model is loaded.
"""

from __future__ import annotations

import json
import os
from collections import Counter
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
        table = datasets.load_dataset(
            builder, data_files=data_files, split=split if builder == source else "train"
        )
        files = [data_files] if isinstance(data_files, str) else list(data_files)
        return exact_json(table, builder, [f for f in files if Path(str(f)).is_file()])
    if path.is_dir() and (path / "dataset_info.json").exists():
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    local = _local_files(path)
    if local is not None:
        builder, files = local
        verbosity = datasets.logging.get_verbosity()
        datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its own error log would be a 2nd line
        try:
            return exact_json(datasets.load_dataset(builder, data_files=files, split="train"), builder, files)
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


def exact_json(table, builder: str, files: list[str]):
    """``table`` read again with Python's ``json`` where ``datasets`` would change its numbers.

    ``datasets`` parses a JSON array file, and a JSON Lines column of mixed types (its ``Json``
    feature), with pandas' ujson, whose float parser changes the last digits (``0.47`` becomes
    ``0.47000000000000003``, ``3e-36`` becomes ``2.9999999999999998e-36``): a gold answer read that
    way no longer matches the published one. Only such files are read again, as :func:`json_rows`
    and :func:`table_from_rows` say; every other table is returned as it is.
    """
    import datasets

    if builder != "json" or not files:
        return table
    if not any(_is_json_array(f) for f in files) and not any(
        isinstance(feature, datasets.Json) for feature in table.features.values()
    ):
        return table
    return table_from_rows([row for f in files for row in json_rows(f)])


def _is_json_array(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def json_rows(path: str) -> list[dict]:
    """The rows of a JSON array or JSON Lines file, as Python's ``json`` reads them."""
    with open(path, encoding="utf-8-sig") as f:
        if _is_json_array(path):
            return json.load(f)
        return [json.loads(line) for line in f if line.strip()]


def table_from_rows(rows: list[dict]):
    """A ``datasets.Dataset`` of ``rows``; a column whose values are of mixed JSON types (numbers and
    lists, ints and floats, ...) becomes text, each value ``str()`` of what ``json`` read (``0.47``,
    ``True``, ``[0, 5]``), so no number is converted on the way."""
    import datasets

    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    for name, values in columns.items():
        kinds: set[str] = set()
        for value in values:
            _json_kinds(value, "", kinds)
        levels = Counter(kind.rpartition(":")[0] for kind in kinds)  # kinds side by side at one depth
        if any(count > 1 for count in levels.values()):
            columns[name] = [v if v is None or isinstance(v, str) else str(v) for v in values]
    return datasets.Dataset.from_dict(columns)


def _json_kinds(value, prefix: str, kinds: set[str]) -> None:
    """Add the JSON kind of ``value`` (and of a list's items, as ``list:<kind>``) to ``kinds``."""
    if value is None:
        return
    if isinstance(value, list):
        kinds.add(prefix + "list")
        for item in value:
            _json_kinds(item, prefix + "list:", kinds)
        return
    kind = "bool" if isinstance(value, bool) else type(value).__name__
    kinds.add(prefix + kind)


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
