"""The DARS sampling loop: plan a round, sample it in chunks, grade, append to disk, repeat."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dart_trl.dars.config import DarsArguments
from dart_trl.dars.pools import Query
from dart_trl.dars.stats import QueryStats
from dart_trl.dars.store import SampleStore, derive_seed, response_digest
from dart_trl.sampling import LazySampler, Request


@dataclass
class RoundSummary:
    """What one round did, for the terminal and W&B."""

    round: int
    queries_done: int
    queries_total: int
    raw_samples: int
    round_samples: int
    round_corrects: int
    seconds: float
    eta_seconds: float | None

    @property
    def correct_rate(self) -> float:
        """Share of this round's samples that were correct."""
        return self.round_corrects / self.round_samples if self.round_samples else 0.0

    @property
    def samples_per_second(self) -> float:
        """Raw samples per second over this round."""
        return self.round_samples / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Part:
    query_id: str
    part: int
    n: int


def _split_requests(sizes: dict[str, int], chunk_samples: int) -> list[_Part]:
    parts = []
    for qid, n in sizes.items():
        for part, start in enumerate(range(0, n, chunk_samples)):
            parts.append(_Part(qid, part, min(chunk_samples, n - start)))
    return parts


def _chunks(parts: list[_Part], chunk_samples: int) -> Iterator[list[_Part]]:
    chunk: list[_Part] = []
    size = 0
    for p in parts:
        if chunk and size + p.n > chunk_samples:
            yield chunk
            chunk, size = [], 0
        chunk.append(p)
        size += p.n
    if chunk:
        yield chunk


def expected_remaining_samples(stats: dict[str, QueryStats], args: DarsArguments) -> float:
    """Rough raw samples still needed: remaining target / estimated pass rate, capped by max_trials."""
    targets = args.rule.targets(stats, args)
    total = 0.0
    for qid, s in stats.items():
        target = targets[qid]
        if args.rule.stop_reason(s, target, args) is not None:
            continue
        room = args.max_trials - s.n_samples
        if target is None:
            total += args.probe_samples if args.rule.has_targets else room
            continue
        p = s.known_pass_rate if s.known_pass_rate is not None else (s.n_corrects + 0.5) / (s.n_samples + 1)
        total += min(room, (target - s.n_unique_corrects) / max(p, 1e-4))
    return total


def synthesize(
    queries: list[Query],
    args: DarsArguments,
    store: SampleStore,
    sampler: LazySampler,
    grader,
    prompt_of: Callable[[Query], str],
    *,
    seed: int,
    max_rounds: int,
    chunk_samples: int,
    on_round: Callable[[RoundSummary, dict[str, QueryStats]], None] | None = None,
    known_pass_rates: dict[str, float] | None = None,
) -> dict[str, QueryStats]:
    """Sample until every query is finished (or ``max_rounds``), resuming from what is on disk.

    The sampler is built only when there is something to sample. Each engine call's samples are
    graded and appended to the store before the next call, so a kill loses at most one call's work.
    Returns the final per-query statistics.
    """
    by_id = {q.query_id: q for q in queries}
    stats, digests, last_round = store.tally(by_id, known_pass_rates)
    round_no = store.next_round(last_round)
    prompts: dict[str, str] = {}
    try:
        while round_no <= max_rounds:
            sizes = args.rule.plan_round(stats, args)
            if not sizes:
                break
            engine = sampler.build()  # before the round's clock starts: loading the model is not sampling
            start = time.perf_counter()
            round_samples = round_corrects = 0
            for chunk in _chunks(_split_requests(sizes, chunk_samples), chunk_samples):
                requests = []
                for p in chunk:
                    if p.query_id not in prompts:
                        prompts[p.query_id] = prompt_of(by_id[p.query_id])
                    seed_ = derive_seed(seed, p.query_id, round_no, p.part)
                    requests.append(Request(prompts[p.query_id], n=p.n, seed=seed_))
                outputs = engine.generate(requests)
                items, owners = [], []
                for p, completions in zip(chunk, outputs, strict=True):
                    for i, c in enumerate(completions):
                        items.append(
                            {
                                "completion": c.text,
                                "gold": by_id[p.query_id].gold,
                                "finish_reason": c.finish_reason,
                            }
                        )
                        owners.append((p, i, c))
                verdicts = grader.grade_batch(items)
                records = []
                for (p, i, c), verdict in zip(owners, verdicts, strict=True):
                    s = stats[p.query_id]
                    s.n_samples += 1
                    if verdict.correct:
                        s.n_corrects += 1
                        round_corrects += 1
                        digest = response_digest(c.text)
                        if digest not in digests[p.query_id]:
                            digests[p.query_id].add(digest)
                            s.n_unique_corrects += 1
                    records.append(
                        {
                            "query_id": p.query_id,
                            "round": round_no,
                            "sample": f"{p.part}.{i}",
                            "response": c.text,
                            "answer": verdict.answer,
                            "correct": bool(verdict.correct),
                            "finish_reason": c.finish_reason,
                            "num_tokens": c.num_tokens,
                        }
                    )
                round_samples += len(records)
                store.append(records)
            seconds = time.perf_counter() - start
            targets = args.rule.targets(stats, args)
            done = sum(args.rule.stop_reason(s, targets[q], args) is not None for q, s in stats.items())
            raw = sum(s.n_samples for s in stats.values())
            store.write_state(
                {
                    "round": round_no,
                    "strategy": args.strategy,
                    "queries": len(stats),
                    "queries_done": done,
                    "raw_samples": raw,
                }
            )
            rate = round_samples / seconds if seconds > 0 else 0.0
            remaining = expected_remaining_samples(stats, args)
            eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else math.inf)
            summary = RoundSummary(
                round_no,
                done,
                len(stats),
                raw,
                round_samples,
                round_corrects,
                seconds,
                None if math.isinf(eta) else eta,
            )
            if on_round is not None:
                on_round(summary, stats)
            round_no += 1
    finally:
        store.close()
        sampler.close()
    return stats
