"""``dart-trl levels``: label a query pool with difficulty levels from the pass rates of three models.

The criteria are those of the AM-Math-Difficulty-RL dataset card (arXiv 2504.00829), with a small,
a mid and a large model (there: DeepSeek-R1-Distill-Qwen 1.5B, 7B and 32B):

- level 1: the small model's pass rate is in (0, 1);
- level 2: small = 0 and mid = 1, or small = 0 and mid in (0, 1), or both in (0, 1);
- level 3: the large model always fails (pass rate 0), plus a seeded ``level3_success_fraction``
  (50%) of the queries it solves at least once.

As on the card, the levels are separate subsets and may overlap (a query partly solved by both the
small and the mid model is in levels 1 and 2). The output has one row per query with a ``levels``
list column (use ``level_column: levels`` in a GRPO stage), ``level_1``/``level_2``/``level_3``
flags and the pass rates. Pass rates come from ``query_info.parquet`` files of ``dart-trl generate``
(columns ``query_id``, ``n_samples``, ``n_corrects``, ``pass_rate``); a query a model never
sampled has no pass rate for it and meets no criterion that needs one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dart_trl.config import (
    Job,
    LaunchArguments,
    Recipe,
    RecipeError,
    WandbArguments,
    parse_recipe,
    run_guarded,
    write_resolved_recipe,
)
from dart_trl.config.checks import check_file

MODELS = ("small", "mid", "large")
OUTPUT_FILE = "levels.parquet"
SUMMARY_FILE = "levels_summary.json"


@dataclass
class LevelsArguments:
    """Recipe keys of ``dart-trl levels``."""

    small_query_info: str | None = field(
        default=None,
        metadata={
            "help": "query_info.parquet (or a generate output directory) of the small model: levels 1, 2."
        },
    )
    mid_query_info: str | None = field(
        default=None,
        metadata={"help": "query_info.parquet (or generate output directory) of the mid model: level 2."},
    )
    large_query_info: str | None = field(
        default=None,
        metadata={"help": "query_info.parquet (or generate output directory) of the large model: level 3."},
    )
    pool: str | None = field(
        default=None,
        metadata={
            "help": "Optional query pool (Hub id, file or directory) joined on query_id_column, so the "
            "output carries the queries and answers; without it only ids, pass rates and levels."
        },
    )
    pool_split: str = field(default="train", metadata={"help": "Split of a Hub pool."})
    query_id_column: str = field(default="query_id", metadata={"help": "Query id column of the pool."})
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Where levels.parquet, levels_summary.json and the resolved recipe go."},
    )
    seed: int = field(
        default=42, metadata={"help": "Seed of the level-3 sample of the large model's successes."}
    )
    level3_success_fraction: float = field(
        default=0.5, metadata={"help": "Share of the large model's solved queries kept in level 3."}
    )
    report_to: Literal["wandb", "none"] = field(default="wandb", metadata={"help": "Log to W&B, or not."})
    run_name: str | None = field(
        default=None, metadata={"help": "W&B run name (default: levels-<output dir name>)."}
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.level3_success_fraction <= 1.0:
            raise ValueError(f"level3_success_fraction must be in [0, 1], got {self.level3_success_fraction}")


def query_info_file(source: str) -> Path:
    """The ``query_info.parquet`` of ``source`` (the file, or a generate output directory), checked for
    the columns pass rates come from: ``query_id``, and ``n_samples`` + ``n_corrects`` or ``pass_rate``."""
    import pyarrow.parquet as pq

    path = Path(source)
    if path.is_dir():
        path = path / "query_info.parquet"
    if not path.is_file():
        raise RecipeError(f"query_info file not found: {source if path == Path(source) else path}")
    columns = pq.read_schema(path).names
    if "query_id" not in columns:
        raise RecipeError(f"{path}: missing column 'query_id'; columns found: {columns}")
    if not ({"n_samples", "n_corrects"} <= set(columns) or "pass_rate" in columns):
        raise RecipeError(
            f"{path}: needs 'n_samples' + 'n_corrects' or 'pass_rate'; columns found: {columns}"
        )
    return path


def read_pass_rates(source: str) -> dict[str, float]:
    """``query_id -> pass rate`` from a query_info file; queries with no samples are left out.

    The rate is ``n_corrects / n_samples`` when both columns are present (exact 0 and 1), otherwise
    the ``pass_rate`` column. Raises :class:`RecipeError` for missing columns, duplicate ids or a rate
    outside [0, 1].
    """
    import pandas as pd

    path = query_info_file(source)
    frame = pd.read_parquet(path)
    if {"n_samples", "n_corrects"} <= set(frame.columns):
        frame = frame[frame["n_samples"].fillna(0) > 0]
        rates = frame["n_corrects"] / frame["n_samples"]
    else:
        frame = frame[frame["pass_rate"].notna()]
        rates = frame["pass_rate"].astype(float)
    ids = frame["query_id"].astype(str)
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise RecipeError(f"{path}: query_id '{duplicated.iloc[0]}' appears more than once")
    bad = rates[(rates < 0) | (rates > 1)]
    if len(bad):
        raise RecipeError(f"{path}: pass rate {bad.iloc[0]} of query '{ids[bad.index[0]]}' is outside [0, 1]")
    return dict(zip(ids, rates.astype(float), strict=True))


def _partial(rate: float | None) -> bool:
    return rate is not None and 0.0 < rate < 1.0


def assign_levels(
    small: dict[str, float] | None,
    mid: dict[str, float] | None,
    large: dict[str, float] | None,
    seed: int = 42,
    level3_success_fraction: float = 0.5,
) -> dict[str, list[int]]:
    """``query_id -> sorted levels`` under the card's criteria (see the module docstring).

    Every query id seen in any of the pass-rate maps is a key; its list may be empty.
    """
    import numpy as np

    small, mid, large = small or {}, mid or {}, large or {}
    solved = sorted(qid for qid, rate in large.items() if rate > 0.0)
    keep = round(level3_success_fraction * len(solved))
    level3 = {solved[i] for i in np.random.default_rng(seed).permutation(len(solved))[:keep]}
    level3 |= {qid for qid, rate in large.items() if rate == 0.0}
    levels: dict[str, list[int]] = {}
    for qid in sorted({*small, *mid, *large}):
        s, m = small.get(qid), mid.get(qid)
        level2 = (s == 0.0 and m is not None and (m == 1.0 or _partial(m))) or (_partial(s) and _partial(m))
        levels[qid] = [level for level, met in ((1, _partial(s)), (2, level2), (3, qid in level3)) if met]
    return levels


def validate(recipe: Recipe, options: None = None) -> None:
    """The query_info files exist with the columns pass rates come from, and the pool has its id column."""
    args = recipe.get(LevelsArguments)
    if not any(getattr(args, f"{m}_query_info") for m in MODELS):
        raise RecipeError(
            f"{recipe.path}: give at least one of small_query_info, mid_query_info, large_query_info"
        )
    for model in MODELS:
        source = getattr(args, f"{model}_query_info")
        if source:
            try:
                query_info_file(source)
            except RecipeError as err:
                raise RecipeError(f"{recipe.path}: key '{model}_query_info': {err}") from None
    check_file(args.pool, str(recipe.path), "pool")
    if args.pool:
        from dart_trl.data import peek_columns

        columns = peek_columns(args.pool, args.pool_split)
        if args.query_id_column not in columns:
            raise RecipeError(
                f"{recipe.path}: key 'pool': {args.pool} has no column '{args.query_id_column}' "
                f"(query_id_column); its columns are {columns}"
            )


def main(argv: list[str] | None = None) -> int:
    """Label the pool and write ``levels.parquet`` with a per-level count summary."""
    recipe, _ = parse_recipe(argv, JOB)
    validate(recipe)

    import pandas as pd

    args = recipe.get(LevelsArguments)
    rates = {m: read_pass_rates(src) if (src := getattr(args, f"{m}_query_info")) else None for m in MODELS}
    levels = assign_levels(*rates.values(), args.seed, args.level3_success_fraction)  # small, mid, large
    by_model = {f"pass_rate_{m}": pd.Series(r, dtype=float) for m, r in rates.items() if r is not None}
    frame = pd.DataFrame(by_model, index=list(levels)).rename_axis("query_id").reset_index()
    frame["levels"] = list(levels.values())
    for level in (1, 2, 3):
        frame[f"level_{level}"] = frame["levels"].map(lambda v, level=level: level in v)
    if args.pool:  # its id column was checked by validate()
        from dart_trl.data import load_table

        pool_frame = load_table(args.pool, split=args.pool_split).to_pandas()
        pool_frame[args.query_id_column] = pool_frame[args.query_id_column].astype(str)
        frame = pool_frame.merge(
            frame.rename(columns={"query_id": args.query_id_column}), on=args.query_id_column, how="inner"
        )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / OUTPUT_FILE, index=False)
    counts = {f"level_{lv}": int(frame[f"level_{lv}"].sum()) for lv in (1, 2, 3)}
    summary = {"queries": len(frame), **counts, "unlabelled": int((frame["levels"].map(len) == 0).sum())}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    write_resolved_recipe(recipe, out)
    # W&B: the per-level counts; the config holds the resolved recipe and the runs that made the pass rates
    from dart_trl.tracking.runs import finish_wandb, producers, start_run

    run = start_run(
        recipe,
        job_type="levels",
        name=args.run_name or f"levels-{out.resolve().name}",
        output_dir=out,
        report_to=args.report_to,
        **producers(**{f"{m}_query_info": getattr(args, f"{m}_query_info") for m in MODELS}),
    )
    if run is not None:
        counts = {"questions": summary["queries"], "unlabelled": summary["unlabelled"]}
        counts.update({f"level_{lv}/questions": summary[f"level_{lv}"] for lv in (1, 2, 3)})
        run.summary.update({f"levels/{k}": v for k, v in counts.items()})
        finish_wandb(run)
    print(f"dart-trl levels: {summary} -> {out / OUTPUT_FILE}")
    return 0


JOB = Job(
    "levels",
    main,
    sections=(LaunchArguments, LevelsArguments, WandbArguments),
    required=("output_dir",),
    validate=validate,
)

if __name__ == "__main__":
    sys.exit(run_guarded("levels", main, sys.argv[1:]))
