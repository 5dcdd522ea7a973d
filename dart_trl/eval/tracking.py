"""What an eval run logs to W&B (docs/wandb.md): ``bench/<benchmark>/*`` per benchmark and view, a
per-item table per benchmark, and one ``bench/table`` with a row per benchmark (and view)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

PREFIX = "bench/"
ITEM_COLUMNS = ["index", "sample", "query", "gold", "completion", "answer", "correct", "reason"]
TABLE_COLUMNS = ["benchmark", "view", "in_average", "questions", "samples", "correct_samples", "accuracy",
                 "pass@n", "maj@n", "skipped", "data_sha256", "source", "prompt_template"]  # fmt: skip
_PER_N = re.compile(r"^(pass|maj)@\d+$")


def metric_values(metrics: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's (or view's) numbers under the vocabulary's names: ``questions``, ``samples``,
    ``correct_samples``, ``accuracy``, ``pass@n``, ``maj@n`` (n is the config's ``n``), ``reasons/<r>``."""
    names = {"total": "questions", "samples": "samples", "correct": "correct_samples", "accuracy": "accuracy"}
    values = {new: metrics[old] for old, new in names.items() if metrics.get(old) is not None}
    for key, value in metrics.items():
        if _PER_N.match(key):
            values[f"{key.split('@')[0]}@n"] = value
    for reason, count in (metrics.get("reasons") or {}).items():
        values[f"reasons/{reason}"] = count
    return values


def log_benchmark(run, name: str, metrics: dict[str, Any], records: Sequence[dict[str, Any]], max_rows: int):
    """Log a benchmark's numbers (``bench/<name>/...``, its views' under ``bench/<name>/<view>/...``),
    its skipped rows and its per-item table."""
    import wandb

    table = wandb.Table(columns=ITEM_COLUMNS, data=[[r[c] for c in ITEM_COLUMNS] for r in records[:max_rows]])
    values = {f"{PREFIX}{name}/{k}": v for k, v in metric_values(metrics).items()}
    values[f"{PREFIX}{name}/skipped"] = metrics["skipped"]
    for view, view_metrics in metrics.get("views", {}).items():
        values.update({f"{PREFIX}{name}/{view}/{k}": v for k, v in metric_values(view_metrics).items()})
    run.log({**values, f"{PREFIX}{name}/items": table})


def table_rows(results: dict[str, Any]) -> list[list[Any]]:
    """One row per benchmark and per view (``in_average`` false) of ``results.json``, in TABLE_COLUMNS."""
    rows = []
    for name, m in results["benchmarks"].items():
        entries = [(None, m, True), *((view, v, False) for view, v in m.get("views", {}).items())]
        for view, metrics, in_average in entries:
            values = metric_values(metrics)
            rows.append(
                [name, view, in_average, values.get("questions"), values.get("samples"),
                 values.get("correct_samples"), values.get("accuracy"), values.get("pass@n"),
                 values.get("maj@n"), m["skipped"] if in_average else None, m.get("data_sha256"),
                 m.get("source"), m.get("prompt_template")]
            )  # fmt: skip
    return rows


def log_results(run, results: dict[str, Any]) -> None:
    """Log the run's ``bench/table`` (a row per benchmark and view) and ``bench/average/accuracy``, and
    put the sha256 of each benchmark's data in the config (``data_sha256.<benchmark>``)."""
    import wandb

    shas = {name: m.get("data_sha256") for name, m in results["benchmarks"].items()}
    run.config.update({"data_sha256": shas}, allow_val_change=True)

    logs: dict[str, Any] = {f"{PREFIX}table": wandb.Table(columns=TABLE_COLUMNS, data=table_rows(results))}
    if results["average"] is not None:
        logs[f"{PREFIX}average/accuracy"] = results["average"]
    run.log(logs)
