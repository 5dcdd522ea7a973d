"""GRPO reward functions: a registry by name, plus dotted-path import for custom ones.

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

import difflib
import functools
import importlib
import threading
from collections.abc import Callable
from typing import Any

from dart_trl.config import RecipeError
from dart_trl.grading import Grader, last_boxed

ANSWER_COLUMN = "answer"
BUILTIN_REWARDS = ("accuracy", "format", "length")

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


def import_reward(path: str) -> Callable[..., Any]:
    """Import a custom reward function from ``package.module.function`` or ``package.module:function``."""
    module_name, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not sep or not module_name or not attr:
        raise RecipeError(
            f"reward '{path}': a custom reward must be a dotted path like 'my_pkg.rewards.func'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RecipeError(f"reward '{path}': cannot import module '{module_name}': {err}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise RecipeError(f"reward '{path}': module '{module_name}' has no callable '{attr}'")
    return func


def check_reward_names(names: list[str]) -> None:
    """Raise :class:`RecipeError` for a name that is neither built in nor an importable dotted path."""
    if not names:
        raise RecipeError(f"reward_funcs is empty; use some of {list(BUILTIN_REWARDS)} or a dotted path")
    for name in names:
        if name in BUILTIN_REWARDS:
            continue
        if "." not in name and ":" not in name:
            close = difflib.get_close_matches(name, BUILTIN_REWARDS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise RecipeError(
                f"unknown reward '{name}'{hint} (built in: {list(BUILTIN_REWARDS)}, or a dotted import path)"
            )
        import_reward(name)


def build_rewards(
    names: list[str], *, max_completion_length: int, length_penalty_buffer: int, grading_timeout: float
) -> list[Callable[..., Any]]:
    """Reward functions for ``names`` (built-in names or dotted paths), in order."""
    check_reward_names(names)
    funcs: list[Callable[..., Any]] = []
    for name in names:
        if name == "accuracy":
            funcs.append(functools.partial(accuracy_reward, grading_timeout=grading_timeout))
        elif name == "format":
            funcs.append(format_reward)
        elif name == "length":
            buffer = min(length_penalty_buffer, max_completion_length)
            funcs.append(
                functools.partial(length_reward, max_completion_length=max_completion_length, buffer=buffer)
            )
        else:
            funcs.append(import_reward(name))
    return funcs
