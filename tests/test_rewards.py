"""GRPO rewards through the real grader, with real solutions as completions."""

from __future__ import annotations

import json
import time

import pytest

from dart_trl.grading import last_boxed
from dart_trl.grpo.rewards import (
    RewardContext,
    accuracy_reward,
    build_rewards,
    check_reward_names,
    format_reward,
)


def rewards_by_name(names, **kwargs):
    options = dict(max_completion_length=8, length_penalty_buffer=4, grading_timeout=5.0) | kwargs
    funcs = build_rewards(names, RewardContext(**options))
    from trl.trainer.utils import get_callable_name

    return {get_callable_name(f): f for f in funcs}


def test_accuracy_on_minerva_solutions(shared_data):
    rows = [
        json.loads(line) for line in (shared_data / "minerva-math-test.jsonl").read_text().splitlines()[:40]
    ]
    rows = [r for r in rows if last_boxed(r["solution"])]
    completions = [r["solution"] for r in rows]
    golds = [last_boxed(r["solution"]) for r in rows]
    accuracy = rewards_by_name(["accuracy"])["accuracy"]
    assert accuracy(prompts=[""] * len(rows), completions=completions, answer=golds) == [1.0] * len(rows)
    # Each solution against the next problem's answer: wrong unless the two answers happen to agree.
    shifted = golds[1:] + golds[:1]
    scores = accuracy(prompts=[""] * len(rows), completions=completions, answer=shifted)
    assert scores.count(0.0) >= len(rows) - 2


def test_accuracy_strict_extraction_equivalence_and_unparseable_gold():
    completions = [
        "Half of one is $\\boxed{\\frac{1}{2}}$.",
        "We get 3x = 15, so x = 5. The answer is 5.",  # no box: strict mode finds no answer
        "So the area is \\boxed{12\\sqrt{2}}",
        "\\boxed{7}",
        [{"role": "assistant", "content": "Thus \\boxed{42}."}],  # conversational completion
    ]
    golds = ["0.5", "5", "12\\sqrt2", "", "42"]
    assert accuracy_reward(completions=completions, answer=golds) == [1.0, 0.0, 1.0, None, 1.0]


def test_slow_symbolic_check_is_cut_by_the_deadline():
    logged = {}
    start = time.monotonic()
    scores = accuracy_reward(
        completions=["so \\boxed{\\sum_{n=1}^{20000} \\frac{1}{n^2}}"],  # a 20000-term exact sum for sympy
        answer=["1"],
        grading_timeout=0.05,
        log_metric=lambda name, value: logged.setdefault(name, value),
    )
    assert scores == [0.0]
    assert logged["grading/timeout_frac"] == 1.0
    assert time.monotonic() - start < 30


def test_format_and_length():
    rewards = rewards_by_name(["format", "length"])
    completions = [
        "The answer is \\boxed{3}.",
        "The answer is 3.",
        "\\boxed{}",
        "\\boxed{\\frac{1}{2}} and more",
    ]
    assert format_reward(completions=completions) == [1.0, 0.0, 0.0, 1.0]
    # max_completion_length 8, buffer 4: no penalty up to 4 tokens, then -1/4 per token down to -1.
    ids = [[1] * 3, [1] * 4, [1] * 6, [1] * 8]
    assert rewards["length"](completion_ids=ids) == [0.0, 0.0, -0.5, -1.0]


def test_registry_errors_and_dotted_paths():
    with pytest.raises(ValueError, match="unknown reward 'acuracy'; did you mean 'accuracy'"):
        check_reward_names(["acuracy"])
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        check_reward_names(["no_such_module.reward"])
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        check_reward_names(["dart_trl.grpo.rewards:nope"])
    funcs = rewards_by_name(["dart_trl.grpo.rewards.format_reward", "accuracy"])
    assert set(funcs) == {"format", "accuracy"}
