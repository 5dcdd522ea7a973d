"""``dart-trl generate RECIPE [--key value ...] [--plan] [--shard i/N] [--merge [DIR ...]]``.

DARS data synthesis (VRT, Uniform, Prop2Diff): sample responses for a query pool, keep the correct
ones with exact per-query targets, resumably. ``--plan`` prints the expected raw samples and stops;
``--shard i/N`` samples the i-th of N deterministic parts of the pool into
``<output_dir>/shard-i-of-N``; ``--merge`` combines shard directories (the given ones, or every
``shard-*`` under ``output_dir``) into ``output_dir``. The logic lives in ``dart_trl.dars``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from dart_trl.config import (
    Job,
    LaunchArguments,
    Recipe,
    WandbArguments,
    parse_recipe,
    run_guarded,
    write_resolved_recipe,
)
from dart_trl.config.checks import check_file, check_model
from dart_trl.dars.config import DarsArguments
from dart_trl.dars.difficulty import KnownDifficulty, check_info_columns, join_pool_info
from dart_trl.dars.pools import (
    Query,
    check_pool_columns,
    check_pool_files,
    load_pools,
    parse_shard,
    select_shard,
)
from dart_trl.decontam.guard import DecontaminationArguments, check_benchmarks
from dart_trl.locking import lock_output_dir, releases_output_dir_locks
from dart_trl.processes import watched
from dart_trl.sampling import SamplingArguments


@dataclass
class GenerateOptions:
    """Command-line options of ``dart-trl generate`` (not recipe keys)."""

    plan: bool = field(
        default=False,
        metadata={"help": "Print the expected raw samples (and GPU hours) per level, then stop."},
    )
    shard: str | None = field(
        default=None,
        metadata={
            "help": "i/N: sample the i-th of N deterministic parts of the pool into output_dir/shard-i-of-N."
        },
    )
    merge: list[str] | None = field(
        default=None,
        metadata={
            "help": "Merge shard directories (these, or every shard-* under output_dir) into output_dir.",
        },
    )

    def __post_init__(self) -> None:
        if self.shard is not None:
            parse_shard(self.shard)


def validate(recipe: Recipe, options: GenerateOptions | None = None) -> None:
    """The files the recipe names exist (local pools, pool_info) and have the columns it names, read from
    their schemas before any rows load. The model is checked only for a run that samples (not for
    ``--plan`` or ``--merge``)."""
    args: DarsArguments = recipe.get(DarsArguments)
    where = str(recipe.path)
    if options is None or not (options.plan or options.merge is not None):
        check_model(args.model_name_or_path, where)
    check_pool_files(args.pools, where)
    for i, spec in enumerate(args.pool_info_specs):
        check_file(spec.source, where, f"pool_info[{i}]")
        check_file(spec.queries, where, f"pool_info[{i}].queries")
    check_pool_columns(args.pools, where)
    check_info_columns(args.pool_info_specs, where)
    check_benchmarks(recipe.get(DecontaminationArguments), where)


def decontaminated(recipe: Recipe, queries: list[Query]) -> tuple[list[Query], int]:
    """The pool after the recipe's benchmark check (``decontaminate``): refused (``RecipeError``), or without
    the queries that contain a benchmark question; and how many were dropped."""
    from dart_trl.decontam import guard

    texts, ids = {"query": [q.query for q in queries]}, [q.query_id for q in queries]
    dropped = set(guard.apply(recipe.get(DecontaminationArguments), texts, str(recipe.path), "generate", ids))
    return [q for i, q in enumerate(queries) if i not in dropped], len(dropped)


def known_difficulty(recipe: Recipe, args: DarsArguments, queries: list[Query]) -> KnownDifficulty:
    """Join the recipe's pool_info tables to the queries and print the coverage (a warning to stderr
    when it is partial); a table matching no query stops the job before any sampling."""
    known = join_pool_info(queries, args.pool_info_specs, str(recipe.path))
    if known.coverage is not None:
        print("\n".join(known.coverage.lines()))
        warning = known.coverage.warning()
        if warning:
            print(warning, file=sys.stderr)
    return known


def coverage_config(known: KnownDifficulty) -> dict:
    """The pool_info coverage as W&B config values (none without pool_info)."""
    return {} if known.coverage is None else {"pool_info_coverage": known.coverage.as_dict()}


def run_base_name(args: DarsArguments) -> str:
    """The W&B run name of the job: ``run_name``, else the output directory's name; a shard run adds
    ``-shard-00i-of-00N`` (its directory) and a merge run ``-merge``."""
    return args.run_name or Path(args.output_dir).resolve().name


def _start_wandb(recipe: Recipe, args: DarsArguments, output_dir: Path, name: str, **extra):
    from dart_trl.tracking.runs import producers, start_run

    return start_run(
        recipe,
        job_type="generate",
        name=name,
        output_dir=output_dir,
        report_to=args.report_to,
        **extra,
        **producers(model=args.model_name_or_path),
    )


def _finish(recipe, args, store, queries, known, reporter) -> int:
    from dart_trl.dars.finalize import dataset_card, finalize, push_dataset
    from dart_trl.dars.report import FIGURE_FILE, plot_responses_per_query, summary_counts

    out = finalize(store, queries, args, known)
    figure = plot_responses_per_query(out.query_info, store.root / FIGURE_FILE, f"DARS-{args.strategy}")
    card = dataset_card(args, args.model_name_or_path, out.query_info, out.num_responses)
    (store.root / "README.md").write_text(card)
    counts = summary_counts(out.query_info)
    print(
        f"dataset: {out.num_responses} responses for {counts['questions']} queries from "
        f"{counts['samples']} raw samples -> {out.dataset_path}; per-query stats -> {out.query_info_path}"
    )
    if reporter is not None:
        reporter.finish(out.query_info, out.rows, figure)
    if args.push_to_hub:
        push_dataset(out.dataset_path, card, args.hub_dataset_id, args.hub_private)
        print(f"pushed to https://huggingface.co/datasets/{args.hub_dataset_id}")
    return 0


@watched
@releases_output_dir_locks
def main(argv: list[str] | None = None) -> int:
    """Run data synthesis (or ``--plan`` / ``--merge``) from a recipe."""
    recipe, options = parse_recipe(argv, JOB)
    validate(recipe, options)

    import datasets

    from dart_trl.dars.merge import find_shard_dirs, merge_shards, shard_dirname
    from dart_trl.dars.plan import plan_text
    from dart_trl.dars.report import Reporter
    from dart_trl.dars.store import SampleStore
    from dart_trl.dars.synthesis import synthesize

    datasets.disable_progress_bars()  # the run has its own progress bar; keep errors to one line
    args: DarsArguments = recipe.get(DarsArguments)
    sampling: SamplingArguments = recipe.get(SamplingArguments)
    output_dir = Path(args.output_dir)
    recipe.values["stop"] = sampling.resolve_stop([args.prompt_template])  # shown in the resolved recipe

    if options.merge is not None:
        lock_output_dir(output_dir)
        store = SampleStore(output_dir)
        dirs = [Path(d) for d in options.merge] or find_shard_dirs(output_dir)
        for shard_dir in dirs:  # a shard still being written is not merged
            lock_output_dir(shard_dir)
        queries = merge_shards(store, dirs)
        write_resolved_recipe(recipe, output_dir)
        print(f"merged {len(dirs)} shard directories ({len(queries)} queries) into {output_dir}")
        known = known_difficulty(recipe, args, queries)
        run = _start_wandb(
            recipe,
            args,
            output_dir,
            f"{run_base_name(args)}-merge",
            merged_from=[str(d) for d in dirs],
            **coverage_config(known),
        )
        reporter = Reporter(run, len(queries), len(queries)) if run is not None else None
        return _finish(recipe, args, store, queries, known, reporter)

    shard = parse_shard(options.shard) if options.shard else None
    queries, reports = load_pools(args.pools, str(recipe.path))
    for report in reports:
        print(report.line())
    queries, dropped = decontaminated(recipe, queries)  # before any sampling, --plan included
    known = known_difficulty(recipe, args, queries)  # over the whole pool, so every shard sees the same
    queries = select_shard(queries, shard)
    if shard is not None:
        output_dir = output_dir / shard_dirname(*shard)
        print(f"shard {shard[0]}/{shard[1]}: {len(queries)} queries -> {output_dir}")
    if options.plan:
        rates = known.pass_rates
        print(plan_text(queries, args, rates, args.plan_pass_rates, args.plan_samples_per_second))
        print(f"stop strings: {sampling.stop}")
        return 0

    lock_output_dir(output_dir)
    store = SampleStore(output_dir)
    previous = store.read_state()
    if previous.get("strategy") and previous["strategy"] != args.strategy:
        print(
            f"note: {output_dir} holds samples of a {previous['strategy']} run; they are reused for {args.strategy}"
        )
    store.write_queries(queries)
    write_resolved_recipe(recipe, output_dir)

    from dart_trl.grading import Grader
    from dart_trl.sampling import LazySampler
    from dart_trl.templates import chat_tokenizer, format_prompt

    tokenizer = chat_tokenizer(args.prompt_template, args.model_name_or_path)

    def prompt_of(query):
        return format_prompt(args.prompt_template, query.query, tokenizer)

    name = run_base_name(args) + (f"-{shard_dirname(*shard)}" if shard is not None else "")
    run = _start_wandb(
        recipe,
        args,
        output_dir,
        name,
        shard=options.shard,
        decontaminated_queries=dropped,
        **coverage_config(known),
    )
    reporter = Reporter(run, len(queries))
    with Grader(mode="default", timeout=args.grading_timeout) as grader:
        synthesize(
            queries,
            args,
            store,
            LazySampler(args.model_name_or_path, sampling),
            grader,
            prompt_of,
            seed=sampling.seed,
            max_rounds=args.max_rounds,
            chunk_samples=args.chunk_samples,
            on_round=reporter.round_done,
            known_pass_rates=known.pass_rates,
        )
    return _finish(recipe, args, store, queries, known, reporter)


JOB = Job(
    "generate",
    main,
    sections=(DarsArguments, DecontaminationArguments, SamplingArguments, LaunchArguments, WandbArguments),
    options=GenerateOptions,
    required=("output_dir", "pools"),
    validate=validate,
)

if __name__ == "__main__":
    sys.exit(run_guarded("generate", main, sys.argv[1:]))
