"""``dart-trl grpo``: difficulty-staged GRPO with a verifiable math reward (TRL's GRPOTrainer).

The recipe holds TRL's ``GRPOConfig`` / ``ModelConfig`` fields for all stages, then ``stages:``
(see :mod:`dart_trl.stages`). Stage k starts from stage k-1's ``final/`` weights. A finished stage
is skipped on rerun; an interrupted one resumes from its last ``checkpoint-*``. All stages share
one W&B group; each is its own W&B run (job type ``grpo-stage``) named after the stage.

Run it as ``dart-trl grpo RECIPE.yaml [--key value ...]`` (validated here, then trained under
``accelerate launch``), or ``python -m dart_trl.grpo RECIPE.yaml`` on one process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import GRPOConfig, ModelConfig

from dart_trl.cli import run_guarded
from dart_trl.curriculum import CurriculumCallback, CurriculumOptions, StagedGRPOTrainer, StageMonitor
from dart_trl.recipe import (
    LaunchArguments,
    Recipe,
    RecipeError,
    parse_job_argv,
    write_resolved_recipe,
)
from dart_trl.rewards import build_rewards, check_reward_names
from dart_trl.stages import (
    DONE_FILE,
    START_FILE,
    Stage,
    load_stage_dataset,
    parse_stages,
    render_prompts,
    write_json_atomic,
)
from dart_trl.templates import template_names

JOB_TYPE = "grpo-stage"


@dataclass
class StagedGRPOArguments:
    """dart-trl's own keys of a staged GRPO recipe (TRL's GRPOConfig and ModelConfig hold the rest)."""

    stages: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "The stages, in order: each a mapping with name, dataset (+ dataset_config, split, "
            "query_column, answer_column, level_column, levels, max_samples), curriculum keys and any "
            "GRPOConfig field as an override (max_steps or num_train_epochs, learning_rate, ...)."
        },
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={
            "help": "Rewards: built-in 'accuracy', 'format', 'length', or dotted import paths of "
            "functions f(prompts, completions, **kwargs). Weights: GRPOConfig's reward_weights."
        },
    )
    prompt_template: str = field(
        default="qwen-boxed",
        metadata={"help": "Prompt template of dart_trl.templates.", "choices": template_names()},
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
    wandb_group: str | None = field(
        default=None, metadata={"help": "W&B group of all stages (default: the output_dir's name)."}
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

    def curriculum(self) -> CurriculumOptions:
        """The recipe-wide curriculum settings (stages may override each)."""
        return CurriculumOptions(
            drop_uniform_prompts=self.drop_uniform_prompts,
            drop_patience=self.drop_patience,
            advance_reward_threshold=self.advance_reward_threshold,
            advance_window=self.advance_window,
        )


RECIPE_TYPES = (LaunchArguments, StagedGRPOArguments, GRPOConfig, ModelConfig)
GRPO_TYPES = {
    f.name: typing.get_type_hints(GRPOConfig).get(f.name, f.type)
    for f in dataclasses.fields(GRPOConfig)
    if f.init
}


@dataclass
class StagePlan:
    """A stage ready to run: its spec, its TRL config and its (unrendered) dataset."""

    stage: Stage
    args: GRPOConfig
    dataset: Any


def stage_config(recipe: Recipe, stage: Stage) -> GRPOConfig:
    """The stage's GRPOConfig: the recipe's GRPOConfig keys, then the stage's overrides."""
    root = recipe.get(GRPOConfig).output_dir
    values = {k: v for k, v in recipe.values.items() if k in GRPO_TYPES}
    values.update(stage.overrides)
    values.update(output_dir=str(stage.output_dir(root)), run_name=stage.name)
    try:
        return GRPOConfig(**values)
    except (TypeError, ValueError) as err:
        message = " ".join(str(err).split())
        raise RecipeError(f"{recipe.path}: stage '{stage.name}': invalid GRPOConfig: {message}") from None


def plan_stages(recipe: Recipe) -> list[StagePlan]:
    """Check the whole recipe and load every stage's dataset; raise :class:`RecipeError` on bad input."""
    ours = recipe.get(StagedGRPOArguments)
    top = recipe.get(GRPOConfig)
    model = recipe.get(ModelConfig)
    where = str(recipe.path)
    if not model.model_name_or_path:
        raise RecipeError(f"{where}: 'model_name_or_path' is required (a Hub id or a local directory)")
    looks_local = (
        model.model_name_or_path.startswith((".", "/", "~")) or model.model_name_or_path.count("/") > 1
    )
    if looks_local and not Path(model.model_name_or_path).expanduser().is_dir():
        raise RecipeError(f"{where}: model_name_or_path '{model.model_name_or_path}' is not a directory")
    if model.use_peft:
        raise RecipeError(f"{where}: use_peft is not supported: each stage saves full weights for the next")
    if top.resume_from_checkpoint:
        raise RecipeError(
            f"{where}: remove 'resume_from_checkpoint': stages resume from their own checkpoints"
        )
    if top.remove_unused_columns:
        raise RecipeError(f"{where}: remove_unused_columns must be false: rewards read the 'answer' column")
    try:
        check_reward_names(ours.reward_funcs)
    except RecipeError as err:
        raise RecipeError(f"{where}: {err}") from None
    weights = top.reward_weights
    if weights is not None and len(weights) != len(ours.reward_funcs):
        raise RecipeError(
            f"{where}: reward_weights has {len(weights)} values for {len(ours.reward_funcs)} reward_funcs"
        )
    defaults = dict(
        dataset=ours.dataset,
        dataset_config=ours.dataset_config,
        query_column=ours.query_column,
        answer_column=ours.answer_column,
        level_column=ours.level_column,
        split=ours.split,
    )
    stages = parse_stages(ours.stages, defaults, ours.curriculum(), GRPO_TYPES, where)
    plans = []
    for stage in stages:
        args = stage_config(recipe, stage)
        if args.remove_unused_columns:
            raise RecipeError(f"{where}: stage '{stage.name}': remove_unused_columns must be false")
        plans.append(StagePlan(stage, args, load_stage_dataset(stage, where)))
    return plans


def validate(recipe: Recipe) -> None:
    """Check the recipe, the rewards and every stage's dataset (columns, non-empty levels)."""
    plan_stages(recipe)


def weights_digest(model) -> str:
    """SHA-256 over a model's parameters (names and float32 bytes): equal digests, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.removeprefix("module.").encode())
        digest.update(tensor.detach().to("cpu").float().contiguous().numpy().tobytes())
    return digest.hexdigest()


class StartWeightsCallback(TrainerCallback):
    """Records the digest of the weights a fresh stage starts from in ``<stage>/start_weights.json``."""

    def __init__(self, path: Path, init_from: str) -> None:
        self.path = path
        self.init_from = init_from

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None:
            write_json_atomic(self.path, {"init_from": self.init_from, "digest": weights_digest(model)})
        return control


def run_stage(recipe: Recipe, plan: StagePlan, init_from: str, tokenizer, is_last: bool) -> dict[str, Any]:
    """Train one stage from ``init_from`` (or resume it) and save its final weights; returns its summary."""
    from accelerate import PartialState

    from dart_trl.tracking import init_wandb, run_config, wandb_enabled

    ours = recipe.get(StagedGRPOArguments)
    model_args = recipe.get(ModelConfig)
    stage, args = plan.stage, plan.args
    root = recipe.get(GRPOConfig).output_dir
    state = PartialState()
    checkpoint = stage.last_checkpoint(root)
    args.model_init_kwargs = {
        "revision": model_args.model_revision if init_from == model_args.model_name_or_path else None,
        "trust_remote_code": args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(args.model_init_kwargs or {}),
    }
    monitor = StageMonitor(stage.curriculum)
    if checkpoint:
        monitor.load_from_checkpoint(checkpoint)
    callbacks: list[TrainerCallback] = [CurriculumCallback(monitor)]
    if not checkpoint:
        callbacks.append(StartWeightsCallback(stage.output_dir(root) / START_FILE, init_from))
    run = None
    if state.is_main_process and wandb_enabled(args.report_to):
        run = init_wandb(
            name=stage.name,
            job_type=JOB_TYPE,
            group=ours.wandb_group or Path(root).resolve().name,
            config=run_config(recipe, stage=stage.name, init_from=init_from, resumed_from=checkpoint),
        )
    trainer = StagedGRPOTrainer(
        model=init_from,
        reward_funcs=build_rewards(
            ours.reward_funcs,
            max_completion_length=args.max_completion_length,
            length_penalty_buffer=ours.length_penalty_buffer,
            grading_timeout=ours.grading_timeout,
        ),
        args=args,
        train_dataset=render_prompts(plan.dataset, ours.prompt_template, tokenizer),
        processing_class=tokenizer,
        callbacks=callbacks,
        monitor=monitor,
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    final = stage.final_dir(root)
    trainer.save_model(str(final))
    summary = {
        "stage": stage.name,
        "init_from": init_from,
        "resumed_from": checkpoint,
        "global_step": trainer.state.global_step,
        "advanced_early": monitor.advanced_at_step is not None,
        "advanced_at_step": monitor.advanced_at_step,
        "running_reward": monitor.running_reward,
        "dropped_prompts": len(monitor.dropped),
        "num_prompts": len(plan.dataset),
    }
    if state.is_main_process:
        write_json_atomic(final / DONE_FILE, summary)
        if run is not None:
            run.summary.update({f"stage/{k}": v for k, v in summary.items() if v is not None})
            run.finish()
    state.wait_for_everyone()
    if is_last:
        # What Trainer.end() does; transformers 5.17 (the GPU set) has no Trainer.end(), 5.18 added it.
        trainer.accelerator.end_training()
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) every stage of a staged GRPO recipe in order."""
    from accelerate import PartialState
    from transformers import AutoTokenizer

    recipe, _ = parse_job_argv(argv, RECIPE_TYPES)
    plans = plan_stages(recipe)
    root = recipe.get(GRPOConfig).output_dir
    model_args = recipe.get(ModelConfig)
    state = PartialState()
    if state.is_main_process:
        write_resolved_recipe(recipe, root)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=recipe.get(GRPOConfig).trust_remote_code,
    )
    init_from = model_args.model_name_or_path
    for i, plan in enumerate(plans):
        stage = plan.stage
        if stage.is_done(root):
            state.print(f"dart-trl grpo: stage '{stage.name}' is done ({stage.final_dir(root)}); skipping it")
        else:
            summary = run_stage(recipe, plan, init_from, tokenizer, is_last=i == len(plans) - 1)
            how = (
                f"advanced early at step {summary['advanced_at_step']}"
                if summary["advanced_early"]
                else "done"
            )
            state.print(f"dart-trl grpo: stage '{stage.name}' {how}: {summary['global_step']} steps")
        init_from = str(stage.final_dir(root))
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("grpo", main, sys.argv[1:]))
