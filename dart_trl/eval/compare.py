"""``dart-trl compare``: evaluation runs side by side, as in the paper's tables.

    dart-trl compare outputs/eval-base outputs/eval-dart [--out comparison]
    dart-trl compare --wandb-group dart-7b [--wandb-project dart-trl]

Each RUN_DIR is a ``dart-trl eval`` output directory (its ``results.json``) or a W&B run directory
(its logged ``bench/<benchmark>/accuracy`` summaries). A benchmark's views (``theoremqa/no_picture``)
get a column of their own after the benchmark's, outside the average. ``--wandb-group`` adds the group's eval runs:
through the W&B API when online, from the local run directories under ``--wandb-dir`` when
``WANDB_MODE`` is offline. Prints a markdown table (benchmarks as columns, AVG last, the best score of
each column in bold) and writes ``comparison.md``, ``comparison.csv`` and a bar chart
``comparison.png`` to ``--out``.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dart_trl.config import Job, RecipeError, parse_options, run_guarded
from dart_trl.eval.benchmarks import BENCHMARKS
from dart_trl.eval.results import RESULTS_NAME
from dart_trl.tracking.offline import find_runs, read_run

AVERAGE = "average"
AVG_COLUMN = "AVG"


@dataclass
class CompareArguments:
    """Arguments of ``dart-trl compare``."""

    runs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Eval output directories (with results.json) or W&B run directories.",
            "positional": "RUN_DIR",
        },
    )
    wandb_group: str | None = field(
        default=None,
        metadata={"help": "Also compare the eval runs of this W&B group (API online, local runs offline)."},
    )
    wandb_project: str | None = field(
        default=None, metadata={"help": "W&B project of --wandb-group (default: $WANDB_PROJECT or dart-trl)."}
    )
    wandb_dir: str | None = field(
        default=None,
        metadata={"help": "Offline: where the group's run directories are (default: $WANDB_DIR or ./wandb)."},
    )
    out: str = field(
        default="comparison",
        metadata={"help": "Directory for comparison.md, comparison.csv, comparison.png."},
    )
    report_to: Literal["wandb", "none"] = field(
        default="wandb",
        metadata={"help": "Also log the table (accuracy 0-1) and chart to a W&B run of job type compare."},
    )
    wandb_tags: list[str] = field(default_factory=list, metadata={"help": "W&B tags of the compare run."})


@dataclass
class RunScores:
    """One run's accuracy (0-1) per benchmark and per view (``<benchmark>/<view>``), under a label."""

    label: str
    scores: dict[str, float]


def is_view(column: str) -> bool:
    """Whether a column is a benchmark's view (``theoremqa/no_picture``): shown, never averaged."""
    return "/" in column


def summary_scores(summary: dict) -> dict[str, float]:
    """Accuracies from W&B summary keys ``bench/<benchmark>/accuracy`` and ``bench/<benchmark>/<view>/accuracy``
    (``eval/...`` in runs logged before dart-trl named them ``bench/``)."""
    scores = {}
    for key, value in summary.items():
        parts = key.split("/")
        prefix_ok = parts[0] in ("bench", "eval")
        if len(parts) in (3, 4) and prefix_ok and parts[-1] == "accuracy" and parts[1] != AVERAGE:
            if isinstance(value, (int, float)):
                scores["/".join(parts[1:-1])] = float(value)
    return scores


def read_run_dir(path: str | os.PathLike) -> RunScores:
    """Scores of an eval output directory (``results.json``) or of a local W&B run directory."""
    path = Path(path)
    results = path / RESULTS_NAME if path.is_dir() else path
    if results.is_file() and results.name == RESULTS_NAME:
        try:
            data = json.loads(results.read_text())
            scores = {}
            for name, m in data["benchmarks"].items():
                if m["accuracy"] is None:  # every row skipped: nothing scored
                    continue
                scores[name] = float(m["accuracy"])
                scores.update(
                    {f"{name}/{v}": float(view["accuracy"]) for v, view in m.get("views", {}).items()}
                )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise RecipeError(f"{results}: not a dart-trl eval results file ({err})") from None
        return RunScores(str(data.get("run_name") or path.name), scores)
    if path.is_dir() and any(path.glob("*.wandb")):
        run = read_run(path)
        scores = summary_scores(run.summary)
        if not scores:
            raise RecipeError(f"{path}: this W&B run logged no bench/<benchmark>/accuracy")
        return RunScores(run.name or run.run_id or path.name, scores)
    raise RecipeError(f"{path}: no {RESULTS_NAME} and no W&B run there")


def group_runs(group: str, project: str | None, wandb_dir: str | None) -> list[RunScores]:
    """The eval runs of a W&B group: local run directories when offline, the W&B API otherwise."""
    if os.environ.get("WANDB_MODE") in {"offline", "disabled"}:
        root = wandb_dir or os.environ.get("WANDB_DIR") or "wandb"
        runs = []
        for run_dir in find_runs(root):
            run = read_run(run_dir)
            if run.group == group and run.job_type == "eval" and summary_scores(run.summary):
                runs.append(RunScores(run.name or run.run_id, summary_scores(run.summary)))
        if not runs:
            raise RecipeError(f"no eval runs of W&B group '{group}' under {root}")
        return runs
    import wandb

    from dart_trl.tracking.runs import DEFAULT_PROJECT

    project = project or os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT)
    try:
        api_runs = wandb.Api().runs(project, filters={"group": group, "jobType": "eval"})
        runs = [RunScores(r.name, summary_scores(dict(r.summary))) for r in api_runs]
    except Exception as err:  # network, authentication, unknown project: one line for the user
        raise RecipeError(f"could not read W&B group '{group}' of project '{project}': {err}") from None
    runs = [r for r in runs if r.scores]
    if not runs:
        raise RecipeError(
            f"no eval runs with bench/<benchmark>/accuracy in W&B group '{group}' of '{project}'"
        )
    return runs


def unique_labels(runs: list[RunScores]) -> None:
    """Number repeated labels (``name``, ``name (2)``) so every row is distinct."""
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run.label = f"{run.label} ({seen[run.label]})"


def columns_of(runs: Sequence[RunScores]) -> list[str]:
    """Benchmarks in registry order (the paper's first), then any others in order of appearance; each
    benchmark followed by its views."""
    present = list(dict.fromkeys(c for r in runs for c in r.scores))
    benchmarks = [b for b in BENCHMARKS if b in present] + [
        b for b in present if not is_view(b) and b not in BENCHMARKS
    ]
    return [c for b in benchmarks for c in [b, *(v for v in present if v.startswith(f"{b}/"))]]


def table_rows(
    runs: Sequence[RunScores], columns: Sequence[str]
) -> tuple[list[str], list[list[float | None]]]:
    """Percent scores per run and column, plus AVG over the benchmarks every run has.

    Returns the AVG basis (the shared benchmarks, views left out) and one row per run: a value or None per
    column, AVG last.
    """
    shared = [c for c in columns if not is_view(c) and all(c in r.scores for r in runs)]
    rows = []
    for run in runs:
        row: list[float | None] = [100 * run.scores[c] if c in run.scores else None for c in columns]
        row.append(100 * sum(run.scores[c] for c in shared) / len(shared) if shared else None)
        rows.append(row)
    return shared, rows


def column_title(column: str) -> str:
    """A column's header: the paper's short name of a benchmark, ``Theorem (no_picture)`` for a view."""
    benchmark, _, view = column.partition("/")
    title = BENCHMARKS[benchmark].title if benchmark in BENCHMARKS else benchmark
    return f"{title} ({view})" if view else title


def markdown_table(runs: Sequence[RunScores], columns: Sequence[str], rows: list[list[float | None]]) -> str:
    """A markdown table: runs as rows; benchmarks (the paper's short names) then AVG as columns; the best
    of each column in bold."""
    header = ["run", *map(column_title, columns), AVG_COLUMN]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    best = [max((row[j] for row in rows if row[j] is not None), default=None) for j in range(len(header) - 1)]
    for run, row in zip(runs, rows, strict=True):
        cells = []
        for j, value in enumerate(row):
            if value is None:
                cells.append("-")
            else:
                text = f"{value:.1f}"
                cells.append(
                    f"**{text}**" if len(runs) > 1 and round(value, 1) == round(best[j], 1) else text
                )
        lines.append("| " + " | ".join([run.label.replace("|", "/"), *cells]) + " |")
    return "\n".join(lines)


def write_csv(
    path: Path, runs: Sequence[RunScores], columns: Sequence[str], rows: list[list[float | None]]
) -> None:
    """Write the table as CSV (percent, empty where a run lacks a benchmark)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", *columns, AVG_COLUMN])
        for run, row in zip(runs, rows, strict=True):
            writer.writerow([run.label, *("" if v is None else f"{v:.2f}" for v in row)])


def bar_chart(
    path: Path, runs: Sequence[RunScores], columns: Sequence[str], rows: list[list[float | None]]
) -> None:
    """Grouped bars: one group per benchmark (and AVG), one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [*map(column_title, columns), AVG_COLUMN]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(labels) * max(1, len(runs) / 2)), 4.5))
    for i, (run, row) in enumerate(zip(runs, rows, strict=True)):
        present = [(j, v) for j, v in enumerate(row) if v is not None]  # no bar where a run lacks a benchmark
        xs = [j + (i - (len(runs) - 1) / 2) * width for j, _ in present]
        ax.bar(xs, [v for _, v in present], width, label=run.label)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def log_comparison(
    args: CompareArguments,
    out: Path,
    runs: Sequence[RunScores],
    columns: Sequence[str],
    rows: list[list[float | None]],
) -> None:
    """Log the comparison to a W&B run (job type ``compare``, in ``--wandb-group``'s group by the one
    rule of docs/wandb.md): ``compare/table``, a row per run, accuracy 0-1 per benchmark and
    ``average_shared`` (over the benchmarks every run has), and ``compare/chart``."""
    from dart_trl.config import to_plain
    from dart_trl.tracking.runs import code_config, finish_wandb, init_wandb, run_group, wandb_enabled

    if not wandb_enabled(args.report_to):
        return
    import wandb

    run = init_wandb(
        name=f"compare-{out.resolve().name}",
        job_type="compare",
        config={**to_plain(args), **code_config(), "report_to": [args.report_to]},
        output_dir=out,
        group=run_group(args.wandb_group),
        project=args.wandb_project,
        tags=args.wandb_tags,
    )
    if run is None:
        return
    data = [
        [run.label, *(None if v is None else v / 100 for v in row)]
        for run, row in zip(runs, rows, strict=True)
    ]
    table = wandb.Table(columns=["run", *columns, "average_shared"], data=data)
    run.log({"compare/table": table, "compare/chart": wandb.Image(str(out / "comparison.png"))})
    finish_wandb(run)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dart-trl compare RUN_DIR... [--wandb-group G] [--out DIR]``."""
    args = parse_options(argv, JOB, summary=__doc__.split("\n\n")[0])
    if not args.runs and not args.wandb_group:
        raise RecipeError("give at least one RUN_DIR or --wandb-group")
    runs = [read_run_dir(p) for p in args.runs]
    if args.wandb_group:
        runs += group_runs(args.wandb_group, args.wandb_project, args.wandb_dir)
    unique_labels(runs)
    columns = columns_of(runs)
    shared, rows = table_rows(runs, columns)
    table = markdown_table(runs, columns, rows)
    note = ""
    benchmarks = [c for c in columns if not is_view(c)]
    if shared != benchmarks:
        note = f"\n\nAVG is over the benchmarks every run has: {', '.join(shared) or 'none'}."
    if benchmarks != columns:
        note += "\n\nA column with a view in parentheses is an extra figure, not in AVG."
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(table + note + "\n")
    write_csv(out / "comparison.csv", runs, columns, rows)
    bar_chart(out / "comparison.png", runs, columns, rows)
    log_comparison(args, out, runs, columns, rows)
    print(table + note)
    print(f"\nwritten: {out / 'comparison.md'}, {out / 'comparison.csv'}, {out / 'comparison.png'}")
    return 0


JOB = Job("compare", main, options=CompareArguments)

if __name__ == "__main__":
    sys.exit(run_guarded("compare", main, sys.argv[1:]))
