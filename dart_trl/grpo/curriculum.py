"""TRL's ``GRPOTrainer`` with the within-stage curriculum of :mod:`dart_trl.grpo.monitor` (prompt dropping,
adaptive advance).

Both are logged with TRL's metrics (``curriculum/dropped_prompts``, ``curriculum/running_reward``)
and their state is saved into every checkpoint, so a resumed stage keeps what it had learned.
Everything is computed from the rewards gathered over all processes, so every rank takes the same
decisions.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

from dart_trl.grpo.monitor import PROMPT_ID, STATE_FILE, StageMonitor


class FilteredRepeatSampler(RepeatSampler):
    """TRL's ``RepeatSampler`` that skips dropped prompts, deciding each chunk as it is drawn.

    The dataset row index is the prompt id. Chunks of ``batch_size`` prompts keep TRL's group layout;
    an epoch ends early when too few prompts are left to fill a chunk.
    """

    def __init__(self, monitor: StageMonitor, **kwargs) -> None:
        super().__init__(**kwargs)
        self.monitor = monitor

    def __iter__(self):
        order = range(self.num_samples)
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=self.generator).tolist()
        chunk: list[int] = []
        for index in order:
            if index not in self.monitor.dropped:
                chunk.append(index)
            if len(chunk) == self.batch_size:
                yield from (
                    i for _ in range(self.repeat_count) for i in chunk for _ in range(self.mini_repeat_count)
                )
                chunk = []


class CurriculumCallback(TrainerCallback):
    """Stops the stage when the monitor says to advance, and saves its state into each checkpoint."""

    def __init__(self, monitor: StageMonitor) -> None:
        self.monitor = monitor

    def on_step_end(self, args, state, control, **kwargs):
        if self.monitor.should_advance() and self.monitor.advanced_at_step is None:
            self.monitor.advanced_at_step = state.global_step
            control.should_training_stop = True

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if checkpoint.is_dir():
                (checkpoint / STATE_FILE).write_text(json.dumps(self.monitor.state_dict()))


class StagedGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` that feeds a :class:`StageMonitor` and samples around its dropped prompts."""

    def __init__(self, *args, monitor: StageMonitor, step_offset: int = 0, **kwargs) -> None:
        self.monitor = monitor
        self.step_offset = step_offset  # optimizer steps of the stages before this one
        super().__init__(*args, **kwargs)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """TRL's log, with ``curriculum/step``: the step counted from the first stage's start."""
        logs = {**logs, "curriculum/step": self.step_offset + self.state.global_step}
        super().log(logs, start_time)

    def _get_train_sampler(self, dataset=None):
        if not self.monitor.options.drop_uniform_prompts:
            return super()._get_train_sampler(dataset)
        return FilteredRepeatSampler(
            self.monitor,
            data_source=self.train_dataset if dataset is None else dataset,
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        from accelerate.utils import gather_object

        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if not self.model.training:
            return rewards_per_func
        prompt_ids = gather_object([example[PROMPT_ID] for example in inputs])
        weights = self.reward_weights.to(rewards_per_func.device)
        total = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
        names = list(self.reward_func_names)
        signal = rewards_per_func[:, names.index("accuracy")] if "accuracy" in names else total
        self.monitor.record(prompt_ids, signal.tolist(), total.tolist())
        metrics = self._metrics["train"]
        metrics["curriculum/dropped_prompts"].append(float(len(self.monitor.dropped)))
        if self.monitor.running_reward is not None:
            metrics["curriculum/running_reward"].append(self.monitor.running_reward)
        return rewards_per_func
