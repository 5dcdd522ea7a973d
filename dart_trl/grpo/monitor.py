"""Within-stage curriculum state for GRPO: which prompts to drop, when to advance (no trainer imports).

- Prompt dropping: a prompt whose group of completions scored all the same (all correct or all
  wrong under ``accuracy``, or equal total reward without it) for ``drop_patience`` consecutive
  visits carries no GRPO advantage; it is skipped for the rest of the stage.
- Adaptive advance: when the mean reward of the last ``advance_window`` generation batches reaches
  ``advance_reward_threshold``, the stage stops and the next one starts from its weights.

:mod:`dart_trl.grpo.curriculum` hooks this into TRL's ``GRPOTrainer``.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path

PROMPT_ID = "prompt_id"
STATE_FILE = "curriculum_state.json"


@dataclass
class CurriculumOptions:
    """Prompt dropping and adaptive advance: recipe keys of ``grpo``, which a stage may set for itself."""

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
        if self.drop_patience < 1 or self.advance_window < 1:
            raise ValueError("drop_patience and advance_window must be at least 1")


class StageMonitor:
    """Tracks per-prompt group outcomes and the running reward of one stage."""

    def __init__(self, options: CurriculumOptions) -> None:  # a stage's StagedGRPOArguments
        self.options = options
        self.streaks: dict[int, int] = {}
        self.dropped: set[int] = set()
        self.recent_rewards: deque[float] = deque(maxlen=options.advance_window)
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
        return sum(self.recent_rewards) / len(self.recent_rewards) if self.recent_rewards else None

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
            "options": {f.name: getattr(self.options, f.name) for f in fields(CurriculumOptions)},
            "streaks": {str(k): v for k, v in self.streaks.items()},
            "dropped": sorted(self.dropped),
            "recent_rewards": list(self.recent_rewards),
        }

    def load_from_checkpoint(self, checkpoint: str | Path) -> bool:
        """Restore the :meth:`state_dict` saved in ``checkpoint`` (if any); returns whether one was found."""
        path = Path(checkpoint) / STATE_FILE
        if not path.is_file():
            return False
        state = json.loads(path.read_text())
        self.streaks = {int(k): int(v) for k, v in state.get("streaks", {}).items()}
        self.dropped = {int(p) for p in state.get("dropped", [])}
        self.recent_rewards = deque(state.get("recent_rewards", []), maxlen=self.options.advance_window)
        return True
