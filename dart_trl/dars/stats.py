"""What DARS knows about a query while it samples: counts, and its pass rate (known or estimated)."""

from __future__ import annotations

import math
from dataclasses import dataclass

TARGET_MET = "target_met"
MAX_TRIALS = "max_trials"
MAX_ROUNDS = "max_rounds"


@dataclass
class QueryStats:
    """What is known about one query: raw samples, correct ones, distinct correct ones, known difficulty."""

    n_samples: int = 0
    n_corrects: int = 0
    n_unique_corrects: int = 0
    known_pass_rate: float | None = None


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up (Python's ``round`` rounds halves to even)."""
    return int(math.floor(x + 0.5))


def fail_rate(stats: QueryStats, probe_samples: int, max_trials: int) -> float | None:
    """The query's fail rate: known, or estimated from its samples once it has enough; else None."""
    if stats.known_pass_rate is not None:
        return 1.0 - stats.known_pass_rate
    if stats.n_samples >= max(min(probe_samples, max_trials), 1):
        return 1.0 - stats.n_corrects / stats.n_samples
    return None


def optimistic_pass_rate(stats: QueryStats) -> float:
    """Known pass rate, else the Beta(c + 1/2, n - c + 1/2) posterior mean plus one standard deviation."""
    if stats.known_pass_rate is not None:
        return max(stats.known_pass_rate, 1e-4)
    a = stats.n_corrects + 0.5
    b = stats.n_samples - stats.n_corrects + 0.5
    mean = a / (a + b)
    std = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return min(1.0, mean + std)
