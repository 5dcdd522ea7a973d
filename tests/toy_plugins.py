"""Extensions written outside the package, as a user would: a DARS strategy, a sampler and two rewards.

Recipes name them by import path (``strategy: toy_plugins.FirstCorrect``); tests/test_plugins.py runs them.
"""

from __future__ import annotations

import re

from dart_trl.dars.strategies import Strategy
from dart_trl.grpo.rewards import reward_factory
from dart_trl.sampling import Completion, Sampler


class FirstCorrect(Strategy):
    """One correct response per query, whatever its difficulty."""

    name = "first-correct"

    def targets(self, stats, args):
        return dict.fromkeys(stats, 1)

    def oracle_target(self, pass_rate, max_fail_rate, args):
        return 1

    def describe(self, args):
        return "one correct response per query"


class ArithmeticSampler(Sampler):
    """Answers 'What is A + B?' prompts: right on every other sample, each response worded apart."""

    def __init__(self, model, args):
        self.calls = 0

    def generate(self, requests):
        out = []
        for request in requests:
            a, b = map(int, re.findall(r"What is (\d+) \+ (\d+)\?", request.prompt)[-1])
            completions = []
            for _ in range(request.n):
                self.calls += 1
                answer = a + b if self.calls % 2 else a + b + 1
                completions.append(
                    Completion(f"Step {self.calls}: {a} + {b} = \\boxed{{{answer}}}", "stop", 8)
                )
            out.append(completions)
        return out


def shortness(completions, **kwargs):
    """A plain reward function: 1 for completions under 20 characters."""
    return [float(len(str(c)) < 20) for c in completions]


@reward_factory
def budget(context):
    """A reward factory: the share of the completion budget left unused."""

    def reward(completions, **kwargs):
        return [
            1.0 - min(len(str(c)), context.max_completion_length) / context.max_completion_length
            for c in completions
        ]

    reward.__name__ = "budget"
    return reward
