"""DARS allocation: targets, stop rules, request sizes; allocation statistics on a scripted sampler."""

from __future__ import annotations

import numpy as np
import pytest

from dart_trl.dars.config import DarsArguments
from dart_trl.dars.stats import MAX_TRIALS, TARGET_MET, QueryStats, round_half_up
from dart_trl.dars.strategies import Prop2Diff, Uniform, oracle_samples


def test_prop2diff_targets_follow_the_papers_formula():
    args = DarsArguments(strategy="prop2diff", k_p=192, probe_samples=8)
    stats = {
        "hard": QueryStats(known_pass_rate=0.0),  # d = 1 = max_d
        "mid": QueryStats(known_pass_rate=0.5),
        "easy": QueryStats(known_pass_rate=0.999),
        "solved": QueryStats(known_pass_rate=1.0),
        "half": QueryStats(n_samples=384, n_corrects=383),  # d = 1/384: 192 * d = 0.5 -> rounds up to 1
        "new": QueryStats(n_samples=3),  # fewer than probe_samples: not known yet
    }
    assert isinstance(args.rule, Prop2Diff)
    targets = args.rule.targets(stats, args)
    assert targets == {"hard": 192, "mid": 96, "easy": 1, "solved": 1, "half": 1, "new": None}
    assert round_half_up(2.5) == 3 and round_half_up(3.5) == 4  # not banker's rounding
    # max_d is the largest fail rate of the pool, not 1.
    stats = {"a": QueryStats(known_pass_rate=0.6), "b": QueryStats(known_pass_rate=0.8)}
    assert args.rule.targets(stats, args) == {"a": 192, "b": 96}


def test_uniform_and_vrt_targets_and_stop_rules():
    uniform = DarsArguments(strategy="uniform", k_u=40, max_trials=100)
    rule = uniform.rule
    assert isinstance(rule, Uniform)
    assert rule.targets({"q": QueryStats()}, uniform) == {"q": 40}
    assert (
        rule.stop_reason(QueryStats(n_samples=50, n_corrects=45, n_unique_corrects=40), 40, uniform)
        == TARGET_MET
    )
    # Duplicates do not count toward a target: 45 correct but only 39 distinct.
    assert (
        rule.stop_reason(QueryStats(n_samples=50, n_corrects=45, n_unique_corrects=39), 40, uniform) is None
    )
    assert (
        rule.stop_reason(QueryStats(n_samples=100, n_corrects=3, n_unique_corrects=3), 40, uniform)
        == MAX_TRIALS
    )
    vrt = DarsArguments(strategy="vrt", max_trials=52)
    assert vrt.rule.targets({"q": QueryStats()}, vrt) == {"q": None}
    assert vrt.rule.request_size(QueryStats(n_samples=10), None, vrt) == 42  # the rest of its trials at once
    assert (
        vrt.rule.stop_reason(QueryStats(n_samples=52, n_corrects=52, n_unique_corrects=52), None, vrt)
        == MAX_TRIALS
    )


def test_request_sizes_probe_first_then_scale_with_difficulty():
    args = DarsArguments(strategy="uniform", k_u=40, max_trials=2048, probe_samples=8)
    size = args.rule.request_size
    assert size(QueryStats(), 40, args) == 8  # unknown difficulty: probe
    easy = size(QueryStats(n_samples=8, n_corrects=8, n_unique_corrects=8), 40, args)
    hard = size(QueryStats(n_samples=8, n_corrects=1, n_unique_corrects=1), 40, args)
    assert 20 <= easy <= 32  # about 0.7 * 32 remaining at p ~ 1: little overshoot
    assert hard > 3 * easy  # a hard query gets a big request (optimistic p while uncertain)
    assert (
        size(QueryStats(n_samples=2040, n_corrects=1, n_unique_corrects=1), 40, args) == 8
    )  # within max_trials
    assert size(QueryStats(known_pass_rate=0.5), 40, args) == 56  # known difficulty: no probe, 0.7 * 40 / 0.5
    # request_fraction is the recipe's key: 1.4 * 40 / 0.5 = 112.
    bolder = DarsArguments(strategy="uniform", k_u=40, max_trials=2048, request_fraction=1.4)
    assert bolder.rule.request_size(QueryStats(known_pass_rate=0.5), 40, bolder) == 112


def test_plan_round_respects_the_round_cap():
    args = DarsArguments(strategy="vrt", max_trials=1000, max_samples_per_round=5000)
    sizes = args.rule.plan_round({str(i): QueryStats() for i in range(10)}, args)
    assert len(sizes) == 10 and sum(sizes.values()) <= 5000
    assert args.rule.plan_round({"q": QueryStats(n_samples=1000)}, args) == {}


def simulate(p: np.ndarray, args: DarsArguments, seed: int = 0) -> tuple[int, int, bool]:
    """Scripted sampler (allocation statistics only): query i is correct with probability p[i]."""
    rng = np.random.default_rng(seed)
    stats = {str(i): QueryStats() for i in range(len(p))}
    rounds = 0
    while sizes := args.rule.plan_round(stats, args):
        rounds += 1
        for qid, m in sizes.items():
            c = int(rng.binomial(m, p[int(qid)]))
            s = stats[qid]
            s.n_samples, s.n_corrects, s.n_unique_corrects = (
                s.n_samples + m,
                s.n_corrects + c,
                s.n_unique_corrects + c,
            )
    targets = args.rule.targets(stats, args)
    finished = all(args.rule.stop_reason(s, targets[q], args) for q, s in stats.items())
    return sum(s.n_samples for s in stats.values()), rounds, finished


@pytest.mark.parametrize("strategy, limit", [("uniform", 1.04), ("prop2diff", 1.06)])
def test_allocation_stays_near_the_oracle_bound_in_few_rounds(strategy, limit):
    rng = np.random.default_rng(1)
    p = np.clip(rng.beta(1.5, 1.0, size=2000), 1e-3, 1.0)
    args = DarsArguments(strategy=strategy, k_u=40, k_p=192, max_trials=2048)
    max_d = float((1 - p).max())
    bound = sum(oracle_samples(q, args.rule.oracle_target(q, max_d, args), args.max_trials) for q in p)
    raw, rounds, finished = simulate(p, args)
    assert finished
    assert raw / bound <= limit
    assert rounds <= 25
