"""Allocation statistics of DARS on a scripted sampler: raw samples against the oracle bound, and rounds.

The scripted sampler answers query q correctly with probability p_q (no model involved: this measures
allocation only). The pass rates follow a realistic spread for a DeepSeekMath-7B-RL-like model on
MATH train (levels 1-5) plus GSM8K train, with a few near-impossible queries (about 15k queries).

For each strategy it prints raw samples / oracle bound, where the bound is sum_q min(target_q / p_q,
max_trials) with the target computed from the true p_q, and the number of rounds; and the same for the
reference sweep policy (every unfinished query once per sweep, fixed 16384-sample batches, stop at
n_corrects > k). Prop2Diff is run with difficulty estimated online (the first samples of each query
are both its estimate and data) and compared to the bound that knows p.

    python benchmarks/dars_allocation.py [--seed 0] [--queries-scale 1.0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from dart_trl.dars.config import DarsArguments
from dart_trl.dars.stats import QueryStats
from dart_trl.dars.strategies import oracle_samples

# Query counts of the DART-Math pool: GSM8K train (level 0) and MATH train by level.
QUERY_COUNTS = {0: 7473, 1: 565, 2: 1349, 3: 1592, 4: 1690, 5: 2304}
# Beta(mean * s, (1 - mean) * s) pass rates per level (GSM8K as level 0).
LEVEL_MEANS = {0: 0.88, 1: 0.9, 2: 0.8, 3: 0.68, 4: 0.55, 5: 0.33}
CONCENTRATION = 3.0
NEAR_IMPOSSIBLE_SHARE = {4: 0.01, 5: 0.04}  # p in [1e-4, 2e-3]: the unanswerable/ill-posed tail
SWEEP_BATCH = 16384


def make_pass_rates(rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Pass rates of the simulated pool: Beta per level, with a near-impossible tail."""
    rates = []
    for level, count in QUERY_COUNTS.items():
        count = max(1, int(count * scale))
        mean = LEVEL_MEANS[level]
        p = rng.beta(mean * CONCENTRATION, (1 - mean) * CONCENTRATION, size=count)
        hard = rng.random(count) < NEAR_IMPOSSIBLE_SHARE.get(level, 0.0)
        p[hard] = rng.uniform(1e-4, 2e-3, size=hard.sum())
        rates.append(np.clip(p, 1e-4, 1.0))
    return np.concatenate(rates)


@dataclass
class Outcome:
    """Raw samples drawn, rounds used, and whether every kept count is exactly min(target, found)."""

    raw: int
    rounds: int
    exact: bool = True


def oracle_bound(p: np.ndarray, config: DarsArguments) -> float:
    """sum_q min(target_q / p_q, max_trials), with targets from the true pass rates."""
    max_d = float((1 - p).max())
    return sum(
        oracle_samples(pq, config.rule.oracle_target(pq, max_d, config), config.max_trials) for pq in p
    )


def simulate_dars(p: np.ndarray, config: DarsArguments, rng: np.random.Generator) -> Outcome:
    """Run the DARS allocation rounds against the scripted sampler (online difficulty estimation)."""
    stats = {str(i): QueryStats() for i in range(len(p))}
    index = {qid: i for i, qid in enumerate(stats)}
    rounds = 0
    while True:
        sizes = config.rule.plan_round(stats, config)
        if not sizes:
            break
        rounds += 1
        for qid, m in sizes.items():
            c = int(rng.binomial(m, p[index[qid]]))
            s = stats[qid]
            s.n_samples += m
            s.n_corrects += c
            s.n_unique_corrects += c  # scripted responses are all distinct
    targets = config.rule.targets(stats, config)
    exact = all(config.rule.stop_reason(s, targets[q], config) is not None for q, s in stats.items())
    return Outcome(sum(s.n_samples for s in stats.values()), rounds, exact)


def simulate_sweep(p: np.ndarray, targets: np.ndarray, max_trials: int, rng: np.random.Generator) -> Outcome:
    """The reference policy: cycle over unfinished queries in fixed batches, stop at n_corrects > k."""
    n = np.zeros(len(p), dtype=np.int64)
    c = np.zeros(len(p), dtype=np.int64)
    rounds = 0
    while True:
        open_ = np.flatnonzero((c <= targets) & (n < max_trials))
        if open_.size == 0:
            break
        rounds += 1
        per, extra = divmod(SWEEP_BATCH, open_.size)
        m = np.full(open_.size, per, dtype=np.int64)
        m[:extra] += 1
        m = np.minimum(m, max_trials - n[open_])
        n[open_] += m
        c[open_] += rng.binomial(m, p[open_])
    return Outcome(int(n.sum()), rounds)


def main() -> None:
    """Print the allocation statistics of each strategy and of the sweep policy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries-scale", type=float, default=1.0, help="scale the pool size")
    parser.add_argument("--fraction", type=float, default=DarsArguments.request_fraction)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    p = make_pass_rates(rng, args.queries_scale)
    print(f"pool: {len(p)} queries, mean pass rate {p.mean():.3f}, {int((p < 2e-3).sum())} near-impossible")
    settings = [
        (
            "uniform",
            DarsArguments(strategy="uniform", k_u=40, max_trials=2048, request_fraction=args.fraction),
            1.03,
        ),
        (
            "prop2diff",
            DarsArguments(strategy="prop2diff", k_p=192, max_trials=2048, request_fraction=args.fraction),
            1.06,
        ),
    ]
    print(f"{'policy':<26}{'raw samples':>14}{'bound':>14}{'ratio':>8}{'rounds':>8}  target")
    for name, config, goal in settings:
        bound = oracle_bound(p, config)
        start = time.perf_counter()
        dars = simulate_dars(p, config, rng)
        took = time.perf_counter() - start
        ratio = dars.raw / bound
        verdict = "ok" if ratio <= goal and dars.rounds <= 25 and dars.exact else "MISSED"
        print(
            f"{'dars ' + name:<26}{dars.raw:>14,}{bound:>14,.0f}{ratio:>8.3f}{dars.rounds:>8}"
            f"  <= {goal:.2f}x, <= 25 rounds: {verdict} ({took:.1f}s)"
        )
        max_d = float((1 - p).max())
        targets = np.array([config.rule.oracle_target(pq, max_d, config) for pq in p], dtype=np.int64)
        sweep = simulate_sweep(p, targets, config.max_trials, rng)
        print(
            f"{'sweep ' + name + ' (k+1)':<26}{sweep.raw:>14,}{bound:>14,.0f}"
            f"{sweep.raw / bound:>8.3f}{sweep.rounds:>8}  reference, knows p"
        )
    vrt = DarsArguments(strategy="vrt", max_trials=52)
    out = simulate_dars(p, vrt, rng)
    print(
        f"{'dars vrt (52 trials)':<26}{out.raw:>14,}{len(p) * 52:>14,}{out.raw / (len(p) * 52):>8.3f}{out.rounds:>8}"
    )


if __name__ == "__main__":
    main()
