"""Loading tables of queries, responses and answers: Hub datasets or local files, with checks.

Every job reads its data through :func:`load_table`, so a missing file or column is reported the
same way everywhere: one line naming the source and what is wrong, before any model is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dart_trl.config import RecipeError

GENERATED_DATASET_DIR = "dataset"
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


def load_table(source: str, split: str = "train", config: str | None = None, data_files=None):
    """Load a ``datasets.Dataset`` from a local file or directory, or a Hub dataset id.

    Local sources: a ``.jsonl``/``.json``/``.parquet``/``.csv`` file, a ``save_to_disk`` directory,
    a directory of such files, or the output directory of ``dart-trl generate`` (its final dataset
    lives in the ``dataset/`` subdirectory). ``data_files`` passes
    explicit files to the Hub/builder loader. Raises :class:`RecipeError` when the source is missing.
    """
    import datasets

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
        try:
            return datasets.load_dataset(builder, data_files=files, split="train")
        except (ValueError, StopIteration) as err:  # how datasets reports local files holding no rows
            raise RecipeError(f"{source}: the dataset is empty (0 rows could be read: {err})") from None
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise RecipeError(f"dataset not found: {source} (no such file, or no data files in that directory)")
    try:
        return datasets.load_dataset(source, config, split=split)
    except Exception as err:  # the hub client raises many types; the message is what matters
        raise RecipeError(f"could not load dataset '{source}' (split {split}): {err}") from None


def require_columns(dataset, columns: Iterable[str], source: str) -> None:
    """Raise :class:`RecipeError` naming ``source`` and the columns found when any of ``columns`` is missing."""
    missing = [c for c in columns if c and c not in dataset.column_names]
    if missing:
        raise RecipeError(f"{source}: missing column(s) {missing}; columns found: {dataset.column_names}")
