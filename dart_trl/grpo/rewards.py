"""GRPO reward functions: a registry of factories by name, plus import paths for rewards of one's own.

Every reward follows TRL's signature ``f(prompts, completions, **kwargs) -> list[float | None]``;
dataset columns arrive as keyword lists (the gold answer as ``answer``). Built-in rewards:

- ``accuracy``: 1.0 when the completion's boxed answer equals the gold (the project's ``Grader``
  in strict mode), 0.0 otherwise, None when the gold cannot be parsed (TRL ignores None rewards).
  Symbolic checks run in the grader's worker processes under a deadline, so a slow sympy case
  costs at most ``grading_timeout`` seconds and never blocks the trainer.
- ``format``: 1.0 when the completion has a non-empty boxed final answer, else 0.0.
- ``length``: DAPO's soft overlong punishment (TRL's ``get_soft_overlong_punishment``): 0 up to
  ``max_completion_length - length_penalty_buffer`` tokens, falling linearly to -1 at the limit.

Model output is untrusted: nothing here evaluates it; grading is text parsing plus sympy in
sandboxed workers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dart_trl.config.plugins import import_object, is_import_path
from dart_trl.config.values import closest_key
from dart_trl.grading import Grader, last_boxed

_grader: Grader | None = None
_grader_lock = threading.Lock()


def shared_grader(timeout: float = 5.0) -> Grader:
    """The process's strict-mode ``Grader`` with deadline ``timeout``, created on first use (workers start on first need)."""
    global _grader
    with _grader_lock:
        if _grader is not None and _grader.timeout != float(timeout):
            _grader.close()  # its worker pool carries the old deadline
            _grader = None
        if _grader is None:
            _grader = Grader(mode="strict", timeout=timeout)
        return _grader


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the content of the last message of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return ""


def accuracy_reward(
    completions: list, answer: list, grading_timeout: float = 5.0, log_metric=None, **kwargs
) -> list[float | None]:
    """The ``accuracy`` reward: 1.0 / 0.0 from the strict grader, None for an unparseable gold."""
    items = [
        {"completion": completion_text(c), "gold": "" if g is None else str(g)}
        for c, g in zip(completions, answer, strict=True)
    ]
    verdicts = shared_grader(grading_timeout).grade_batch(items)
    if log_metric is not None and verdicts:
        log_metric("grading/timeout_frac", sum(v.reason == "timeout" for v in verdicts) / len(verdicts))
    return [None if v.reason == "unparseable_gold" else float(v.correct) for v in verdicts]


def format_reward(completions: list, **kwargs) -> list[float]:
    """The ``format`` reward: 1.0 when the completion contains a non-empty ``\\boxed{...}`` answer."""
    return [float(last_boxed(completion_text(c)) is not None) for c in completions]


def length_reward(completion_ids: list, max_completion_length: int, buffer: int, **kwargs) -> list[float]:
    """The ``length`` reward: TRL's soft overlong punishment over the last ``buffer`` tokens."""
    from trl.rewards import get_soft_overlong_punishment

    return get_soft_overlong_punishment(max_completion_length, buffer)(completion_ids)


# TRL names each reward's logged metrics (``rewards/<name>/mean``) after the function's __name__.
accuracy_reward.__name__ = "accuracy"
format_reward.__name__ = "format"
length_reward.__name__ = "length"


@dataclass(frozen=True)
class RewardContext:
    """What a reward factory may read: the stage's generation length and the recipe's reward settings."""

    max_completion_length: int
    grading_timeout: float = 5.0
    length_penalty_buffer: int = 256


RewardFactory = Callable[[RewardContext], Callable[..., Any]]

REWARDS: dict[str, RewardFactory] = {
    "accuracy": lambda ctx: functools.partial(accuracy_reward, grading_timeout=ctx.grading_timeout),
    "format": lambda ctx: format_reward,
    "length": lambda ctx: functools.partial(
        length_reward,
        max_completion_length=ctx.max_completion_length,
        buffer=min(ctx.length_penalty_buffer, ctx.max_completion_length),
    ),
}


def reward_factory(func: RewardFactory) -> RewardFactory:
    """Mark ``func(context) -> reward function`` as a factory, so a recipe can name it by import path
    and it receives the :class:`RewardContext` (a plain reward function is used as it is)."""
    func.is_reward_factory = True
    return func


def resolve_reward(name: str) -> RewardFactory:
    """The factory of reward ``name``: a built-in name, or the import path of a reward function or of a
    :func:`reward_factory`. Raises ValueError for anything else."""
    if name in REWARDS:
        return REWARDS[name]
    if not is_import_path(name):
        hint = closest_key(name, REWARDS)
        raise ValueError(f"unknown reward '{name}'{hint} (built in: {list(REWARDS)}, or an import path)")
    found = import_object(name)
    if not callable(found):
        raise ValueError(f"reward '{name}' is not callable")
    return found if getattr(found, "is_reward_factory", False) else (lambda ctx: found)


def check_reward_names(names: list[str]) -> None:
    """Raise ValueError for an empty list or a name :func:`resolve_reward` cannot resolve."""
    if not names:
        raise ValueError(f"reward_funcs is empty; use some of {list(REWARDS)} or an import path")
    for name in names:
        resolve_reward(name)


def build_rewards(names: list[str], context: RewardContext) -> list[Callable[..., Any]]:
    """The reward functions for ``names``, in order, built by their factories from ``context``."""
    return [resolve_reward(name)(context) for name in names]
