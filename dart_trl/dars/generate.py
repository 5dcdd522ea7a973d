"""``dart-trl generate RECIPE [--key value ...] [--plan] [--shard i/N] [--merge [DIR ...]]``.

DARS data synthesis (VRT, Uniform, Prop2Diff): sample responses for a query pool, keep the correct
ones with exact per-query targets, resumably. ``--plan`` prints the expected raw samples and stops;
``--shard i/N`` samples the i-th of N deterministic parts of the pool into
``<output_dir>/shard-i-of-N``; ``--merge`` combines shard directories (the given ones, or every
``shard-*`` under ``output_dir``) into ``output_dir``. The logic lives in ``dart_trl.dars``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dart_trl.config import (
    LaunchArguments,
    Recipe,
    RecipeError,
    parse_job_argv,
    run_guarded,
    write_resolved_recipe,
)
from dart_trl.dars.allocation import AllocationConfig
from dart_trl.dars.config import DarsArguments
from dart_trl.dars.pools import check_pool_declarations, load_pools, parse_shard, select_shard
from dart_trl.processes import watched
from dart_trl.sampling import SamplingArguments
from dart_trl.templates import template_names

RECIPE_TYPES = (DarsArguments, SamplingArguments, LaunchArguments)


def validate(recipe: Recipe) -> None:
    """Cheap recipe checks (values, pool declarations, local files), before any data or model is loaded."""
    args: DarsArguments = recipe.get(DarsArguments)
    sampling: SamplingArguments = recipe.get(SamplingArguments)
    where = str(recipe.path)
    if not args.model_name_or_path:
        raise RecipeError(f"{where}: 'model_name_or_path' is required")
    if not args.output_dir:
        raise RecipeError(f"{where}: 'output_dir' is required")
    for key in ("k_u", "k_p", "max_trials", "max_rounds", "max_samples_per_round", "chunk_samples"):
        if getattr(args, key) < 1:
            raise RecipeError(f"{where}: '{key}' must be at least 1, got {getattr(args, key)}")
    if args.probe_samples < 0:
        raise RecipeError(f"{where}: 'probe_samples' must be >= 0, got {args.probe_samples}")
    if not 0 < args.request_fraction <= 4:
        raise RecipeError(f"{where}: 'request_fraction' must be in (0, 4], got {args.request_fraction}")
    if args.prompt_template not in template_names():
        raise RecipeError(
            f"{where}: unknown prompt_template '{args.prompt_template}'; choose from {template_names()}"
        )
    if sampling.backend == "openai" and not sampling.base_url:
        raise RecipeError(f"{where}: backend openai needs 'base_url', e.g. http://127.0.0.1:8000/v1")
    if args.push_to_hub and not args.hub_dataset_id:
        raise RecipeError(f"{where}: push_to_hub needs 'hub_dataset_id'")
    check_pool_declarations(args.pools, where)
    if args.pool_info and args.pool_info.startswith((".", "/", "~")) and not Path(args.pool_info).exists():
        raise RecipeError(f"{where}: pool_info file not found: {args.pool_info}")


def allocation_config(args: DarsArguments) -> AllocationConfig:
    """The allocation settings of a recipe."""
    return AllocationConfig(
        strategy=args.strategy,
        k_u=args.k_u,
        k_p=args.k_p,
        max_trials=args.max_trials,
        probe_samples=args.probe_samples,
        fraction=args.request_fraction,
        max_samples_per_round=args.max_samples_per_round,
    )


def _split_merge(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Take ``--merge [DIR ...]`` out of argv (its directories are the non-option words after it)."""
    if "--merge" not in argv:
        return argv, None
    at = argv.index("--merge")
    end = at + 1
    while end < len(argv) and not argv[end].startswith("--"):
        end += 1
    return argv[:at] + argv[end:], argv[at + 1 : end]


def _start_wandb(recipe: Recipe, args: DarsArguments, output_dir: Path, **extra):
    from dart_trl.tracking.runs import init_wandb, run_config, wandb_enabled

    if not wandb_enabled(args.report_to):
        return None
    return init_wandb(
        name=args.run_name or output_dir.name,
        job_type="generate",
        config=run_config(recipe, **extra),
        run_dir=None,
    )


def _finish(recipe, args, config, store, queries, known, reporter) -> int:
    from dart_trl.dars.finalize import dataset_card, finalize, push_dataset
    from dart_trl.dars.report import FIGURE_FILE, plot_responses_per_query, summary_counts

    out = finalize(store, queries, config, known)
    figure = plot_responses_per_query(out.query_info, store.root / FIGURE_FILE, f"DARS-{config.strategy}")
    card = dataset_card(config, args.model_name_or_path, out.query_info, out.num_responses)
    (store.root / "README.md").write_text(card)
    counts = summary_counts(out.query_info)
    print(
        f"dataset: {out.num_responses} responses for {counts['num_queries']} queries from "
        f"{counts['total_raw_samples']} raw samples -> {out.dataset_path}; per-query stats -> {out.query_info_path}"
    )
    if reporter is not None:
        reporter.finish(out.query_info, out.rows, figure)
    if args.push_to_hub:
        push_dataset(out.dataset_path, card, args.hub_dataset_id, args.hub_private)
        print(f"pushed to https://huggingface.co/datasets/{args.hub_dataset_id}")
    return 0


@watched
def main(argv: list[str] | None = None) -> int:
    """Run data synthesis (or ``--plan`` / ``--merge``) from a recipe."""
    from dart_trl.dars.difficulty import load_pass_rates
    from dart_trl.dars.merge import find_shard_dirs, merge_shards, shard_dirname
    from dart_trl.dars.plan import plan_text
    from dart_trl.dars.report import Reporter
    from dart_trl.dars.store import SampleStore
    from dart_trl.dars.synthesis import synthesize

    argv = list(sys.argv[1:] if argv is None else argv)
    argv, merge_dirs = _split_merge(argv)
    recipe, options = parse_job_argv(argv, RECIPE_TYPES, flags={"plan": False, "shard": True})
    validate(recipe)
    import datasets

    datasets.disable_progress_bars()  # the run has its own progress bar; keep errors to one line
    args: DarsArguments = recipe.get(DarsArguments)
    sampling: SamplingArguments = recipe.get(SamplingArguments)
    config = allocation_config(args)
    output_dir = Path(args.output_dir)
    known = load_pass_rates(args.pool_info) if args.pool_info else {}

    if merge_dirs is not None:
        store = SampleStore(output_dir)
        dirs = [Path(d) for d in merge_dirs] or find_shard_dirs(output_dir)
        queries = merge_shards(store, dirs)
        write_resolved_recipe(recipe, output_dir)
        print(f"merged {len(dirs)} shard directories ({len(queries)} queries) into {output_dir}")
        run = _start_wandb(recipe, args, output_dir, merged_from=[str(d) for d in dirs])
        reporter = Reporter(run, len(queries), len(queries)) if run is not None else None
        return _finish(recipe, args, config, store, queries, known, reporter)

    shard = parse_shard(options["shard"]) if "shard" in options else None
    queries, reports = load_pools(args.pools)
    for report in reports:
        print(report.line())
    queries = select_shard(queries, shard)
    if shard is not None:
        output_dir = output_dir / shard_dirname(*shard)
        print(f"shard {shard[0]}/{shard[1]}: {len(queries)} queries -> {output_dir}")
    if options.get("plan"):
        print(plan_text(queries, config, known, args.plan_pass_rates, args.plan_samples_per_second))
        return 0

    store = SampleStore(output_dir)
    previous = store.read_state()
    if previous.get("strategy") and previous["strategy"] != args.strategy:
        print(
            f"note: {output_dir} holds samples of a {previous['strategy']} run; they are reused for {args.strategy}"
        )
    store.write_queries(queries)
    write_resolved_recipe(recipe, output_dir)

    tokenizer = None
    if args.prompt_template == "chat":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)

    def prompt_of(query):
        from dart_trl.templates import format_prompt

        return format_prompt(args.prompt_template, query.query, tokenizer)

    def make_sampler():
        from dart_trl.sampling import build_sampler

        return build_sampler(args.model_name_or_path, sampling)

    from dart_trl.grading import Grader

    run = _start_wandb(recipe, args, output_dir, num_queries=len(queries), shard=options.get("shard"))
    reporter = Reporter(run, len(queries))
    with Grader(mode="default", timeout=args.grading_timeout) as grader:
        synthesize(
            queries,
            config,
            store,
            make_sampler,
            grader,
            prompt_of,
            seed=sampling.seed,
            max_rounds=args.max_rounds,
            chunk_samples=args.chunk_samples,
            on_round=reporter.round_done,
            known_pass_rates=known,
        )
    return _finish(recipe, args, config, store, queries, known, reporter)


if __name__ == "__main__":
    sys.exit(run_guarded("generate", main, sys.argv[1:]))
