"""DARS strategies: how many samples each query gets, by name, free of I/O.

A strategy holds the target rule, the stop rule and the request sizing in one object:

- ``vrt``: no target; every query gets ``max_trials`` raw samples (the baseline).
- ``uniform``: ``k_u`` distinct correct responses per query.
- ``prop2diff``: ``max(1, round(k_p * d_q / max_d))`` distinct correct responses, with ``d_q`` the fail
  rate of query q (known from a pool-info file, or estimated from its own first ``probe_samples``) and
  ``max_d`` the largest fail rate of the pool. Targets move as estimates firm up.

A query stops when it holds its target of distinct correct responses or ``max_trials`` raw samples.
Each round asks an unfinished query for ``request_fraction * remaining / p`` samples, where ``p`` is an
optimistic (mean + one standard deviation) estimate of its pass rate: hard queries get large requests
and few rounds, easy ones small requests and little overshoot. Queries without a difficulty estimate
first get ``probe_samples`` samples, which count as data. The methods read these settings from the
recipe's :class:`~dart_trl.dars.config.DarsArguments`.

A recipe names a strategy of :data:`STRATEGIES`, or a :class:`Strategy` subclass (or instance) of one's
own by import path (``strategy: my_pkg.dars.Sqrt2Diff``). CONTRIBUTING.md walks through adding one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dart_trl.config.plugins import import_object, is_import_path
from dart_trl.config.values import closest_key
from dart_trl.dars.stats import (
    MAX_TRIALS,
    TARGET_MET,
    QueryStats,
    fail_rate,
    optimistic_pass_rate,
    round_half_up,
)

if TYPE_CHECKING:
    from dart_trl.dars.config import DarsArguments


class Strategy:
    """A DARS strategy. Subclasses set ``name`` and override :meth:`targets` and :meth:`oracle_target`;
    the stop rule and request sizing below suit any strategy with targets."""

    name: str = "strategy"
    has_targets: bool = True

    def targets(self, stats: dict[str, QueryStats], args: DarsArguments) -> dict[str, int | None]:
        """Distinct correct responses wanted per query (None: no target, or difficulty not known yet)."""
        raise NotImplementedError

    def oracle_target(self, pass_rate: float, max_fail_rate: float, args: DarsArguments) -> int | None:
        """The target a query would get if its pass rate were known exactly (for ``--plan``)."""
        raise NotImplementedError

    def describe(self, args: DarsArguments) -> str:
        """One phrase for the dataset card: what the strategy keeps."""
        return f"strategy {self.name}"

    def stop_reason(self, stats: QueryStats, target: int | None, args: DarsArguments) -> str | None:
        """Why the query is finished (``target_met`` / ``max_trials``), or None while it needs samples."""
        if target is not None and stats.n_unique_corrects >= target:
            return TARGET_MET
        if stats.n_samples >= args.max_trials:
            return MAX_TRIALS
        return None

    def request_size(self, stats: QueryStats, target: int | None, args: DarsArguments) -> int:
        """Samples to ask an unfinished query for in the next round (0 when it is finished): its probe
        first, then ``request_fraction * remaining / p`` with ``p`` an optimistic estimate of its pass rate."""
        if self.stop_reason(stats, target, args) is not None:
            return 0
        room = args.max_trials - stats.n_samples
        if stats.known_pass_rate is None and stats.n_samples < args.probe_samples:
            return min(room, args.probe_samples - stats.n_samples)
        if target is None:  # difficulty not known yet (probe_samples == 0): one sample to start
            return 1
        remaining = target - stats.n_unique_corrects
        expected = max(args.request_fraction * remaining, min(remaining, 1.5))
        return max(1, min(room, math.ceil(expected / optimistic_pass_rate(stats))))

    def plan_round(self, stats: dict[str, QueryStats], args: DarsArguments) -> dict[str, int]:
        """Request sizes of the next round for every unfinished query, scaled down to
        ``max_samples_per_round`` in all."""
        targets = self.targets(stats, args)
        sizes = {q: n for q, s in stats.items() if (n := self.request_size(s, targets[q], args)) > 0}
        total = sum(sizes.values())
        if total > args.max_samples_per_round:
            scale = args.max_samples_per_round / total
            sizes = {q: max(1, int(n * scale)) for q, n in sizes.items()}
        return sizes


def oracle_samples(pass_rate: float, target: int | None, max_trials: int) -> float:
    """Expected raw samples of a query when its pass rate is known: min(target / p, max_trials)."""
    if target is None or pass_rate <= 0:
        return float(max_trials)
    return min(target / pass_rate, float(max_trials))


class VRT(Strategy):
    """Vanilla rejection tuning: ``max_trials`` raw samples per query, every correct one kept."""

    name = "vrt"
    has_targets = False

    def targets(self, stats, args):
        """No query has a target."""
        return dict.fromkeys(stats)

    def oracle_target(self, pass_rate, max_fail_rate, args):
        """No target."""
        return None

    def describe(self, args):
        """Fixed raw samples."""
        return f"every query sampled {args.max_trials} times, correct responses kept"

    def request_size(self, stats, target, args):
        """All the samples the query has left."""
        return 0 if self.stop_reason(stats, target, args) else args.max_trials - stats.n_samples


class Uniform(Strategy):
    """``k_u`` distinct correct responses for every query."""

    name = "uniform"

    def targets(self, stats, args):
        """``k_u`` for every query."""
        return dict.fromkeys(stats, args.k_u)

    def oracle_target(self, pass_rate, max_fail_rate, args):
        """``k_u``."""
        return args.k_u

    def describe(self, args):
        """Fixed correct responses."""
        return f"{args.k_u} correct responses per query"


class Prop2Diff(Strategy):
    """Correct responses proportional to difficulty (fail rate); ``k_p`` for the hardest query."""

    name = "prop2diff"

    def targets(self, stats, args):
        """``max(1, round(k_p * d / max_d))`` for queries whose fail rate ``d`` is known or estimated."""
        rates = {qid: fail_rate(s, args.probe_samples, args.max_trials) for qid, s in stats.items()}
        max_d = max((d for d in rates.values() if d is not None), default=0.0)
        return {qid: None if d is None else self._target(d, max_d, args.k_p) for qid, d in rates.items()}

    def oracle_target(self, pass_rate, max_fail_rate, args):
        """The target for an exactly known pass rate."""
        return self._target(1.0 - pass_rate, max_fail_rate, args.k_p)

    def describe(self, args):
        """Proportional to difficulty."""
        return f"k_p={args.k_p} correct responses for the hardest query, proportional to fail rate"

    @staticmethod
    def _target(fail: float, max_fail: float, k_p: int) -> int:
        return max(1, round_half_up(k_p * fail / max_fail)) if max_fail > 0 else 1


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (VRT(), Uniform(), Prop2Diff())}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name`` in :data:`STRATEGIES`, or a :class:`Strategy` (class or instance) by
    import path. Raises ValueError naming the choices."""
    if name in STRATEGIES:
        return STRATEGIES[name]
    if not is_import_path(name):
        hint = closest_key(name, STRATEGIES)
        raise ValueError(
            f"unknown strategy '{name}'{hint} (choose from {list(STRATEGIES)} or give an import path)"
        )
    found = import_object(name)
    strategy = found() if isinstance(found, type) and issubclass(found, Strategy) else found
    if not isinstance(strategy, Strategy):
        raise ValueError(f"strategy '{name}' is not a dart_trl.dars.strategies.Strategy")
    return strategy
