"""How many samples each query gets: the allocation logic of DARS, free of I/O.

A query stops when it holds its target of distinct correct responses or ``max_trials`` raw samples.
Each round asks an unfinished query for ``fraction * remaining / p`` samples, where ``p`` is an
optimistic (mean + one standard deviation) estimate of its pass rate: hard queries get large
requests and few rounds, easy ones small requests and little overshoot. Queries without a
difficulty estimate first get ``probe_samples`` samples, which count as data. The strategy
(:mod:`dart_trl.dars.strategies`) decides the targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dart_trl.dars.stats import QueryStats
from dart_trl.dars.strategies import Strategy, get_strategy


@dataclass(frozen=True)
class AllocationConfig:
    """The recipe values the allocation needs; ``strategy`` is a name or an import path."""

    strategy: str
    k_u: int = 40
    k_p: int = 192
    max_trials: int = 2048
    probe_samples: int = 8
    fraction: float = 0.7
    max_samples_per_round: int = 1 << 20
    rule: Strategy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", get_strategy(self.strategy))


def compute_targets(stats: dict[str, QueryStats], config: AllocationConfig) -> dict[str, int | None]:
    """Target distinct correct responses per query (None: no target or difficulty not known yet)."""
    return config.rule.targets(stats, config)


def stop_reason(stats: QueryStats, target: int | None, config: AllocationConfig) -> str | None:
    """Why the query is finished (``target_met`` / ``max_trials``), or None while it needs samples."""
    return config.rule.stop_reason(stats, target, config)


def request_size(stats: QueryStats, target: int | None, config: AllocationConfig) -> int:
    """Samples to ask an unfinished query for in the next round (0 when it is finished)."""
    return config.rule.request_size(stats, target, config)


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
    if target is None or pass_rate <= 0:
        return float(max_trials)
    return min(target / pass_rate, float(max_trials))


def oracle_target(pass_rate: float, max_fail_rate: float, config: AllocationConfig) -> int | None:
    """The target a query would get if its pass rate were known exactly."""
    return config.rule.oracle_target(pass_rate, max_fail_rate, config)
