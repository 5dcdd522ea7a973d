"""Targets, stop rules and request sizes: the allocation logic of DARS, free of I/O.

- ``vrt``: no target; every query gets ``max_trials`` raw samples.
- ``uniform``: target ``k_u`` distinct correct responses.
- ``prop2diff``: target ``max(1, round(k_p * d_q / max_d))`` with ``d_q`` the fail rate of query q
  (known from a pool-info file, or estimated from its own samples once it has ``probe_samples``)
  and ``max_d`` the largest fail rate of the pool. Targets move as estimates firm up.

A query stops when it holds ``target`` distinct correct responses or ``max_trials`` raw samples.
Each round asks an unfinished query for ``fraction * remaining / p`` samples, where ``p`` is an
optimistic (mean + one standard deviation) estimate of its pass rate: hard queries get large
requests and few rounds, easy ones small requests and little overshoot. Queries without a
difficulty estimate first get ``probe_samples`` samples, which count as data.
"""

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


@dataclass(frozen=True)
class AllocationConfig:
    """The recipe values the allocation needs."""

    strategy: str
    k_u: int = 40
    k_p: int = 192
    max_trials: int = 2048
    probe_samples: int = 8
    fraction: float = 0.7
    max_samples_per_round: int = 1 << 20


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves up (Python's ``round`` rounds halves to even)."""
    return int(math.floor(x + 0.5))


def fail_rate(stats: QueryStats, config: AllocationConfig) -> float | None:
    """The query's fail rate: known, or estimated from its samples once it has enough; else None."""
    if stats.known_pass_rate is not None:
        return 1.0 - stats.known_pass_rate
    enough = min(config.probe_samples, config.max_trials)
    if stats.n_samples >= max(enough, 1):
        return 1.0 - stats.n_corrects / stats.n_samples
    return None


def compute_targets(stats: dict[str, QueryStats], config: AllocationConfig) -> dict[str, int | None]:
    """Target distinct correct responses per query (None: no target (vrt) or difficulty not known yet)."""
    if config.strategy == "vrt":
        return dict.fromkeys(stats)
    if config.strategy == "uniform":
        return dict.fromkeys(stats, config.k_u)
    rates = {qid: fail_rate(s, config) for qid, s in stats.items()}
    known = [d for d in rates.values() if d is not None]
    max_d = max(known, default=0.0)
    targets: dict[str, int | None] = {}
    for qid, d in rates.items():
        if d is None:
            targets[qid] = None
        else:
            targets[qid] = max(1, round_half_up(config.k_p * d / max_d)) if max_d > 0 else 1
    return targets


def stop_reason(stats: QueryStats, target: int | None, config: AllocationConfig) -> str | None:
    """Why the query is finished (``target_met`` / ``max_trials``), or None while it needs samples."""
    if target is not None and stats.n_unique_corrects >= target:
        return TARGET_MET
    if stats.n_samples >= config.max_trials:
        return MAX_TRIALS
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


def request_size(stats: QueryStats, target: int | None, config: AllocationConfig) -> int:
    """Samples to ask an unfinished query for in the next round (0 when it is finished)."""
    if stop_reason(stats, target, config) is not None:
        return 0
    room = config.max_trials - stats.n_samples
    if config.strategy == "vrt":
        return room
    if stats.known_pass_rate is None and stats.n_samples < config.probe_samples:
        return min(room, config.probe_samples - stats.n_samples)
    if target is None:  # difficulty not known yet (probe_samples == 0): one sample to start
        return 1
    remaining = target - stats.n_unique_corrects
    expected = max(config.fraction * remaining, min(remaining, 1.5))
    wanted = math.ceil(expected / optimistic_pass_rate(stats))
    return max(1, min(room, wanted))


def plan_round(stats: dict[str, QueryStats], config: AllocationConfig) -> dict[str, int]:
    """Request sizes of the next round for every unfinished query, scaled to the round cap."""
    targets = compute_targets(stats, config)
    sizes = {qid: request_size(s, targets[qid], config) for qid, s in stats.items()}
    sizes = {qid: m for qid, m in sizes.items() if m > 0}
    total = sum(sizes.values())
    if total > config.max_samples_per_round:
        scale = config.max_samples_per_round / total
        sizes = {qid: max(1, int(m * scale)) for qid, m in sizes.items()}
    return sizes


def oracle_samples(pass_rate: float, target: int | None, max_trials: int) -> float:
    """Expected raw samples of a query when its pass rate is known: min(target / p, max_trials)."""
    if target is None:
        return float(max_trials)
    if pass_rate <= 0:
        return float(max_trials)
    return min(target / pass_rate, float(max_trials))


def oracle_target(pass_rate: float, max_fail_rate: float, config: AllocationConfig) -> int | None:
    """The target a query would get if its pass rate were known exactly."""
    if config.strategy == "vrt":
        return None
    if config.strategy == "uniform":
        return config.k_u
    if max_fail_rate <= 0:
        return 1
    return max(1, round_half_up(config.k_p * (1.0 - pass_rate) / max_fail_rate))
