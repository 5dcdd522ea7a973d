"""``dart-trl decontaminate``: which training rows contain benchmark questions, and the data without them.

    dart-trl decontaminate recipes/decontaminate.yaml --dataset_name hkust-nlp/dart-math-hard

Every row's query (and response, when ``response_column`` is set) is matched against the questions
of ``benchmarks`` (as in ``dart-trl eval``) by normalised word n-grams (``dart_trl.decontam.matching``).
Outputs in ``output_dir``: ``matches.jsonl`` (one line per matching row), ``report.json`` (rows checked,
rows flagged per benchmark and kind), ``clean/`` (the dataset without the flagged rows, in the input's
format, readable by ``sft``, ``grpo`` and ``generate``), the resolved recipe, and a W&B summary.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dart_trl.config import Job, LaunchArguments, Recipe, parse_recipe, write_resolved_recipe
from dart_trl.config.checks import check_file
from dart_trl.decontam.guard import BenchmarkList
from dart_trl.decontam.matching import EXACT_KINDS
from dart_trl.eval.benchmarks import BENCHMARKS
from dart_trl.files import atomic_path
from dart_trl.locking import lock_output_dir, releases_output_dir_locks
from dart_trl.processes import watched

MATCHES_NAME = "matches.jsonl"
REPORT_NAME = "report.json"
CLEAN_DIR = "clean"


@dataclass
class DecontaminateArguments:
    """Recipe keys of ``dart-trl decontaminate``."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Data to check: a Hub dataset id, a local .jsonl/.json/.parquet/.csv file or directory, "
            "or the output directory of `dart-trl generate` (as `sft` reads it; required)."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration of a Hub dataset."})
    dataset_split: str = field(default="train", metadata={"help": "Split of the dataset to check."})
    query_column: str = field(default="query", metadata={"help": "Column holding the question text."})
    response_column: str | None = field(
        default=None, metadata={"help": "Column holding the response, to check as well (optional)."}
    )
    id_column: str | None = field(
        default=None, metadata={"help": "Column identifying a row, copied into matches.jsonl (optional)."}
    )
    benchmarks: BenchmarkList = field(
        default_factory=lambda: list(BENCHMARKS),
        metadata={
            "help": "Benchmarks to check against, as in `dart-trl eval`: registry names or "
            "{name, data_files, query_field, answer_field, limit} mappings. Default: every registered one."
        },
    )
    ngram_size: int = field(
        default=8, metadata={"help": "Words per n-gram (open-r1 uses 8); shorter questions match whole."}
    )
    common_questions: int = field(
        default=5,
        metadata={
            "help": "An n-gram found in this many questions of one benchmark is boilerplate and not matched."
        },
    )
    drop_near_matches: bool = field(
        default=False,
        metadata={
            "help": "Also leave rows whose only match is numbers_changed out of clean/ (they are "
            "always reported)."
        },  # fmt: skip
    )
    num_proc: int = field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        metadata={"help": "Worker processes matching rows (default: min(2, CPUs))."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where benchmark files and their normalised questions are cached (default: "
            "$DART_TRL_CACHE/benchmarks, else ~/.cache/dart-trl/benchmarks)."
        },
    )
    output_dir: str = field(
        default="outputs/decontaminate",
        metadata={"help": "Where matches.jsonl, report.json, clean/ and the resolved recipe go."},
    )
    report_to: Literal["wandb", "none"] = field(default="wandb", metadata={"help": "Log to W&B, or not."})
    run_name: str | None = field(
        default=None, metadata={"help": "W&B run name (default: decontaminate-<dataset name>)."}
    )
    wandb_project: str | None = field(
        default=None, metadata={"help": "W&B project (default: $WANDB_PROJECT or dart-trl)."}
    )
    wandb_group: str | None = field(default=None, metadata={"help": "W&B group."})

    def __post_init__(self) -> None:
        if self.ngram_size < 2:
            raise ValueError(f"ngram_size must be at least 2, got {self.ngram_size}")
        for key in ("common_questions", "num_proc"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")


def validate(recipe: Recipe, options: None = None) -> None:
    """The dataset exists and has the named columns; the benchmark entries are known and their files exist."""
    from dart_trl.data import check_columns, peek_columns
    from dart_trl.decontam.questions import resolve

    args, where = recipe.get(DecontaminateArguments), str(recipe.path)
    check_file(args.dataset_name, where, "dataset_name")
    resolve(args.benchmarks, f"{where}: key 'benchmarks'")
    columns = peek_columns(args.dataset_name, args.dataset_split, args.dataset_config)
    named = [args.query_column, args.response_column, args.id_column]
    check_columns(columns, [c for c in named if c], f"{where}: {args.dataset_name}")


def clean_target(source: str, out: Path) -> tuple[str, Path]:
    """How and where the clean copy of ``source`` is written: its own format (a file of the same kind,
    or a ``save_to_disk`` directory); a Hub dataset or a directory of files becomes one file."""
    from dart_trl.data import GENERATED_DATASET_DIR, _local_files

    path = Path(source).expanduser()
    if (path / GENERATED_DATASET_DIR).is_dir():
        path = path / GENERATED_DATASET_DIR
    if path.is_dir() and (path / "dataset_info.json").exists():
        return "disk", out
    local = _local_files(path) if path.exists() else None
    if local is None:
        return "parquet", out / "data.parquet"
    suffix = Path(local[1][0]).suffix
    name = path.name if path.is_file() else f"data{suffix}"
    return suffix.lstrip("."), out / name


def write_clean(dataset, source: str, out: Path) -> Path:
    """Write ``dataset`` into ``out`` in the format of ``source`` (complete, or not at all)."""
    with atomic_path(out) as partial:
        kind, target = clean_target(source, partial)
        if kind == "disk":
            dataset.save_to_disk(str(partial))
        else:
            partial.mkdir(parents=True)
            if kind == "parquet":
                dataset.to_parquet(str(target))
            elif kind == "csv":
                dataset.to_csv(str(target), index=False)
            else:
                dataset.to_json(str(target), lines=kind == "jsonl", force_ascii=False)
    return out


def match_records(result, id_values: list | None) -> list[dict]:
    """One ``matches.jsonl`` record per matching row: its first match (exact before numbers_changed),
    and the others under ``other_matches``."""
    records = []
    questions = result.index.questions
    for row in sorted(result.matches):
        found = sorted(result.matches[row], key=lambda m: m.match.kind not in EXACT_KINDS)
        first = found[0]
        question = questions[first.match.question]
        record = {"row": row}
        if id_values is not None:
            record["id"] = id_values[row]
        record.update(
            benchmark=question.benchmark,
            benchmark_index=question.index,
            match=first.match.kind,
            ngram=first.match.evidence,
            column=first.column,
        )
        if len(found) > 1:
            record["other_matches"] = [
                {
                    "benchmark": questions[m.match.question].benchmark,
                    "benchmark_index": questions[m.match.question].index,
                    "match": m.match.kind,
                }
                for m in found[1:]
            ]
        records.append(record)
    return records


@watched
@releases_output_dir_locks
def main(argv: list[str] | None = None) -> int:
    """Check a dataset against benchmarks; write matches, the report and the clean dataset."""
    recipe, _ = parse_recipe(argv, JOB)
    validate(recipe)
    from dart_trl.data import load_table
    from dart_trl.decontam.questions import resolve
    from dart_trl.decontam.scan import build_index, column_values, scan
    from dart_trl.tracking.runs import finish_wandb, init_wandb, run_config, wandb_enabled

    args = recipe.get(DecontaminateArguments)
    out = Path(args.output_dir)
    lock_output_dir(out)
    started = time.perf_counter()
    sources = resolve(args.benchmarks, f"{recipe.path}: key 'benchmarks'")
    index, cached = build_index(sources, args.ngram_size, args.common_questions, args.cache_dir)
    table = load_table(args.dataset_name, args.dataset_split, args.dataset_config)
    columns = column_values(table, [c for c in (args.query_column, args.response_column) if c])
    result = scan(columns, index, args.num_proc)
    seconds = time.perf_counter() - started
    dropped = result.contaminated(near=args.drop_near_matches)
    clean = table.select(sorted(set(range(len(table))) - set(dropped)))

    write_resolved_recipe(recipe, out)
    ids = column_values(table, [args.id_column])[args.id_column] if args.id_column else None
    records = match_records(result, ids)
    with open(out / MATCHES_NAME, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    clean_dir = write_clean(clean, args.dataset_name, out / CLEAN_DIR)
    report = {
        "dataset": args.dataset_name,
        "columns": list(columns),
        "rows_checked": result.rows,
        "rows_flagged": len(result.contaminated()),
        "rows_numbers_changed_only": len(result.contaminated(near=True)) - len(result.contaminated()),
        "rows_dropped": len(dropped),
        "rows_clean": len(clean),
        "per_benchmark": result.per_benchmark(),
        "benchmark_questions": {s.benchmark.name: 0 for s in sources},
        "ngram_size": args.ngram_size,
        "common_questions": args.common_questions,
        "common_ngrams_ignored": index.common,
        "benchmarks_from_cache": cached,
        "seconds": round(seconds, 2),
    }
    for q in index.questions:
        report["benchmark_questions"][q.benchmark] += 1
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n")
    print(summary_lines(report, clean_dir))

    if wandb_enabled(args.report_to):
        run = init_wandb(
            name=args.run_name or f"decontaminate-{Path(args.dataset_name).name}",
            job_type="decontaminate",
            group=args.wandb_group,
            project=args.wandb_project,
            config=run_config(recipe),
            output_dir=out,
        )
        if run is not None:
            run.summary.update(wandb_summary(report))
        finish_wandb(run)
    return 0


def wandb_summary(report: dict) -> dict:
    """The W&B summary of a report: totals, and rows flagged per benchmark and kind."""
    summary = {
        f"decontam/{k}": report[k] for k in ("rows_checked", "rows_flagged", "rows_dropped", "rows_clean")
    }
    for name, counts in report["per_benchmark"].items():
        for kind, count in counts.items():
            summary[f"decontam/{name}/{kind}"] = count
    return summary


def summary_lines(report: dict, clean_dir: Path) -> str:
    """The printed summary: totals, then one line per benchmark with matching rows."""
    lines = [
        f"checked {report['rows_checked']} rows ({', '.join(report['columns'])}) in {report['seconds']} s: "
        f"{report['rows_flagged']} contain a benchmark question, {report['rows_numbers_changed_only']} more "
        f"with numbers changed; {report['rows_clean']} rows -> {clean_dir}"
    ]
    for name, counts in report["per_benchmark"].items():
        if counts["rows"]:
            kinds = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "rows")
            lines.append(f"  {name}: {counts['rows']} rows ({kinds})")
    return "\n".join(lines)


JOB = Job(
    "decontaminate",
    main,
    sections=(LaunchArguments, DecontaminateArguments),
    required=("dataset_name",),
    validate=validate,
)
