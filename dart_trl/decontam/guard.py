"""The opt-in benchmark check of ``generate``, ``sft`` and ``grpo`` (recipe key ``decontaminate``).

With ``decontaminate: [benchmarks...]`` a job matches its data against those benchmarks before it
samples or trains. ``decontaminate_action: refuse`` (the default) stops the job with exit code 2,
naming how many rows match each benchmark and the first ones; ``drop`` leaves them out. Either way the
outcome is printed; ``sft`` and ``generate`` also put the rows dropped into their W&B config
(``decontaminated_rows``, ``decontaminated_queries``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from dart_trl.config import RecipeError
from dart_trl.eval.benchmarks import BenchmarkSpec

BenchmarkList = list[str | BenchmarkSpec]
SHOWN_ROWS = 5  # rows named in a refusal


@dataclass
class DecontaminationArguments:
    """Recipe keys of the benchmark check that ``generate``, ``sft`` and ``grpo`` can turn on."""

    decontaminate: BenchmarkList | None = field(
        default=None,
        metadata={
            "help": "Check the data against these benchmarks (as in `dart-trl eval`: names or {name, "
            "data_files, ...} mappings) before sampling or training; unset: no check."
        },
    )
    decontaminate_action: Literal["refuse", "drop"] = field(
        default="refuse",
        metadata={
            "help": "refuse: stop (exit 2) when rows contain benchmark questions; drop: leave them out."
        },
    )
    decontaminate_ngram_size: int = field(
        default=8, metadata={"help": "Words per n-gram of the check (see `dart-trl decontaminate`)."}
    )

    def __post_init__(self) -> None:
        if self.decontaminate_ngram_size < 2:
            raise ValueError(
                f"decontaminate_ngram_size must be at least 2, got {self.decontaminate_ngram_size}"
            )


def check_benchmarks(args: DecontaminationArguments, where: str) -> None:
    """The benchmark entries are known and their local files exist (cheap; before any data loads)."""
    from dart_trl.decontam.questions import resolve

    if args.decontaminate is not None:
        resolve(args.decontaminate, f"{where}: key 'decontaminate'")


def contaminated_rows(
    args: DecontaminationArguments,
    texts: dict[str, list],
    where: str,
    cache_dir: str | None = None,
) -> tuple[list[int], str]:
    """The rows of ``texts`` (column -> one text per row) that contain a benchmark question, and a
    one-line account of them (counts per benchmark and the first rows, named by ``ids`` when given)."""
    from dart_trl.decontam.questions import resolve
    from dart_trl.decontam.scan import build_index, scan

    sources = resolve(args.decontaminate or [], f"{where}: key 'decontaminate'")
    index, _ = build_index(sources, args.decontaminate_ngram_size, 5, cache_dir)
    result = scan(texts, index, num_proc=1)
    rows = result.contaminated()
    counts = {name: c["rows"] for name, c in result.per_benchmark().items() if c["rows"]}
    summary = ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"
    rows_checked = result.rows
    return rows, f"{len(rows)} of {rows_checked} rows contain benchmark questions ({summary})"


def apply(
    args: DecontaminationArguments,
    texts: dict[str, list],
    where: str,
    job: str,
    ids: list | None = None,
    cache_dir: str | None = None,
) -> list[int]:
    """Run the check: raise :class:`RecipeError` (refuse) or return the rows to drop (drop), printing
    the outcome either way. No check (``decontaminate`` unset): no rows."""
    if args.decontaminate is None:
        return []
    rows, account = contaminated_rows(args, texts, where, cache_dir)
    if rows and args.decontaminate_action == "refuse":
        names = [str(ids[r]) if ids is not None else str(r) for r in rows[:SHOWN_ROWS]]
        more = ", ..." if len(rows) > SHOWN_ROWS else ""
        label = "ids" if ids is not None else "rows"
        raise RecipeError(
            f"{where}: {account}; first {label}: {', '.join(names)}{more} "
            "(run `dart-trl decontaminate` for the list, or set decontaminate_action: drop)"
        )
    verb = "dropped" if rows else "none dropped"
    print(f"dart-trl {job}: decontamination: {account}; {verb}", file=sys.stderr)
    return rows
