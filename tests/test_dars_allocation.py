"""DARS allocation: targets, stop rules, request sizes; allocation statistics on a scripted sampler."""

from __future__ import annotations

import numpy as np
import pytest

from dart_trl.dars.allocation import (
    AllocationConfig,
    compute_targets,
    oracle_samples,
    oracle_target,
    plan_round,
    request_size,
    stop_reason,
)
from dart_trl.dars.stats import MAX_TRIALS, TARGET_MET, QueryStats, round_half_up


def test_prop2diff_targets_follow_the_papers_formula():
    config = AllocationConfig("prop2diff", k_p=192, probe_samples=8)
    stats = {
        "hard": QueryStats(known_pass_rate=0.0),  # d = 1 = max_d
        "mid": QueryStats(known_pass_rate=0.5),
        "easy": QueryStats(known_pass_rate=0.999),
        "solved": QueryStats(known_pass_rate=1.0),
        "half": QueryStats(n_samples=384, n_corrects=383),  # d = 1/384: 192 * d = 0.5 -> rounds up to 1
        "new": QueryStats(n_samples=3),  # fewer than probe_samples: not known yet
    }
    targets = compute_targets(stats, config)
    assert targets == {"hard": 192, "mid": 96, "easy": 1, "solved": 1, "half": 1, "new": None}
    assert round_half_up(2.5) == 3 and round_half_up(3.5) == 4  # not banker's rounding
    # max_d is the largest fail rate of the pool, not 1.
    stats = {"a": QueryStats(known_pass_rate=0.6), "b": QueryStats(known_pass_rate=0.8)}
    assert compute_targets(stats, config) == {"a": 192, "b": 96}


def test_uniform_and_vrt_targets_and_stop_rules():
    uniform = AllocationConfig("uniform", k_u=40, max_trials=100)
    assert compute_targets({"q": QueryStats()}, uniform) == {"q": 40}
    assert (
        stop_reason(QueryStats(n_samples=50, n_corrects=45, n_unique_corrects=40), 40, uniform) == TARGET_MET
    )
    # Duplicates do not count toward a target: 45 correct but only 39 distinct.
    assert stop_reason(QueryStats(n_samples=50, n_corrects=45, n_unique_corrects=39), 40, uniform) is None
    assert (
        stop_reason(QueryStats(n_samples=100, n_corrects=3, n_unique_corrects=3), 40, uniform) == MAX_TRIALS
    )
    vrt = AllocationConfig("vrt", max_trials=52)
    assert compute_targets({"q": QueryStats()}, vrt) == {"q": None}
    assert request_size(QueryStats(n_samples=10), None, vrt) == 42  # the rest of its trials at once
    assert stop_reason(QueryStats(n_samples=52, n_corrects=52, n_unique_corrects=52), None, vrt) == MAX_TRIALS


def test_request_sizes_probe_first_then_scale_with_difficulty():
    config = AllocationConfig("uniform", k_u=40, max_trials=2048, probe_samples=8)
    assert request_size(QueryStats(), 40, config) == 8  # unknown difficulty: probe
    easy = request_size(QueryStats(n_samples=8, n_corrects=8, n_unique_corrects=8), 40, config)
    hard = request_size(QueryStats(n_samples=8, n_corrects=1, n_unique_corrects=1), 40, config)
    assert 20 <= easy <= 32  # about 0.7 * 32 remaining at p ~ 1: little overshoot
    assert hard > 3 * easy  # a hard query gets a big request (optimistic p while uncertain)
    capped = request_size(QueryStats(n_samples=2040, n_corrects=1, n_unique_corrects=1), 40, config)
    assert capped == 8  # never beyond max_trials
    known = request_size(QueryStats(known_pass_rate=0.5), 40, config)
    assert known == 56  # known difficulty: no probe, 0.7 * 40 / 0.5


def test_plan_round_respects_the_round_cap():
    config = AllocationConfig("vrt", max_trials=1000, max_samples_per_round=5000)
    sizes = plan_round({str(i): QueryStats() for i in range(10)}, config)
    assert len(sizes) == 10 and sum(sizes.values()) <= 5000
    assert plan_round({"q": QueryStats(n_samples=1000)}, config) == {}


def simulate(p: np.ndarray, config: AllocationConfig, seed: int = 0) -> tuple[int, int, bool]:
    """Scripted sampler (allocation statistics only): query i is correct with probability p[i]."""
    rng = np.random.default_rng(seed)
    stats = {str(i): QueryStats() for i in range(len(p))}
    rounds = 0
    while sizes := plan_round(stats, config):
        rounds += 1
        for qid, m in sizes.items():
            c = int(rng.binomial(m, p[int(qid)]))
            s = stats[qid]
            s.n_samples, s.n_corrects, s.n_unique_corrects = (
                s.n_samples + m,
                s.n_corrects + c,
                s.n_unique_corrects + c,
            )
    targets = compute_targets(stats, config)
    finished = all(stop_reason(s, targets[q], config) for q, s in stats.items())
    return sum(s.n_samples for s in stats.values()), rounds, finished


@pytest.mark.parametrize("strategy, limit", [("uniform", 1.04), ("prop2diff", 1.06)])
def test_allocation_stays_near_the_oracle_bound_in_few_rounds(strategy, limit):
    rng = np.random.default_rng(1)
    p = np.clip(rng.beta(1.5, 1.0, size=2000), 1e-3, 1.0)
    config = AllocationConfig(strategy, k_u=40, k_p=192, max_trials=2048)
    max_d = float((1 - p).max())
    bound = sum(oracle_samples(q, oracle_target(q, max_d, config), config.max_trials) for q in p)
    raw, rounds, finished = simulate(p, config)
    assert finished
    assert raw / bound <= limit
    assert rounds <= 25
