"""The demo's numbers, read back from what its jobs wrote: DARS per level, equal-size student data,
GRPO training reward per stage, and accuracy per level."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

PER_LEVEL_COLUMNS = [
    "level",
    "strategy",
    "queries",
    "queries_without_response",
    "responses",
    "responses_per_query",
    "raw_samples",
    "raw_samples_per_response",
]


def read_query_info(run_dir: Path) -> pd.DataFrame:
    """The ``query_info.parquet`` of a ``dart-trl generate`` output directory."""
    return pd.read_parquet(Path(run_dir) / "query_info.parquet")


def per_level_table(infos: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (level, strategy): queries, queries with 0 responses, responses kept, raw samples spent."""
    rows = []
    for strategy, info in infos.items():
        for level, group in info.groupby("level"):
            responses, samples = int(group["n_responses"].sum()), int(group["n_samples"].sum())
            rows.append(
                {
                    "level": int(level),
                    "strategy": strategy,
                    "queries": len(group),
                    "queries_without_response": int((group["n_responses"] == 0).sum()),
                    "responses": responses,
                    "responses_per_query": round(responses / len(group), 2),
                    "raw_samples": samples,
                    "raw_samples_per_response": round(samples / responses, 1) if responses else None,
                }
            )
    order = {s: i for i, s in enumerate(infos)}
    frame = pd.DataFrame(rows, columns=PER_LEVEL_COLUMNS)
    return frame.sort_values(["level", "strategy"], key=lambda c: c.map(order) if c.name == "strategy" else c)


def markdown(frame: pd.DataFrame) -> str:
    """A markdown table of ``frame`` (numbers right-aligned, missing values as '-')."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = (
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns)
        + "|"
    )
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("-" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)


def equal_size_datasets(datasets: dict[str, Path], out_dir: Path, seed: int) -> dict[str, Path]:
    """Cut each DARS dataset to the size of the smallest by a seeded uniform sample of its rows.

    A uniform sample of rows keeps each dataset's spread over queries and levels (in expectation);
    the smallest dataset is kept whole. Writes ``<out_dir>/<name>.jsonl`` (query, response, query_id,
    level) and returns the paths.
    """
    frames = {name: pd.read_parquet(Path(d) / "dataset" / "train.parquet") for name, d in datasets.items()}
    size = min(len(f) for f in frames.values())
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        kept = frame.sample(n=size, random_state=seed) if len(frame) > size else frame
        path = out_dir / f"{name}.jsonl"
        kept[["query", "response", "query_id", "level"]].to_json(path, orient="records", lines=True)
        paths[name] = path
    return paths


def rows_per_level(datasets: dict[str, Path]) -> pd.DataFrame:
    """Rows of each student dataset (columns) per level (rows, named ``level<n>`` like the benchmarks)."""
    counts = {name: pd.read_json(path, lines=True)["level"].value_counts() for name, path in datasets.items()}
    table = pd.DataFrame(counts).fillna(0).astype(int).sort_index()
    table.index = [f"level{int(level)}" for level in table.index]
    return table


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def stage_rewards(runs) -> list[dict]:
    """Training accuracy reward of each GRPO stage: its mean over the stage's first and last quarter of steps.

    ``runs`` are the stages' :class:`dart_trl.tracking.offline.OfflineRun` objects (job type
    ``grpo-stage``), in order. Returns one dict per stage: stage, steps, window, first, last (None
    when nothing was logged).
    """
    out = []
    for run in runs:
        rewards = [float(r) for r in run.series("train/rewards/accuracy/mean")]
        window = max(1, len(rewards) // 4)
        out.append(
            {
                "stage": run.name,
                "steps": len(rewards),
                "window": window,
                "first": _mean(rewards[:window]),
                "last": _mean(rewards[-window:]),
            }
        )
    return out


def accuracy_per_level(eval_dirs: dict[str, Path]) -> pd.DataFrame:
    """Accuracy (0-1) per model (rows) and benchmark (columns) from each eval run's ``results.json``."""
    table = {}
    for name, path in eval_dirs.items():
        results = json.loads((Path(path) / "results.json").read_text())
        table[name] = {bench: m["accuracy"] for bench, m in results["benchmarks"].items()}
    return pd.DataFrame(table).T
