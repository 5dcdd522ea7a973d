"""``dart-trl eval``: score a model on math benchmarks with the grader that builds the training data.

    dart-trl eval recipes/eval.yaml --model_name_or_path outputs/sft-mistral

Greedy pass@1 by default (the paper's 0-shot chain of thought with the Alpaca template, 2048 new
tokens); ``n`` > 1 samples per question (with ``temperature`` > 0) adds pass@n and maj@n. Outputs in
``output_dir``: ``results.json`` (accuracy per benchmark and their average), one ``<benchmark>.jsonl``
per benchmark with a row per sample (query, gold, completion, extracted answer, correct, reason), and
the resolved recipe. Each benchmark is scored as the paper scores it (all its items); a benchmark's
views (TheoremQA without its picture questions) are extra figures under ``views`` in results.json,
indented rows in the printed table and ``bench/<benchmark>/<view>/accuracy`` in W&B, never in the
average. Graded samples are appended to ``<benchmark>.partial.jsonl`` every
``save_every`` questions, so an interrupted run started again with the same recipe resumes where it
stopped. Rows without a gold answer or a query are skipped: listed in ``results.json`` and the printed
summary, never sent to the model nor scored. With W&B (:mod:`dart_trl.eval.tracking`, docs/wandb.md):
``bench/<benchmark>/accuracy`` and the other numbers, a per-item table per benchmark, ``bench/table``
with a row per benchmark, and ``bench/average/accuracy``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
from dart_trl.config.checks import check_model
from dart_trl.eval.benchmarks import (
    BENCHMARKS,
    PAPER_BENCHMARKS,
    Benchmark,
    BenchmarkSpec,
    EvalItem,
    LoadedBenchmark,
    check_data_files,
    custom_benchmark,
    get_benchmark,
    load_benchmark,
    remap_fields,
)
from dart_trl.eval.results import RESULTS_NAME, write_results
from dart_trl.grading.equivalence import Options
from dart_trl.locking import lock_output_dir, releases_output_dir_locks
from dart_trl.processes import watched
from dart_trl.sampling import LazySampler, Request, SamplingArguments
from dart_trl.templates import TemplateName, chat_tokenizer, format_prompt
from dart_trl.tracking.runs import RUN_ID_FILE

RUN_KEY_NAME = "run_key.json"
PARTIAL_SUFFIX = ".partial.jsonl"
# Sampling settings that change the completions; the others (backend, server, batch sizes) do not.
SAMPLING_KEY_FIELDS = ("temperature", "top_p", "max_tokens", "stop", "seed")
SHOWN_SKIPS = 5  # skipped rows named in the printed summary (results.json lists them all)


@dataclass
class EvalSamplingArguments(SamplingArguments):
    """Sampling arguments with evaluation's default: greedy decoding."""

    temperature: float = field(
        default=0.0, metadata={"help": "Sampling temperature; 0 (greedy, the default) is the paper's pass@1."}
    )


@dataclass
class EvalArguments:
    """Recipe keys of ``dart-trl eval``."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model to score: a Hub id or a local directory (required)."}
    )
    benchmarks: list[str | BenchmarkSpec] = field(
        default_factory=lambda: list(PAPER_BENCHMARKS),
        metadata={
            "help": f"Benchmarks to run: registry names ({', '.join(BENCHMARKS)}), or BenchmarkSpec mappings "
            "(keys below). Default: the paper's six."
        },
    )
    prompt_template: TemplateName | None = field(
        default=None,
        metadata={
            "help": "Prompt template (alpaca, deepseekmath, qwen-boxed, raw, chat); default: each "
            "benchmark's own (alpaca)."
        },
    )
    n: int = field(
        default=1,
        metadata={"help": "Samples per question; > 1 (with temperature > 0) adds pass@n and maj@n."},
    )
    limit: int | None = field(
        default=None, metadata={"help": "Keep the first `limit` rows of every benchmark (smoke runs)."}
    )
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where results.json, the per-item JSONL files and the resolved recipe go (default: "
            "outputs/eval/<model directory name>, one per model, so `dart-trl compare outputs/eval/*` finds "
            "every model)."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start afresh when output_dir holds results of another model or sampling setup "
            "(otherwise that is an error, and the same setup resumes)."
        },
    )
    save_every: int = field(
        default=512,
        metadata={"help": "Questions per generation chunk; graded samples are saved after each chunk."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where downloaded benchmark files are kept, verified by sha256 (default: "
            "$DART_TRL_CACHE/benchmarks, else ~/.cache/dart-trl/benchmarks)."
        },
    )
    grading_timeout: float = field(
        default=5.0, metadata={"help": "Seconds allowed for one symbolic equivalence check."}
    )
    grading_workers: int | None = field(
        default=None, metadata={"help": "Grader worker processes (default: the grader's own, min(2, CPUs))."}
    )
    report_to: Literal["wandb", "none"] = field(default="wandb", metadata={"help": "Log to W&B, or not."})
    run_name: str | None = field(
        default=None,
        metadata={
            "help": "Run name in results.json and W&B (default: eval-<model dir name>; for a final/ or "
            "checkpoint-N dir, eval-<two dirs above>-<dir>)."
        },
    )
    wandb_table_rows: int = field(
        default=1000, metadata={"help": "Most rows of each benchmark's per-item W&B table."}
    )

    def __post_init__(self) -> None:
        for key in ("n", "save_every", "wandb_table_rows"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be a positive integer, got {self.limit}")
        if self.grading_timeout <= 0:
            raise ValueError(f"grading_timeout must be > 0 seconds, got {self.grading_timeout}")
        if self.grading_workers is not None and self.grading_workers < 1:
            raise ValueError(f"grading_workers must be at least 1, got {self.grading_workers}")
        if self.output_dir is None and self.model_name_or_path:
            self.output_dir = str(Path("outputs/eval") / model_dir_name(self.model_name_or_path))


def model_dir_name(model: str) -> str:
    """The last part of a model's Hub id or local path (``outputs/sft-llama3-8b/`` -> ``sft-llama3-8b``); for a
    GRPO stage's final weights ``<run>/<stage>/final``, ``<run>-<stage>``; for a checkpoint
    ``<run>/checkpoint-N``, ``<run>-checkpoint-N``."""
    parts = Path(model.rstrip("/")).parts
    if len(parts) >= 3 and parts[-1] == "final":  # grpo.train.FINAL_DIR (no job imports another job)
        return f"{parts[-3]}-{parts[-2]}"
    if len(parts) >= 2 and re.fullmatch(r"checkpoint-\d+", parts[-1]):
        return f"{parts[-2]}-{parts[-1]}"
    return parts[-1] if parts else model


@dataclass(frozen=True)
class BenchmarkRun:
    """A benchmark as a recipe asks for it: the registry entry, local files and row limit."""

    benchmark: Benchmark
    data_files: list[str] | None
    limit: int | None


def resolve_benchmarks(args: EvalArguments) -> list[BenchmarkRun]:
    """Turn the recipe's ``benchmarks`` list into :class:`BenchmarkRun` s, checking names and files."""
    runs: list[BenchmarkRun] = []
    for entry in args.benchmarks:
        spec = BenchmarkSpec(name=entry) if isinstance(entry, str) else entry
        if spec.name not in BENCHMARKS and spec.data_files and spec.query_field and spec.answer_field:
            benchmark = custom_benchmark(spec.name, spec.query_field, spec.answer_field)
        else:
            benchmark = remap_fields(get_benchmark(spec.name), spec.query_field, spec.answer_field)
        limit = spec.limit if spec.limit is not None else args.limit
        runs.append(BenchmarkRun(benchmark, check_data_files(benchmark.name, spec.data_files), limit))
    names = [r.benchmark.name for r in runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RecipeError(f"benchmarks lists {repeated} more than once")
    return runs


def load_benchmarks(recipe: Recipe) -> tuple[list[BenchmarkRun], list[LoadedBenchmark]]:
    """Check the model and the benchmark entries, then read every benchmark once (public sources are
    downloaded and verified, local files read, mapped fields checked); all before any model is loaded."""
    args, sampling = recipe.get(EvalArguments), recipe.get(SamplingArguments)
    where = str(recipe.path)
    check_model(args.model_name_or_path, where)
    if not args.benchmarks:
        raise RecipeError(f"{where}: key 'benchmarks' is empty; name at least one of {list(BENCHMARKS)}")
    if args.n > 1 and sampling.temperature == 0:
        raise RecipeError(
            f"{where}: n = {args.n} samples need temperature > 0 (greedy samples are identical)"
        )
    try:
        runs = resolve_benchmarks(args)
    except RecipeError as err:
        raise RecipeError(f"{where}: key 'benchmarks': {err}") from None
    loaded = [load_benchmark(run.benchmark, run.data_files, run.limit, args.cache_dir) for run in runs]
    for bench in loaded:
        if bench.matches_pinned is False:
            print(
                f"dart-trl eval: note: benchmark '{bench.name}': its data_files differ from the pinned published "
                "file, so its scores may not compare with published ones",
                file=sys.stderr,
            )
    return runs, loaded


def validate(recipe: Recipe, options: None = None) -> None:
    """Every check of :func:`load_benchmarks` (``dart-trl eval RECIPE --check``)."""
    load_benchmarks(recipe)


def run_key(args: EvalArguments, sampling: SamplingArguments) -> dict[str, Any]:
    """What decides the completions of a run; a resumed run must match it."""
    key = {name: getattr(sampling, name) for name in SAMPLING_KEY_FIELDS}
    key.update(model=args.model_name_or_path, prompt_template=args.prompt_template, n=args.n)
    return key


def prepare_output_dir(args: EvalArguments, sampling: SamplingArguments) -> Path:
    """Create ``output_dir``; refuse to mix results of another setup unless ``overwrite_output_dir``."""
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = run_key(args, sampling)
    key_file = out / RUN_KEY_NAME
    if key_file.exists():
        old = json.loads(key_file.read_text())
        changed = sorted(k for k in key if old.get(k) != key[k])
        if changed and not args.overwrite_output_dir:
            raise RecipeError(
                f"{out} holds results of another setup ({', '.join(changed)} differ); "
                "use a new output_dir or --overwrite_output_dir true"
            )
        if changed:
            for stale in [*out.glob("*.jsonl"), out / RESULTS_NAME, out / RUN_ID_FILE]:
                stale.unlink(missing_ok=True)
    key_file.write_text(json.dumps(key, indent=2))
    return out


def read_records(path: Path, n: int) -> list[dict[str, Any]]:
    """Records of questions whose ``n`` samples are all saved in ``path`` (a torn last line is dropped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    counts = Counter(r["index"] for r in records)
    return [r for r in records if counts[r["index"]] == n]


def benchmark_metrics(records: Sequence[dict[str, Any]], n: int) -> dict[str, Any]:
    """Accuracy (mean correct share per question: greedy pass@1), reasons, and pass@n / maj@n for n > 1."""
    by_item: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_item[r["index"]].append(r)
    num = len(by_item)
    shares = [sum(r["correct"] for r in rows) / len(rows) for rows in by_item.values()]
    metrics: dict[str, Any] = {
        "accuracy": sum(shares) / num if num else None,  # None: no gradable question, nothing scored
        "correct": sum(r["correct"] for r in records),
        "total": num,
        "samples": len(records),
        "reasons": dict(Counter(r["reason"] for r in records).most_common()),
    }
    if n > 1 and num:
        metrics[f"pass@{n}"] = sum(any(r["correct"] for r in rows) for rows in by_item.values()) / num
        metrics[f"maj@{n}"] = sum(majority_correct(rows) for rows in by_item.values()) / num
    return metrics


def view_metrics(
    benchmark: Benchmark, loaded: LoadedBenchmark, records: Sequence[dict[str, Any]], n: int
) -> dict[str, dict[str, Any]]:
    """The metrics of each of the benchmark's views (the records of the items in it), with its description."""
    views = {}
    for view in benchmark.views:
        indices = loaded.views[view.name]
        metrics = benchmark_metrics([r for r in records if r["index"] in indices], n)
        views[view.name] = {"description": view.description, **metrics}
    return views


def majority_correct(rows: Iterable[dict[str, Any]]) -> bool:
    """Whether the answer most of a question's samples gave (maj@n) is correct.

    Each sample's ``vote`` names the first sample that gave an equivalent answer (see
    :func:`assign_votes`); samples without an answer do not vote. A tie goes to the answer given
    first (the lowest sample number), as ``collections.Counter.most_common`` does in the peers' harnesses.
    """
    rows = list(rows)
    votes = Counter(r["vote"] for r in rows if r["vote"] is not None)
    if not votes:
        return False
    winner = max(votes, key=lambda vote: (votes[vote], -vote))
    return next(bool(r["correct"]) for r in rows if r["sample"] == winner)


def assign_votes(rows: Sequence[dict[str, Any]], same: Callable[[str, str], bool]) -> None:
    """Set each sample's ``vote``: the number of the first sample of the question whose answer is the
    same, so that ``\\frac{12}{2}``, ``6.0`` and ``6`` are one vote.

    Correct answers all equal the gold, so they are one answer; a wrong answer joins the first earlier
    wrong answer with the same text or that ``same`` (the grader) finds equivalent. A sample with no answer, or cut off by
    ``max_tokens``, does not vote (``vote`` is None).
    """
    groups: list[dict[str, Any]] = []  # the first sample of each answer given so far
    for r in rows:
        r["vote"] = None
        if r["answer"] is None or r["reason"] == "truncated":
            continue
        first = next(
            (
                g
                for g in groups
                if g["correct"] == r["correct"]
                and (r["correct"] or _same_text(r["answer"], g["answer"]) or same(r["answer"], g["answer"]))
            ),
            None,
        )
        if first is None:
            groups.append(r)
            first = r
        r["vote"] = first["sample"]


def _same_text(a: str, b: str) -> bool:
    return a.split() == b.split()


def evaluate_benchmark(
    loaded: LoadedBenchmark,
    template: str,
    args: EvalArguments,
    sampling: SamplingArguments,
    sampler: LazySampler,
    grader,
    out: Path,
    tokenizer=None,
) -> list[dict[str, Any]]:
    """Generate, grade and save every question of ``loaded``; return one record per sample.

    Questions already saved (``<name>.jsonl`` of a finished run, ``<name>.partial.jsonl`` of an
    interrupted one) with the same query and gold are not generated again.
    """
    from tqdm.auto import tqdm

    final = out / f"{loaded.name}.jsonl"
    partial = out / f"{loaded.name}{PARTIAL_SUFFIX}"
    wanted = {item.index: (item.query, item.gold) for item in loaded.items}
    saved = read_records(final if final.exists() else partial, args.n)
    # Saved samples count only for questions still asked, unchanged (another limit or file may be in use).
    records = [r for r in saved if wanted.get(r["index"]) == (r["query"], r["gold"]) and "vote" in r]
    done = {r["index"] for r in records}
    partial.write_text("".join(json.dumps(r) + "\n" for r in records))
    final.unlink(missing_ok=True)
    todo = [item for item in loaded.items if item.index not in done]
    with tqdm(total=len(loaded.items), initial=len(done), desc=loaded.name, unit="q") as progress:
        for start in range(0, len(todo), args.save_every):
            chunk = todo[start : start + args.save_every]
            new = grade_chunk(chunk, template, args.n, sampling.seed, sampler, grader, tokenizer)
            with partial.open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in new)
            records += new
            progress.update(len(chunk))
    records.sort(key=lambda r: (r["index"], r["sample"]))
    final.write_text("".join(json.dumps(r) + "\n" for r in records))
    partial.unlink()
    return records


def grade_chunk(
    items: Sequence[EvalItem], template: str, n: int, seed: int, sampler: LazySampler, grader, tokenizer
) -> list[dict[str, Any]]:
    """Sample ``n`` completions per item and grade them; one record per completion."""
    requests = [
        Request(format_prompt(template, it.query, tokenizer), n=n, seed=seed + it.index) for it in items
    ]
    outputs = sampler.generate(requests)
    rows = [
        (it, k, c) for it, completions in zip(items, outputs, strict=True) for k, c in enumerate(completions)
    ]
    verdicts = grader.grade_batch(
        {"completion": c.text, "gold": it.gold, "finish_reason": c.finish_reason, **it.options}
        for it, _, c in rows
    )
    records = [
        {
            "index": it.index,
            "sample": k,
            "query": it.query,
            "gold": it.gold,
            "completion": c.text,
            "finish_reason": c.finish_reason,
            "answer": v.answer,
            "correct": v.correct,
            "reason": v.reason,
        }
        for (it, k, c), v in zip(rows, verdicts, strict=True)
    ]
    for i, it in enumerate(items):
        opts = Options.make(**{k: it.options.get(k) for k in ("rel_tol", "abs_tol", "answer_type")})
        assign_votes(records[i * n : (i + 1) * n], lambda a, b, opts=opts: grader.equivalent(a, b, opts))
    return records


def print_results(results: dict[str, Any]) -> None:
    """Print accuracy per benchmark, its views (indented, not in the average) and the average as a table."""
    from rich.console import Console
    from rich.table import Table

    views = any(m.get("views") for m in results["benchmarks"].values())
    caption = "indented rows: views, extra figures not in AVG" if views else None
    table = Table(title=f"{results['run_name']} ({results['model']})", caption=caption)
    for column in ("benchmark", "questions", "skipped", "accuracy %"):
        table.add_column(column, justify="left" if column == "benchmark" else "right")
    for name, m in results["benchmarks"].items():
        table.add_row(name, str(m["total"]), str(m["skipped"]), _percent(m["accuracy"]))
        for view, v in m.get("views", {}).items():
            table.add_row(f"  {name} / {view}", str(v["total"]), "", _percent(v["accuracy"]), style="dim")
    table.add_row("AVG", "", "", _percent(results["average"]), style="bold")
    console = Console()
    console.print(table)
    for name, m in results["benchmarks"].items():
        if m["skipped"]:
            first = "; ".join(f"index {s['index']}: {s['reason']}" for s in m["skipped_items"][:SHOWN_SKIPS])
            more = "; ..." if m["skipped"] > SHOWN_SKIPS else ""
            rows = "1 row" if m["skipped"] == 1 else f"{m['skipped']} rows"
            console.print(f"{name}: {rows} skipped, not scored ({first}{more})", highlight=False)


def _percent(accuracy: float | None) -> str:
    return "-" if accuracy is None else f"{100 * accuracy:.1f}"


@watched
@releases_output_dir_locks
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dart-trl eval RECIPE [--key value ...]``."""
    recipe, _ = parse_recipe(argv, JOB)
    specs, loaded = load_benchmarks(recipe)

    from dart_trl.eval.tracking import log_benchmark, log_results
    from dart_trl.grading import Grader
    from dart_trl.tracking.runs import finish_wandb, producers, start_run

    args, sampling = recipe.get(EvalArguments), recipe.get(SamplingArguments)
    recipe.values["output_dir"] = args.output_dir  # the default, one per model, into the resolved recipe
    lock_output_dir(args.output_dir)
    templates = [args.prompt_template or spec.benchmark.template for spec in specs]
    recipe.values["stop"] = sampling.resolve_stop(templates)  # default: the templates' turn markers
    out = prepare_output_dir(args, sampling)
    write_resolved_recipe(recipe, out)
    model = args.model_name_or_path
    run_name = args.run_name or f"eval-{model_dir_name(model)}"
    tokenizer = chat_tokenizer(args.prompt_template, model)
    run = start_run(
        recipe,
        job_type="eval",
        name=run_name,
        output_dir=out,
        report_to=args.report_to,
        benchmarks=[b.name for b in loaded],
        **producers(model=model),
    )
    results: dict[str, Any] = {
        "run_name": run_name,
        "model": model,
        **run_key(args, sampling),
        "benchmarks": {},
    }
    sampler = LazySampler(model, sampling)
    try:
        with Grader(mode="default", timeout=args.grading_timeout, num_workers=args.grading_workers) as grader:
            for spec, bench in zip(specs, loaded, strict=True):
                template = args.prompt_template or spec.benchmark.template
                records = evaluate_benchmark(bench, template, args, sampling, sampler, grader, out, tokenizer)
                metrics = benchmark_metrics(records, args.n)
                metrics.update(
                    skipped=len(bench.skipped),
                    skipped_items=[{"index": i, "reason": why} for i, why in bench.skipped],
                    views=view_metrics(spec.benchmark, bench, records, args.n),
                    source=bench.source,
                    data_sha256=bench.sha256,
                    matches_pinned=bench.matches_pinned,
                    prompt_template=template,
                    items_file=f"{bench.name}.jsonl",
                )
                results["benchmarks"][bench.name] = metrics
                if run is not None:
                    log_benchmark(run, bench.name, metrics, records, args.wandb_table_rows)
    finally:
        sampler.close()
    accuracies = [m["accuracy"] for m in results["benchmarks"].values() if m["accuracy"] is not None]
    results["average"] = sum(accuracies) / len(accuracies) if accuracies else None
    if run is not None:
        log_results(run, results)
        results["wandb"] = {
            "id": run.id,
            "project": run.project,
            "group": run.group or None,
            "dir": str(Path(run.dir).parent),
        }
    path = write_results(out, results)
    finish_wandb(run)
    print_results(results)
    print(f"results: {path}")
    return 0


JOB = Job(
    "eval",
    main,
    sections=(LaunchArguments, EvalSamplingArguments, EvalArguments, WandbArguments),
    required=("model_name_or_path",),
    validate=validate,
)

if __name__ == "__main__":
    sys.exit(run_guarded("eval", main, sys.argv[1:]))
