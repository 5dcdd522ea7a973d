"""Within-stage curriculum for GRPO: drop prompts with no learning signal, advance early on high reward.

- Prompt dropping: a prompt whose group of completions scored all the same (all correct or all
  wrong under ``accuracy``, or equal total reward without it) for ``drop_patience`` consecutive
  visits carries no GRPO advantage; it is skipped for the rest of the stage.
- Adaptive advance: when the mean reward of the last ``advance_window`` generation batches reaches
  ``advance_reward_threshold``, the stage stops and the next one starts from its weights.

Both are logged with TRL's metrics (``curriculum/dropped_prompts``, ``curriculum/running_reward``)
and their state is saved into every checkpoint, so a resumed stage keeps what it had learned.
:class:`StagedGRPOTrainer` hooks them into TRL's ``GRPOTrainer``; everything is computed from the
rewards gathered over all processes, so every rank takes the same decisions.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers import TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

PROMPT_ID = "prompt_id"
STATE_FILE = "curriculum_state.json"


@dataclass
class CurriculumOptions:
    """Per-stage settings of prompt dropping and adaptive advance (see the recipe keys' help)."""

    drop_uniform_prompts: bool = False
    drop_patience: int = 1
    advance_reward_threshold: float | None = None
    advance_window: int = 8


class StageMonitor:
    """Tracks per-prompt group outcomes and the running reward of one stage."""

    def __init__(self, options: CurriculumOptions) -> None:
        self.options = options
        self.streaks: dict[int, int] = {}
        self.dropped: set[int] = set()
        self.recent_rewards: deque[float] = deque(maxlen=max(1, options.advance_window))
        self.advanced_at_step: int | None = None

    def record(self, prompt_ids: list[int], signal: list[float], rewards: list[float]) -> None:
        """Record one generation batch: each completion's prompt id, group signal and total reward."""
        groups: dict[int, list[float]] = {}
        for pid, value in zip(prompt_ids, signal, strict=True):
            if not math.isnan(value):
                groups.setdefault(int(pid), []).append(value)
        for pid, values in groups.items():
            uniform = len(values) > 1 and max(values) == min(values)
            self.streaks[pid] = self.streaks.get(pid, 0) + 1 if uniform else 0
            if self.options.drop_uniform_prompts and self.streaks[pid] >= self.options.drop_patience:
                self.dropped.add(pid)
        finite = [r for r in rewards if not math.isnan(r)]
        if finite:
            self.recent_rewards.append(sum(finite) / len(finite))

    @property
    def running_reward(self) -> float | None:
        """Mean reward over the last ``advance_window`` generation batches (None before the first)."""
        if not self.recent_rewards:
            return None
        return sum(self.recent_rewards) / len(self.recent_rewards)

    def should_advance(self) -> bool:
        """Whether the running reward over a full window has reached the advance threshold."""
        threshold = self.options.advance_reward_threshold
        return (
            threshold is not None
            and len(self.recent_rewards) == self.recent_rewards.maxlen
            and self.running_reward >= threshold
        )

    def state_dict(self) -> dict:
        """A JSON-friendly snapshot (saved into checkpoints)."""
        return {
            "options": asdict(self.options),
            "streaks": {str(k): v for k, v in self.streaks.items()},
            "dropped": sorted(self.dropped),
            "recent_rewards": list(self.recent_rewards),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a snapshot written by :meth:`state_dict`."""
        self.streaks = {int(k): int(v) for k, v in state.get("streaks", {}).items()}
        self.dropped = {int(p) for p in state.get("dropped", [])}
        self.recent_rewards.clear()
        self.recent_rewards.extend(state.get("recent_rewards", []))

    def load_from_checkpoint(self, checkpoint: str | Path) -> bool:
        """Restore the state saved in ``checkpoint`` (if any); returns whether one was found."""
        path = Path(checkpoint) / STATE_FILE
        if not path.is_file():
            return False
        self.load_state_dict(json.loads(path.read_text()))
        return True


class FilteredRepeatSampler(RepeatSampler):
    """TRL's ``RepeatSampler`` that skips dropped prompts, deciding each chunk as it is drawn.

    The dataset row index is the prompt id. Chunks of ``batch_size`` prompts keep TRL's group layout;
    an epoch ends early when too few prompts are left to fill a chunk.
    """

    def __init__(self, monitor: StageMonitor, **kwargs) -> None:
        super().__init__(**kwargs)
        self.monitor = monitor

    def __iter__(self):
        if self.shuffle:
            import torch

            order = torch.randperm(self.num_samples, generator=self.generator).tolist()
        else:
            order = list(range(self.num_samples))
        chunk: list[int] = []
        for index in order:
            if index in self.monitor.dropped:
                continue
            chunk.append(index)
            if len(chunk) < self.batch_size:
                continue
            for _ in range(self.repeat_count):
                for i in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield i
            chunk = []


class CurriculumCallback(TrainerCallback):
    """Stops the stage when the monitor says to advance, and saves its state into each checkpoint."""

    def __init__(self, monitor: StageMonitor) -> None:
        self.monitor = monitor

    def on_step_end(self, args, state, control, **kwargs):
        if self.monitor.should_advance() and self.monitor.advanced_at_step is None:
            self.monitor.advanced_at_step = state.global_step
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if checkpoint.is_dir():
                (checkpoint / STATE_FILE).write_text(json.dumps(self.monitor.state_dict()))
        return control


class StagedGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` that feeds a :class:`StageMonitor` and samples around its dropped prompts."""

    def __init__(self, *args, monitor: StageMonitor, **kwargs) -> None:
        self.monitor = monitor
        super().__init__(*args, **kwargs)

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
        import torch
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
