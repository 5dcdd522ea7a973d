"""``--plan``: the raw samples (and GPU hours) a run is expected to need, before any sampling."""

from __future__ import annotations

from collections import defaultdict

from dart_trl.dars.config import DarsArguments
from dart_trl.dars.pools import Query
from dart_trl.dars.strategies import oracle_samples


def assumed_pass_rate(query: Query, known: dict[str, float], by_level: dict[str, float]) -> float:
    """The pass rate the plan assumes: the known one, else the recipe's per-level guess."""
    if query.query_id in known:
        return known[query.query_id]
    key = str(query.level) if query.level is not None else "default"
    return float(by_level.get(key, by_level.get("default", 0.5)))


def plan_text(
    queries: list[Query],
    args: DarsArguments,
    known: dict[str, float],
    by_level: dict[str, float],
    samples_per_second: float | None,
) -> str:
    """A table of expected raw samples per level and in total, and GPU hours at the given throughput."""
    rates = {q.query_id: assumed_pass_rate(q, known, by_level) for q in queries}
    max_d = max((1.0 - p for p in rates.values()), default=0.0)
    per_level: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for q in queries:
        p = rates[q.query_id]
        target = args.rule.oracle_target(p, max_d, args)
        expected = oracle_samples(p, target, args.max_trials)
        row = per_level["-" if q.level is None else str(q.level)]
        row[0] += 1
        row[1] += expected
        row[2] += args.max_trials if target is None else min(target, p * expected)
    known_share = sum(q.query_id in known for q in queries) / max(len(queries), 1)
    lines = [
        f"plan: strategy {args.strategy}, {len(queries)} queries, "
        f"{known_share:.0%} with known difficulty (the rest use plan_pass_rates)",
        f"{'level':>6}{'queries':>10}{'raw samples':>16}{'responses':>14}",
    ]
    for level in sorted(per_level):
        n, raw, kept = per_level[level]
        lines.append(f"{level:>6}{n:>10}{raw:>16,.0f}{kept:>14,.0f}")
    total = sum(r[1] for r in per_level.values())
    lines.append(
        f"{'total':>6}{len(queries):>10}{total:>16,.0f}{sum(r[2] for r in per_level.values()):>14,.0f}"
    )
    if samples_per_second:
        lines.append(
            f"GPU hours at {samples_per_second:g} samples/s: {total / samples_per_second / 3600:,.1f}"
        )
    else:
        lines.append("set plan_samples_per_second to turn this into GPU hours")
    return "\n".join(lines)
