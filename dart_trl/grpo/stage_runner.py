"""Training one GRPO stage with TRL's GRPOTrainer (imports TRL; used by :mod:`dart_trl.grpo.train`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from accelerate import PartialState
from transformers import TrainerCallback
from trl import GRPOConfig, ModelConfig

from dart_trl.config import Recipe
from dart_trl.grpo.curriculum import CurriculumCallback, StagedGRPOTrainer
from dart_trl.grpo.monitor import StageMonitor
from dart_trl.grpo.rewards import RewardContext, build_rewards
from dart_trl.grpo.stages import DONE_FILE, START_FILE, render_prompts, write_json_atomic
from dart_trl.tracking.runs import finish_wandb, producers, start_run

JOB_TYPE = "grpo-stage"
# The run's summary grpo/<name>: stage_done.json's <key> (running reward and dropped prompts are TRL's
# train/curriculum/* already)
SUMMARY_KEYS = {"stage_index": "stage_index", "questions": "num_prompts", "global_step": "global_step",
                "step": "step", "advanced_early": "advanced_early", "advanced_at_step": "advanced_at_step"}  # fmt: skip


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


def run_stage(
    recipe: Recipe, ours, plan, init_from: str, tokenizer, is_last: bool, position: tuple[int, int, int]
) -> dict[str, Any]:
    """Train one stage from ``init_from`` (or resume it) and save its final weights; returns its summary.

    ``position`` is (stage index from 1, number of stages, optimizer steps of the stages before it)."""
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
    stage_index, num_stages, step_offset = position
    run = None
    if state.is_main_process:
        run = start_run(
            recipe,
            job_type=JOB_TYPE,
            name=stage.name,
            output_dir=stage.output_dir(root),
            report_to=args.report_to,
            default_group=Path(root).resolve().name,
            stage=stage.name,
            stage_index=stage_index,
            num_stages=num_stages,
            stage_levels=stage.levels,
            step_offset=step_offset,
            model_name_or_path=init_from,  # the weights this stage trains
            base_model=model_args.model_name_or_path,
            init_from=init_from,
            resumed_from=checkpoint,
            **producers(model=init_from, data=stage.dataset),
        )
    trainer = StagedGRPOTrainer(
        model=init_from,
        reward_funcs=build_rewards(
            ours.reward_funcs,
            RewardContext(args.max_completion_length, ours.grading_timeout, ours.length_penalty_buffer),
        ),
        args=args,
        train_dataset=render_prompts(plan.dataset, ours.prompt_template, tokenizer),
        processing_class=tokenizer,
        callbacks=callbacks,
        monitor=monitor,
        step_offset=step_offset,
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    final = stage.final_dir(root)
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
        "num_prompts": len(plan.dataset),
    }
    if state.is_main_process:
        write_json_atomic(final / DONE_FILE, summary)
        if run is not None:
            named = {f"grpo/{name}": summary[key] for name, key in SUMMARY_KEYS.items()}
            run.summary.update({k: v for k, v in named.items() if v is not None})
            finish_wandb(run)
    state.wait_for_everyone()
    return summary
