"""``dart-trl grpo``: difficulty-staged GRPO with a verifiable math reward (TRL's GRPOTrainer).

The recipe holds TRL's ``GRPOConfig`` / ``ModelConfig`` keys and this job's own (data, rewards,
curriculum: :class:`StagedGRPOArguments`), then ``stages:``. A stage is a ``name``, optionally ``levels``
and ``max_samples``, and any other key of the recipe's ``StagedGRPOArguments`` or ``GRPOConfig``: its
settings are the recipe's values updated by the stage's. Stage ``name`` writes to
``<output_dir>/<name>``: ``checkpoint-*`` while it trains, ``final/`` (weights, tokenizer and
``stage_done.json``) when done. Stage k starts from stage k-1's ``final/`` weights. A finished stage
is skipped on rerun; an interrupted one resumes from its last ``checkpoint-*``. All stages share
one W&B group; each is its own W&B run (job type ``grpo-stage``) named after the stage.

Run it as ``dart-trl grpo RECIPE.yaml [--key value ...]`` (columns checked here, then trained under
``accelerate launch``), or ``python -m dart_trl.grpo RECIPE.yaml`` on one process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dart_trl.config import (
    Job,
    LaunchArguments,
    LazySection,
    Recipe,
    RecipeError,
    WandbArguments,
    parse_recipe,
    write_resolved_recipe,
)
from dart_trl.config.checks import check_attention, check_model
from dart_trl.config.keys import section_types
from dart_trl.decontam.guard import DecontaminationArguments, check_benchmarks
from dart_trl.files import write_atomic
from dart_trl.grpo.monitor import PROMPT_ID, CurriculumOptions
from dart_trl.grpo.rewards import REWARDS, check_reward_names
from dart_trl.locking import lock_output_dir, releases_output_dir_locks
from dart_trl.templates import TemplateName

GRPO_CONFIG = LazySection("trl", "GRPOConfig")
MODEL_CONFIG = LazySection("trl", "ModelConfig")
FINAL_DIR = "final"
DONE_FILE = "stage_done.json"
START_FILE = "start_weights.json"
RESERVED_KEYS = ("output_dir", "run_name", "resume_from_checkpoint")  # the job sets them for each stage
JOB_TYPE = "grpo-stage"
# The run's summary grpo/<name>: stage_done.json's <key> (running reward and dropped prompts are TRL's
# train/curriculum/* already)
SUMMARY_KEYS = {"stage_index": "stage_index", "questions": "num_prompts", "global_step": "global_step",
                "step": "step", "advanced_early": "advanced_early", "advanced_at_step": "advanced_at_step"}  # fmt: skip


@dataclass
class StageSpec:
    """One entry of ``stages:``: a name, the levels and rows it trains on, and recipe keys for it alone."""

    name: str = field(metadata={"help": "Stage name; the stage writes to <output_dir>/<name>."})
    levels: list[int | str] | None = field(
        default=None, metadata={"help": "Keep rows whose level (or one of a list of levels) is one of these."}
    )
    max_samples: int | None = field(default=None, metadata={"help": "Keep the first rows only."})
    overrides: dict[str, Any] = field(default_factory=dict)

    override_help = (
        "any GRPOConfig key or StagedGRPOArguments key but 'stages', for this stage only: max_steps or "
        "num_train_epochs, learning_rate, dataset, query_column, drop_uniform_prompts, ..."
    )

    @classmethod
    def override_keys(cls) -> dict[str, Any]:
        """The recipe keys a stage may set, and their types."""
        keys = {**section_types(GRPO_CONFIG), **section_types(StagedGRPOArguments)}
        return {k: v for k, v in keys.items() if k not in ("stages", "name", "levels", "max_samples")}

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.name):
            raise ValueError(
                f"'name' must be a simple directory name (letters, digits, _ . -), got {self.name!r}"
            )
        reserved = sorted(set(self.overrides) & set(RESERVED_KEYS))
        if reserved:
            raise ValueError(f"key '{reserved[0]}' is set by the job for each stage; remove it")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, got {self.max_samples}")
        if self.levels is not None and not self.levels:
            raise ValueError("levels is empty; list the levels this stage trains on")


@dataclass
class StagedGRPOArguments(CurriculumOptions):
    """dart-trl's own keys of a staged GRPO recipe (TRL's GRPOConfig and ModelConfig hold the rest)."""

    stages: list[StageSpec] = field(
        default_factory=list,
        metadata={"help": "The stages, in order: a list of StageSpec mappings (keys below)."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={
            "help": f"Rewards: built-in {list(REWARDS)}, or import paths of functions "
            "f(prompts, completions, **kwargs) or of reward factories. Weights: GRPOConfig's reward_weights."
        },
    )
    prompt_template: TemplateName = field(
        default="qwen-boxed", metadata={"help": "Prompt template of dart_trl.templates."}
    )
    dataset: str | None = field(
        default=None, metadata={"help": "Dataset of the stages (Hub id, file or directory)."}
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub config of the dataset."})
    query_column: str = field(default="query", metadata={"help": "Query column of the dataset."})
    answer_column: str = field(default="answer", metadata={"help": "Gold-answer column of the dataset."})
    level_column: str | None = field(
        default="level", metadata={"help": "Difficulty-level column (used by a stage's 'levels')."}
    )
    split: str = field(default="train", metadata={"help": "Dataset split."})
    grading_timeout: float = field(
        default=5.0, metadata={"help": "Seconds allowed per symbolic answer check in the accuracy reward."}
    )
    length_penalty_buffer: int = field(
        default=256,
        metadata={
            "help": "'length' reward: tokens before max_completion_length where the penalty ramps to -1."
        },
    )

    def __post_init__(self) -> None:
        check_reward_names(self.reward_funcs)
        if self.grading_timeout <= 0:
            raise ValueError(f"grading_timeout must be > 0 seconds, got {self.grading_timeout}")
        if self.length_penalty_buffer < 0:
            raise ValueError(f"length_penalty_buffer must be >= 0, got {self.length_penalty_buffer}")
        super().__post_init__()


def for_stage(section: type | LazySection, recipe: Recipe, stage: StageSpec) -> Any:
    """``section`` (StagedGRPOArguments or GRPO_CONFIG) built for ``stage``: the recipe's
    values updated by the stage's, writing to ``<output_dir>/<name>`` as run ``<name>``. This is the one
    rule by which a stage's keys apply."""
    fixed = {"output_dir": str(Path(recipe.get(GRPO_CONFIG).output_dir) / stage.name), "run_name": stage.name}
    try:
        return Recipe.build(recipe.path, {**recipe.values, **stage.overrides, **fixed}, [section]).configs[0]
    except RecipeError as err:
        message = str(err).removeprefix(f"{recipe.path}: ")
        raise RecipeError(f"{recipe.path}: stage '{stage.name}': {message}") from None


def check_stages(recipe: Recipe) -> None:
    """The checks that need no rows: model, rewards, each stage's settings and the columns its data has
    (peeked, not loaded; a missing one is named with the recipe key to set)."""
    from dart_trl.data import peek_columns

    where = str(recipe.path)
    model, top = recipe.get(MODEL_CONFIG), recipe.get(GRPO_CONFIG)
    check_model(model.model_name_or_path, where)
    check_attention(model.attn_implementation, where)
    if model.use_peft:
        raise RecipeError(f"{where}: use_peft is not supported: each stage saves full weights for the next")
    if top.resume_from_checkpoint:
        raise RecipeError(
            f"{where}: remove 'resume_from_checkpoint': stages resume from their own checkpoints"
        )
    stages = recipe.get(StagedGRPOArguments).stages
    peek = functools.cache(peek_columns)  # stages often share their data
    for i, stage in enumerate(stages):
        label = f"{where}: stage '{stage.name}'"
        if any(s.name == stage.name for s in stages[:i]):
            raise RecipeError(f"{label}: two stages are named '{stage.name}'")
        args, config = for_stage(StagedGRPOArguments, recipe, stage), for_stage(GRPO_CONFIG, recipe, stage)
        if config.remove_unused_columns:
            raise RecipeError(
                f"{label}: remove_unused_columns must be false: rewards read the 'answer' column"
            )
        weights = config.reward_weights
        if weights is not None and len(weights) != len(args.reward_funcs):
            raise RecipeError(
                f"{label}: reward_weights has {len(weights)} values for {len(args.reward_funcs)} reward_funcs"
            )
        if not args.dataset:
            raise RecipeError(f"{label}: 'dataset' is required (a Hub id, a file or a directory)")
        if stage.levels is not None and not args.level_column:
            raise RecipeError(f"{label}: 'levels' needs a 'level_column'")
        try:
            found = peek(args.dataset, args.split, args.dataset_config)
        except RecipeError as err:
            raise RecipeError(f"{label}: {err}") from None
        keys = {"query_column": args.query_column, "answer_column": args.answer_column}
        if stage.levels is not None:
            keys["level_column"] = args.level_column
        missing = {key: column for key, column in keys.items() if column not in found}
        if missing:
            what = ", ".join(f"'{column}' ({key})" for key, column in missing.items())
            raise RecipeError(
                f"{label}: {args.dataset} (split {args.split}) has no column {what}; its columns are "
                f"{found}; set {' and '.join(missing)} (recipe-wide or in the stage) to the right one"
            )
    check_benchmarks(recipe.get(DecontaminationArguments), where)


def validate(recipe: Recipe, options: None = None) -> None:
    """:func:`check_stages`, and with ``decontaminate_action: refuse`` the benchmark check of every
    stage's rows (this loads them)."""
    check_stages(recipe)
    decontam = recipe.get(DecontaminationArguments)
    if decontam.decontaminate is not None and decontam.decontaminate_action == "refuse":
        for stage in recipe.get(StagedGRPOArguments).stages:
            load_stage_data(recipe, stage)


def _as_levels(value: Any) -> list[str]:
    """The levels of one cell of a level column, as text (a list column holds several)."""
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def load_stage_data(recipe: Recipe, stage: StageSpec):
    """A stage's rows: columns ``query``, ``answer`` and ``prompt_id`` (prompts are rendered later).

    Raises :class:`RecipeError` naming the stage when the level filter leaves no rows (with the levels
    the data has), or, under ``decontaminate``, every row (``drop``) or any row (``refuse``, checked
    once: before launch) contains a benchmark question.
    """
    import datasets

    from dart_trl.data import load_table
    from dart_trl.decontam import guard
    from dart_trl.decontam.scan import column_values

    datasets.disable_progress_bars()  # the trainer has its own; keep a bad-input error to one line
    args = for_stage(StagedGRPOArguments, recipe, stage)
    label = f"{recipe.path}: stage '{stage.name}'"
    try:
        table = load_table(args.dataset, split=args.split, config=args.dataset_config)
    except RecipeError as err:
        raise RecipeError(f"{label}: {err}") from None
    if stage.levels is not None:
        wanted, column = {str(v) for v in stage.levels}, args.level_column
        present = table
        table = table.filter(lambda v: not wanted.isdisjoint(_as_levels(v)), input_columns=column)
        if len(table) == 0:
            values = sorted({level for v in present[column] for level in _as_levels(v)})[:10]
            raise RecipeError(
                f"{label}: no rows of {args.dataset} have {column} in {stage.levels} (empty level); its "
                f"{column} values include {values}"
            )
    if stage.max_samples is not None:
        table = table.select(range(min(stage.max_samples, len(table))))
    table = table.select_columns([args.query_column, args.answer_column])
    table = table.rename_columns(
        {k: v for k, v in {args.query_column: "query", args.answer_column: "answer"}.items() if k != v}
    )
    if len(table) == 0:
        raise RecipeError(f"{label}: dataset {args.dataset} has no rows")
    decontam = recipe.get(DecontaminationArguments)
    refused = recipe.checked_by_launcher and decontam.decontaminate_action == "refuse"  # before launch
    if decontam.decontaminate is not None and not refused:
        dropped = set(guard.apply(decontam, column_values(table, ["query"]), label, "grpo"))
        if len(dropped) == len(table):
            raise RecipeError(
                f"{label}: every row contains a benchmark question; nothing is left to train on"
            )
        table = table.select([i for i in range(len(table)) if i not in dropped])
    return table.add_column(PROMPT_ID, list(range(len(table))))


@releases_output_dir_locks
def main(argv: list[str] | None = None) -> int:
    """Run (or resume) every stage of a staged GRPO recipe in order."""
    recipe, _ = parse_recipe(argv, JOB)
    check_stages(recipe)
    stages = recipe.get(StagedGRPOArguments).stages
    tables = [load_stage_data(recipe, stage) for stage in stages]  # every stage's rows before a model loads

    from accelerate import PartialState
    from transformers import AutoTokenizer

    root = Path(recipe.get(GRPO_CONFIG).output_dir)
    model_args = recipe.get(MODEL_CONFIG)
    state = PartialState()
    if state.is_main_process:
        lock_output_dir(root)  # shared with `dart-trl grpo`, which took it before launching
        write_resolved_recipe(recipe, root)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=recipe.get(GRPO_CONFIG).trust_remote_code,
    )
    init_from = model_args.model_name_or_path
    steps = 0  # optimizer steps of the stages done so far: the next stage's steps count on from there
    for i, (stage, table) in enumerate(zip(stages, tables, strict=True)):
        final = root / stage.name / FINAL_DIR
        if (final / DONE_FILE).is_file():
            state.print(f"dart-trl grpo: stage '{stage.name}' is done ({final}); skipping it")
            summary = json.loads((final / DONE_FILE).read_text())
        else:
            summary = train_stage(recipe, stage, table, init_from, tokenizer, (i + 1, len(stages), steps))
            early = summary["advanced_at_step"]
            how = "done" if early is None else f"advanced early at step {early}"
            state.print(f"dart-trl grpo: stage '{stage.name}' {how}: {summary['global_step']} steps")
        steps += summary["global_step"]
        init_from = str(final)
    return 0


def last_checkpoint(stage_dir: Path) -> str | None:
    """The stage's newest complete ``checkpoint-*`` directory, to resume from, or None. A checkpoint
    is complete once its ``trainer_state.json`` (written last) exists: one torn by a kill mid-save is
    passed over."""
    found = [p for p in stage_dir.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name)]
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda p: int(p.name.split("-")[1]))) if complete else None


def train_stage(
    recipe: Recipe, stage: StageSpec, table, init_from: str, tokenizer, position: tuple
) -> dict[str, Any]:
    """Train one stage from ``init_from`` (or resume it) and save its final weights; returns its summary.

    ``position`` is (stage index from 1, number of stages, optimizer steps of the stages before it)."""
    from accelerate import PartialState

    from dart_trl.grpo.curriculum import CurriculumCallback, StagedGRPOTrainer
    from dart_trl.grpo.monitor import StageMonitor
    from dart_trl.grpo.rewards import RewardContext, build_rewards
    from dart_trl.templates import format_prompt
    from dart_trl.tracking.runs import finish_wandb, producers, start_run

    model_args = recipe.get(MODEL_CONFIG)
    args, config = for_stage(StagedGRPOArguments, recipe, stage), for_stage(GRPO_CONFIG, recipe, stage)
    stage_dir = Path(config.output_dir)
    state = PartialState()
    checkpoint = last_checkpoint(stage_dir)
    config.model_init_kwargs = {
        "revision": model_args.model_revision if init_from == model_args.model_name_or_path else None,
        "trust_remote_code": config.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(config.model_init_kwargs or {}),
    }
    monitor = StageMonitor(args)
    if checkpoint:
        monitor.load_from_checkpoint(checkpoint)
    stage_index, num_stages, step_offset = position
    run = None
    if state.is_main_process:
        run = start_run(
            recipe,
            job_type=JOB_TYPE,
            name=stage.name,
            output_dir=stage_dir,
            report_to=config.report_to,
            default_group=stage_dir.parent.resolve().name,
            stage=stage.name,
            stage_index=stage_index,
            num_stages=num_stages,
            stage_levels=stage.levels,
            step_offset=step_offset,
            model_name_or_path=init_from,  # the weights this stage trains
            base_model=model_args.model_name_or_path,
            init_from=init_from,
            resumed_from=checkpoint,
            **producers(model=init_from, data=args.dataset),
        )
    prompts = table.map(
        lambda row: {"prompt": format_prompt(args.prompt_template, str(row["query"]), tokenizer)},
        desc="prompts",
    )
    trainer = StagedGRPOTrainer(
        model=init_from,
        reward_funcs=build_rewards(
            args.reward_funcs,
            RewardContext(config.max_completion_length, args.grading_timeout, args.length_penalty_buffer),
        ),
        args=config,
        train_dataset=prompts,
        processing_class=tokenizer,
        callbacks=[CurriculumCallback(monitor)],
        monitor=monitor,
        step_offset=step_offset,
    )
    if not checkpoint and state.is_main_process:  # the weights a fresh stage starts from
        start = {"init_from": init_from, "digest": weights_digest(trainer.model)}
        write_atomic(stage_dir / START_FILE, json.dumps(start, indent=2))
    trainer.train(resume_from_checkpoint=checkpoint)
    final = stage_dir / FINAL_DIR
    trainer.save_model(str(final))
    summary = {
        "stage": stage.name,
        "init_from": init_from,
        "resumed_from": checkpoint,
        "stage_index": stage_index,
        "global_step": trainer.state.global_step,
        "step": step_offset + trainer.state.global_step,
        "advanced_early": monitor.advanced_at_step is not None,
        "advanced_at_step": monitor.advanced_at_step,
        "running_reward": monitor.running_reward,
        "dropped_prompts": len(monitor.dropped),
        "num_prompts": len(table),
    }
    if state.is_main_process:
        write_atomic(final / DONE_FILE, json.dumps(summary, indent=2, default=str))
        if run is not None:
            named = {f"grpo/{name}": summary[key] for name, key in SUMMARY_KEYS.items()}
            run.summary.update({k: v for k, v in named.items() if v is not None})
            finish_wandb(run)
    state.wait_for_everyone()
    return summary


def weights_digest(model) -> str:
    """SHA-256 over a model's parameters (names and float32 bytes): equal digests, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.removeprefix("module.").encode())
        digest.update(tensor.detach().to("cpu").float().contiguous().numpy().tobytes())
    return digest.hexdigest()


JOB = Job(
    "grpo",
    main,
    sections=(
        LaunchArguments,
        StagedGRPOArguments,
        DecontaminationArguments,
        WandbArguments,
        GRPO_CONFIG,
        MODEL_CONFIG,
    ),
    required=("model_name_or_path", "stages"),
    validate=validate,
    launch_as="dart_trl.grpo",
)
