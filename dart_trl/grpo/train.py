"""``dart-trl grpo``: difficulty-staged GRPO with a verifiable math reward (TRL's GRPOTrainer).

The recipe holds TRL's ``GRPOConfig`` / ``ModelConfig`` fields for all stages, then ``stages:``
(see :mod:`dart_trl.grpo.stages`). Stage k starts from stage k-1's ``final/`` weights. A finished stage
is skipped on rerun; an interrupted one resumes from its last ``checkpoint-*``. All stages share
one W&B group; each is its own W&B run (job type ``grpo-stage``) named after the stage.

Run it as ``dart-trl grpo RECIPE.yaml [--key value ...]`` (validated here, then trained under
``accelerate launch``), or ``python -m dart_trl.grpo.train RECIPE.yaml`` on one process.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
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
from dart_trl.decontam.guard import DecontaminationArguments, check_benchmarks
from dart_trl.grpo.monitor import PROMPT_ID, CurriculumOptions
from dart_trl.grpo.rewards import REWARDS, check_reward_names
from dart_trl.grpo.stages import (
    DATA_KEYS,
    DONE_FILE,
    GRPO_CONFIG,
    Stage,
    StageSpec,
    load_stage_dataset,
    resolve_stages,
)
from dart_trl.locking import lock_output_dir, releases_output_dir_locks
from dart_trl.templates import TemplateName


@dataclass
class StagedGRPOArguments:
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
        default=None,
        metadata={
            "help": "Default dataset of the stages (Hub id, file or directory); stages may set their own."
        },
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "Default Hub config of the stages' dataset."}
    )
    query_column: str = field(default="query", metadata={"help": "Default query column of stage datasets."})
    answer_column: str = field(
        default="answer", metadata={"help": "Default gold-answer column of stage datasets."}
    )
    level_column: str | None = field(
        default="level", metadata={"help": "Default difficulty-level column (used by a stage's 'levels')."}
    )
    split: str = field(default="train", metadata={"help": "Default dataset split of the stages."})
    grading_timeout: float = field(
        default=5.0, metadata={"help": "Seconds allowed per symbolic answer check in the accuracy reward."}
    )
    length_penalty_buffer: int = field(
        default=256,
        metadata={
            "help": "'length' reward: tokens before max_completion_length where the penalty ramps to -1."
        },
    )
    drop_uniform_prompts: bool = field(
        default=False,
        metadata={
            "help": "Skip, for the rest of a stage, prompts whose groups were all correct or all wrong "
            "drop_patience times in a row (no learning signal)."
        },
    )
    drop_patience: int = field(
        default=1, metadata={"help": "Consecutive uniform groups before a prompt is dropped."}
    )
    advance_reward_threshold: float | None = field(
        default=None,
        metadata={
            "help": "Move to the next stage once the mean reward of the last advance_window generation "
            "batches reaches this value (null: run each stage to its max_steps / epochs)."
        },
    )
    advance_window: int = field(
        default=8, metadata={"help": "Generation batches in the running reward for advance_reward_threshold."}
    )

    def __post_init__(self) -> None:
        check_reward_names(self.reward_funcs)
        if self.grading_timeout <= 0:
            raise ValueError(f"grading_timeout must be > 0 seconds, got {self.grading_timeout}")
        if self.length_penalty_buffer < 0:
            raise ValueError(f"length_penalty_buffer must be >= 0, got {self.length_penalty_buffer}")
        if self.drop_patience < 1 or self.advance_window < 1:
            raise ValueError("drop_patience and advance_window must be at least 1")

    def curriculum(self) -> CurriculumOptions:
        """The recipe-wide curriculum settings (stages may override each)."""
        return CurriculumOptions(
            drop_uniform_prompts=self.drop_uniform_prompts,
            drop_patience=self.drop_patience,
            advance_reward_threshold=self.advance_reward_threshold,
            advance_window=self.advance_window,
        )


MODEL_CONFIG = LazySection("trl", "ModelConfig")


@dataclass
class StagePlan:
    """A stage ready to run: its resolved spec, its TRL GRPOConfig and its (unrendered) dataset."""

    stage: Stage
    args: Any
    dataset: Any


def check_recipe(recipe: Recipe) -> list[Stage]:
    """The checks that need neither TRL nor the data: model, rewards, stages; returns the resolved stages."""
    ours = recipe.get(StagedGRPOArguments)
    top, model = recipe.get(GRPO_CONFIG), recipe.get(MODEL_CONFIG)
    where = str(recipe.path)
    check_model(model.model_name_or_path, where)
    check_attention(model.attn_implementation, where)
    if model.use_peft:
        raise RecipeError(f"{where}: use_peft is not supported: each stage saves full weights for the next")
    if top.resume_from_checkpoint:
        raise RecipeError(
            f"{where}: remove 'resume_from_checkpoint': stages resume from their own checkpoints"
        )
    if top.remove_unused_columns:
        raise RecipeError(f"{where}: remove_unused_columns must be false: rewards read the 'answer' column")
    weights = top.reward_weights
    if weights is not None and len(weights) != len(ours.reward_funcs):
        raise RecipeError(
            f"{where}: reward_weights has {len(weights)} values for {len(ours.reward_funcs)} reward_funcs"
        )
    defaults = {key: getattr(ours, key) for key in DATA_KEYS}
    stages = resolve_stages(ours.stages, defaults, ours.curriculum(), where)
    for stage in stages:
        if stage.overrides.get("remove_unused_columns"):
            raise RecipeError(f"{where}: stage '{stage.name}': remove_unused_columns must be false")
    check_benchmarks(recipe.get(DecontaminationArguments), where)
    return stages


def decontaminated(recipe: Recipe, stage: Stage, table):
    """A stage's table after the recipe's benchmark check of its queries (``decontaminate``): refused
    (``RecipeError``; checked once, before launch), or without the matching rows, prompt ids renumbered."""
    from dart_trl.decontam import guard
    from dart_trl.decontam.scan import column_values

    args = recipe.get(DecontaminationArguments)
    if args.decontaminate is None or (recipe.checked_by_launcher and args.decontaminate_action == "refuse"):
        return table
    where = f"{recipe.path}: stage '{stage.name}'"
    dropped = set(guard.apply(args, column_values(table, ["query"]), where, "grpo"))
    if not dropped:
        return table
    if len(dropped) == len(table):
        raise RecipeError(f"{where}: every row contains a benchmark question; nothing is left to train on")
    table = table.select([i for i in range(len(table)) if i not in dropped]).remove_columns(PROMPT_ID)
    return table.add_column(PROMPT_ID, list(range(len(table))))


def stage_config(recipe: Recipe, stage: Stage):
    """The stage's GRPOConfig: the recipe's GRPOConfig keys, then the stage's overrides (imports TRL)."""
    from trl import GRPOConfig

    root = recipe.get(GRPOConfig).output_dir
    names = {f.name for f in dataclasses.fields(GRPOConfig) if f.init}
    values = {k: v for k, v in recipe.values.items() if k in names}
    values.update(stage.overrides)
    values.update(output_dir=str(stage.output_dir(root)), run_name=stage.name)
    try:
        return GRPOConfig(**values)
    except (TypeError, ValueError) as err:
        message = " ".join(str(err).split())
        raise RecipeError(f"{recipe.path}: stage '{stage.name}': invalid GRPOConfig: {message}") from None


def plan_stages(recipe: Recipe) -> list[StagePlan]:
    """Check the whole recipe, build each stage's GRPOConfig and load its dataset once."""
    import datasets

    stages = check_recipe(recipe)
    where = str(recipe.path)
    datasets.disable_progress_bars()  # the trainer has its own; keep a bad-input error to one line
    tables = [decontaminated(recipe, s, load_stage_dataset(s, where)) for s in stages]  # before TRL loads
    return [StagePlan(s, stage_config(recipe, s), d) for s, d in zip(stages, tables, strict=True)]


def validate(recipe: Recipe, options: None = None) -> None:
    """Check the recipe, the rewards and every stage's dataset (columns, non-empty levels)."""
    plan_stages(recipe)


@releases_output_dir_locks
def main(argv: list[str] | None = None) -> int:
    """Run (or resume) every stage of a staged GRPO recipe in order."""
    recipe, _ = parse_recipe(argv, JOB)
    plans = plan_stages(recipe)

    from accelerate import PartialState
    from transformers import AutoTokenizer
    from trl import GRPOConfig, ModelConfig

    from dart_trl.grpo.stage_runner import run_stage

    root = recipe.get(GRPOConfig).output_dir
    model_args = recipe.get(ModelConfig)
    state = PartialState()
    if state.is_main_process:
        lock_output_dir(root)  # shared with `dart-trl grpo`, which took it before launching
        write_resolved_recipe(recipe, root)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=recipe.get(GRPOConfig).trust_remote_code,
    )
    init_from = model_args.model_name_or_path
    steps = 0  # optimizer steps of the stages done so far: the next stage's steps count on from there
    for i, plan in enumerate(plans):
        stage = plan.stage
        if stage.is_done(root):
            state.print(f"dart-trl grpo: stage '{stage.name}' is done ({stage.final_dir(root)}); skipping it")
            summary = json.loads((stage.final_dir(root) / DONE_FILE).read_text())
        else:
            ours = recipe.get(StagedGRPOArguments)
            position = (i + 1, len(plans), steps)
            summary = run_stage(recipe, ours, plan, init_from, tokenizer, i == len(plans) - 1, position)
            how = (
                f"advanced early at step {summary['advanced_at_step']}"
                if summary["advanced_early"]
                else "done"
            )
            state.print(f"dart-trl grpo: stage '{stage.name}' {how}: {summary['global_step']} steps")
        steps += summary["global_step"]
        init_from = str(stage.final_dir(root))
    return 0


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
