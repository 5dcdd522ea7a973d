"""The math benchmarks ``dart-trl eval`` knows: where each one is published and how to read it.

Each :class:`Benchmark` names its public source (a Hub dataset id, config and split, or a published
file pinned to a commit with its sha256, :class:`~dart_trl.eval.sources.PinnedFile`), the field
holding the query, the field(s) the gold answer comes from, how the gold is taken, per-item grading
options (tolerances, answer types) and extra views (named subsets reported beside the benchmark's own
figure, such as TheoremQA without its picture questions). A recipe can point any benchmark at local
files (``data_files``), which is how offline machines and tests run, and can read a benchmark of its
own from local files by naming its query and answer fields (:func:`custom_benchmark`).

The first six entries are the paper's benchmarks (DART-Math, Table 2: MATH, GSM8K, CollegeMath,
DeepMind Mathematics, OlympiadBench-Math, TheoremQA), read and scored as the paper's code does: the
same items, the same gold fields; ``math500`` is the usual faster stand-in for ``math``.
CollegeMath, DeepMind Mathematics, OlympiadBench and TheoremQA are the files the DART-Math authors
published with their evaluation code, at the last commit that has them; AIME24, AMC23 and Minerva
come from the Qwen2.5-Math evaluation data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dart_trl.config import RecipeError
from dart_trl.data import MIRROR_ENV, load_table, require_columns
from dart_trl.eval.sources import PinnedFile, SourceUnavailable, fetch_pinned, file_sha256
from dart_trl.grading import last_boxed

# The DART-Math evaluation files left the repository's main branch in June 2024 (folder renamed, the
# CollegeMath file later deleted); this commit (the paper's release) has them under data/eval-dsets/.
DART_MATH_COMMIT = "a48240f66e7ad801f4ef86c821fdbda0a98f5764"
# Qwen2.5-Math's evaluation data; AIME24, AMC23 and Minerva are unchanged since 615096e (2024-08-08).
QWEN_MATH_COMMIT = "a45202bd16f1ec06f433442dc1152d0074773465"


def _dart_math_file(path: str, sha256: str) -> PinnedFile:
    return PinnedFile("hkust-nlp/dart-math", DART_MATH_COMMIT, f"data/eval-dsets/{path}", sha256)


def _qwen_math_file(path: str, sha256: str) -> PinnedFile:
    return PinnedFile("QwenLM/Qwen2.5-Math", QWEN_MATH_COMMIT, f"evaluation/data/{path}", sha256)


Row = Mapping[str, Any]


@dataclass(frozen=True)
class EvalItem:
    """One benchmark question: its position in the source, the query, the gold and grading options."""

    index: int
    query: str
    gold: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class View:
    """A named subset of a benchmark's items, scored as an extra figure beside the benchmark's own."""

    name: str
    description: str
    keep: Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class LoadedBenchmark:
    """A benchmark's items, the rows skipped (index, reason), the item indices of each view, where they
    came from and the files' sha256.

    ``matches_pinned`` says whether local ``data_files`` are byte-identical to the registry's pinned
    file (None when there is nothing to compare).
    """

    name: str
    source: str
    items: list[EvalItem]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    views: dict[str, frozenset[int]] = field(default_factory=dict)
    sha256: list[str] = field(default_factory=list)
    matches_pinned: bool | None = None


def _field_gold(name: str) -> Callable[[Row], str | None]:
    def gold(row: Row) -> str | None:
        value = row[name]
        return None if value is None else str(value)

    return gold


def _boxed_gold(name: str) -> Callable[[Row], str | None]:
    return lambda row: last_boxed(row[name] or "")


def gsm8k_gold(row: Row) -> str:
    """GSM8K: the number after ``####`` at the end of the worked answer, without thousands commas."""
    return row["answer"].split("####")[-1].strip().replace(",", "")


def olympiadbench_gold(row: Row) -> str:
    """OlympiadBench: the ``final_answer`` list joined with ", " (several answers compare as a set)."""
    return ", ".join(str(a) for a in row["final_answer"] or [])


def olympiadbench_options(row: Row) -> dict[str, Any]:
    """OlympiadBench: an item's ``error`` (e.g. ``"1e-1"``) is its absolute tolerance."""
    return {"abs_tol": float(row["error"])} if row.get("error") not in (None, "") else {}


def theoremqa_gold(row: Row) -> str:
    """TheoremQA: ``True``/``False``, a number, ``[a, b]`` for lists, or an option such as ``(c)``."""
    answer = row["Answer"]
    if isinstance(answer, (list, tuple)):
        return "[" + ", ".join(str(a) for a in answer) + "]"
    return str(answer)


def theoremqa_options(row: Row) -> dict[str, Any]:
    """TheoremQA: the item's ``Answer_type`` decides how answers compare (bool, list order, options)."""
    return {"answer_type": row["Answer_type"]} if row.get("Answer_type") else {}


def deepmind_options(row: Row) -> dict[str, Any]:
    """DeepMind Mathematics: a bracketed gold (``[2, 3]``: prime factors, roots, solutions) is an
    unordered set; numbers separated by spaces (``3 1 -4``: "Sort ... in decreasing order") are an
    ordered list."""
    gold = str(row["answer"]).strip()
    if gold.startswith("[") and gold.endswith("]"):
        return {"answer_type": "set"}
    if re.fullmatch(r"-?\d+(?:\.\d+)?(?:\s+-?\d+(?:\.\d+)?)+", gold):
        return {"answer_type": "list"}
    return {}


def theoremqa_without_picture(row: Row) -> bool:
    """TheoremQA: whether the question comes without a picture (53 of the 800 refer to one)."""
    return not row.get("Picture")


_OB_ANSWER_TYPES = {
    "Numerical": "a numerical value",
    "Expression": "an expression",
    "Equation": "an equation",
    "Interval": "an interval",
}


def olympiadbench_query(row: Row) -> str:
    """OlympiadBench's English open-ended maths instruction (answer type, boxed format, unit) + question.

    The instruction is the one OlympiadBench and the DART-Math evaluation put before each question.
    """
    kind = _OB_ANSWER_TYPES.get(str(row.get("answer_type") or "").split(",")[0].split("-")[0])
    multiple = bool(row.get("is_multiple_answer"))
    if kind is None or "Tuple" in str(row.get("answer_type")):
        type_text = ""
    elif multiple:
        type_text = f"The problem has multiple answers, each of them should be {kind}. "
    else:
        type_text = f"The answer of The problem should be {kind}. "
    boxed = "\\boxed{multiple answers connected with commas}" if multiple else "\\boxed{answer}"
    unit_text = ""
    if row.get("unit"):
        boxed += "(unit)"
        unit_text = ", note that the unit of the answer should not be included in \\boxed{}"
    instruction = (
        "The following is an open-ended problem from an International Math competition. "
        f"{type_text}Please calculate the answer according to the given requirements and the information "
        "provided. Please use LaTeX format to represent the variables and formulas used in the solution "
        f'process and results. Please end your solution with "So the final answer is {boxed}." and give '
        f"the result explicitly{unit_text}."
    )
    return f"{instruction}\n{row['question']}"


@dataclass
class BenchmarkSpec:
    """A benchmark entry given as a mapping: a registry benchmark with local files, other field names or a
    row limit, or (a new name with data_files and both fields) a benchmark of one's own."""

    name: str = field(metadata={"help": "A registry name (math500, gsm8k, ...) or a name of your own."})
    data_files: list[str] | str | None = field(
        default=None, metadata={"help": "Local files (or URLs) to read instead of the public source."}
    )
    limit: int | None = field(default=None, metadata={"help": "Keep the first rows only."})
    query_field: str | None = field(default=None, metadata={"help": "Field holding the question."})
    answer_field: str | None = field(default=None, metadata={"help": "Field holding the gold answer."})

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be a positive integer, got {self.limit}")


@dataclass(frozen=True)
class Benchmark:
    """A registry entry: public source, field mapping, gold extraction, grading options, template."""

    name: str
    description: str
    source: str | PinnedFile  # a Hub dataset id, or a published file pinned to a commit
    query_field: str
    gold_fields: tuple[str, ...]
    gold: Callable[[Row], str | None]
    split: str = "test"
    config: str | None = None
    num_items: int | None = None
    template: str = "alpaca"
    paper: bool = False
    query: Callable[[Row], str] | None = None
    options: Callable[[Row], dict[str, Any]] | None = None
    views: tuple[View, ...] = ()
    extra_fields: tuple[str, ...] = ()
    title: str = ""  # column header in comparison tables (the paper's short names)

    @property
    def required_fields(self) -> list[str]:
        """Every field the loader reads: query, gold and the fields options and views look at."""
        return [self.query_field, *self.gold_fields, *self.extra_fields]

    def to_item(self, index: int, row: Row) -> EvalItem | str:
        """Build the item of ``row``, or return why it is skipped (a null or empty query or gold
        answer): such rows are reported, never sent to the model nor scored."""
        if _blank(row[self.query_field]):
            return f"no query ('{self.query_field}' is null or empty)"
        if any(_blank(row[name]) for name in self.gold_fields):
            return f"no gold answer ('{self.gold_fields[0]}' is null or empty)"
        gold = self.gold(row)
        if _blank(gold):
            return f"no gold answer in '{self.gold_fields[0]}'"
        query = self.query(row) if self.query else str(row[self.query_field])
        options = self.options(row) if self.options else {}
        return EvalItem(index=index, query=query, gold=gold, options=options)


def _blank(value: Any) -> bool:
    """Null, an empty or whitespace-only string, or an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple)) and not value


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in [
        Benchmark(
            name="math",
            title="MATH",
            description="MATH test set, all 5000 problems (Hendrycks et al.)",
            source="DigitalLearningGmbH/MATH-lighteval",
            query_field="problem",
            gold_fields=("solution",),
            gold=_boxed_gold("solution"),
            num_items=5000,
            paper=True,
        ),
        Benchmark(
            name="gsm8k",
            title="GSM8K",
            description="GSM8K test split",
            source="openai/gsm8k",
            config="main",
            query_field="question",
            gold_fields=("answer",),
            gold=gsm8k_gold,
            num_items=1319,
            paper=True,
        ),
        Benchmark(
            name="college_math",
            title="College",
            description="CollegeMath test set (MWPBench)",
            source=_dart_math_file(
                "mwpbench/college-math-test.jsonl",
                "91131bc4a355b884fc63ef7c4f048c35adb030004a4cb07b1475698f120aa4a6",
            ),
            query_field="question",
            gold_fields=("answer",),
            gold=_field_gold("answer"),
            num_items=2818,
            paper=True,
        ),
        Benchmark(
            name="deepmind_math",
            title="DM",
            description="DeepMind Mathematics, the 1000-item subset used by DART-Math",
            source=_dart_math_file(
                "deepmind-mathematics.json",
                "1caa7e191af2df1c110ca405dcaf7fc663a1bac16f589e6af853bff5d1012a11",
            ),
            query_field="question",
            gold_fields=("answer",),
            gold=_field_gold("answer"),
            options=deepmind_options,
            num_items=1000,
            paper=True,
        ),
        Benchmark(
            name="olympiadbench",
            title="Olympiad",
            description="OlympiadBench OE_TO_maths_en_COMP (open-ended, text-only, English maths)",
            source=_dart_math_file(
                "olympiadbench/OE_TO_maths_en_COMP.json",
                "3567c23130004c8936543aeb06739f094fcdcb1688cb2b655d0b18e7e1e3d4f9",
            ),
            query_field="question",
            gold_fields=("final_answer",),
            gold=olympiadbench_gold,
            query=olympiadbench_query,
            options=olympiadbench_options,
            extra_fields=("error",),
            num_items=675,
            paper=True,
        ),
        Benchmark(
            name="theoremqa",
            title="Theorem",
            description="TheoremQA, all 800 questions as in DART-Math (53 refer to a picture the model "
            "does not see; the view no_picture leaves them out)",
            source=_dart_math_file(
                "theoremqa.json", "84b85febccbcbc03668b710cc5c9fb3ffb972e19db88f5a3423bd943e025087c"
            ),
            query_field="Question",
            gold_fields=("Answer",),
            gold=theoremqa_gold,
            options=theoremqa_options,
            views=(
                View(
                    "no_picture",
                    "without the questions that refer to a picture (747 of the 800)",
                    theoremqa_without_picture,
                ),
            ),
            extra_fields=("Answer_type", "Picture"),
            num_items=800,
            paper=True,
        ),
        Benchmark(
            name="math500",
            title="MATH500",
            description="MATH-500, the 500-problem MATH test subset of 'Let's Verify Step by Step'",
            source="HuggingFaceH4/MATH-500",
            query_field="problem",
            gold_fields=("solution",),
            gold=_boxed_gold("solution"),
            num_items=500,
        ),
        Benchmark(
            name="aime24",
            title="AIME24",
            description="AIME 2024, 30 problems",
            source=_qwen_math_file(
                "aime24/test.jsonl", "af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10f1731f4372c8ae26990bf7ac"
            ),
            query_field="problem",
            gold_fields=("answer",),
            gold=_field_gold("answer"),
            num_items=30,
        ),
        Benchmark(
            name="amc23",
            title="AMC23",
            description="AMC 2023, the common 40-problem subset",
            source=_qwen_math_file(
                "amc23/test.jsonl", "43707e1ca784602d8479de24ee8ce36609dbebc46dd152b0b12a46611aa898a4"
            ),
            query_field="problem",
            gold_fields=("answer",),
            gold=_field_gold("answer"),
            num_items=40,
        ),
        Benchmark(
            name="minerva_math",
            title="Minerva",
            description="Minerva's MATH-style STEM problems (272), answer in the solution's \\boxed{}",
            source=_qwen_math_file(
                "minerva_math/test.jsonl", "0e656b430d3a0a1dab6aa853f453ba3805e28e2cabe4fc72486a897cc09d8ba2"
            ),
            query_field="problem",
            gold_fields=("solution",),
            gold=_boxed_gold("solution"),
            num_items=272,
        ),
    ]
}

PAPER_BENCHMARKS = [name for name, b in BENCHMARKS.items() if b.paper]


def get_benchmark(name: str) -> Benchmark:
    """The registry entry ``name``; a :class:`RecipeError` listing the registry when it is unknown."""
    if name in BENCHMARKS:
        return BENCHMARKS[name]
    close = difflib.get_close_matches(name, list(BENCHMARKS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise RecipeError(f"unknown benchmark '{name}'{hint}; the registry has: {', '.join(BENCHMARKS)}")


def remap_fields(benchmark: Benchmark, query_field: str | None, answer_field: str | None) -> Benchmark:
    """``benchmark`` reading the query and/or the gold (taken as it is) from other fields."""
    changes: dict[str, Any] = {}
    if query_field:
        changes.update(query_field=query_field, query=None)
    if answer_field:
        changes.update(gold_fields=(answer_field,), gold=_field_gold(answer_field))
    return replace(benchmark, **changes) if changes else benchmark


def custom_benchmark(name: str, query_field: str, answer_field: str) -> Benchmark:
    """A benchmark of one's own in local files: the query and the gold answer (as it is) by field name."""
    return Benchmark(
        name=name,
        description=f"local benchmark '{name}'",
        source="data_files",
        query_field=query_field,
        gold_fields=(answer_field,),
        gold=_field_gold(answer_field),
    )


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def check_data_files(name: str, data_files: str | Sequence[str] | None) -> list[str] | None:
    """Normalise ``data_files`` to a list and check that each local file exists."""
    if data_files is None:
        return None
    files = [data_files] if isinstance(data_files, str) else [str(f) for f in data_files]
    if not files:
        raise RecipeError(f"benchmark '{name}': data_files is empty")
    for f in files:
        if not _is_url(f) and not Path(f).expanduser().is_file():
            raise RecipeError(f"benchmark '{name}': data file not found: {f}")
    return [f if _is_url(f) else str(Path(f).expanduser()) for f in files]


def fetch_source(name: str, pinned: PinnedFile, cache_dir: str | None = None) -> Path:
    """The verified local copy of benchmark ``name``'s pinned file (cached, else downloaded and checked).

    When it cannot be had (offline, unreachable), one :class:`RecipeError` line names the benchmark
    and the ``data_files`` entry to set instead; a hash mismatch names the file, expected and got.
    """
    try:
        return fetch_pinned(pinned, cache_dir)
    except SourceUnavailable as err:
        raise RecipeError(
            f"benchmark '{name}': {err}; use a local copy of {pinned.name} (sha256 {pinned.sha256}): "
            f"benchmarks: [{{name: {name}, data_files: path/to/{pinned.name}}}]"
        ) from None
    except RecipeError as err:
        raise RecipeError(f"benchmark '{name}': {err}") from None


def _load_hub_benchmark(benchmark: Benchmark):
    """A benchmark's Hub split; when it cannot be loaded, one line naming the local ways out."""
    try:
        return load_table(benchmark.source, split=benchmark.split, config=benchmark.config)
    except RecipeError as err:
        stem = f"{benchmark.source.replace('/', '--')}--{benchmark.split}"
        raise RecipeError(
            f"benchmark '{benchmark.name}': {err}; use a local copy: benchmarks: [{{name: {benchmark.name}, "
            f"data_files: path/to/file.jsonl}}], or {stem}.parquet in ${MIRROR_ENV}"
        ) from None


def load_benchmark(
    benchmark: Benchmark,
    data_files: Sequence[str] | None = None,
    limit: int | None = None,
    cache_dir: str | None = None,
) -> LoadedBenchmark:
    """Read ``benchmark`` from ``data_files`` (local or URLs) or its public source, into items.

    A pinned published file is taken from ``cache_dir`` or downloaded and verified first
    (:func:`fetch_source`). Raises :class:`RecipeError` naming the file and the field when a mapped
    field is missing. ``limit`` keeps the first ``limit`` rows.
    """
    pinned = benchmark.source if isinstance(benchmark.source, PinnedFile) else None
    if not data_files and pinned is not None:
        data_files = [str(fetch_source(benchmark.name, pinned, cache_dir))]
        where = f"{pinned.url()} (cached at {data_files[0]})"
    else:
        where = ", ".join(data_files) if data_files else f"{benchmark.source} (split {benchmark.split})"
    if data_files:
        table = load_table(data_files[0], data_files=list(data_files))
        local = [f for f in data_files if not _is_url(f)]
        sha256 = [file_sha256(f) for f in local]
    else:
        table = _load_hub_benchmark(benchmark)
        sha256 = []
    require_columns(table, benchmark.required_fields, f"{where}: benchmark '{benchmark.name}'")
    if limit is not None:
        table = table.select(range(min(limit, len(table))))
    items: list[EvalItem] = []
    skipped: list[tuple[int, str]] = []
    views: dict[str, set[int]] = {view.name: set() for view in benchmark.views}
    for index, row in enumerate(table):
        item = benchmark.to_item(index, row)
        if isinstance(item, str):
            skipped.append((index, item))
            continue
        items.append(item)
        for view in benchmark.views:
            if view.keep(row):
                views[view.name].add(index)
    matches = None
    if pinned is not None and len(sha256) == 1 and len(data_files) == 1:
        matches = sha256[0] == pinned.sha256
    return LoadedBenchmark(
        name=benchmark.name,
        source=where,
        items=items,
        skipped=skipped,
        views={name: frozenset(indices) for name, indices in views.items()},
        sha256=sha256,
        matches_pinned=matches,
    )
