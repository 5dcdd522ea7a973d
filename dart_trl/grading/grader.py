"""``Grader``: extraction + memoised fast path + worker pool, for one item or a batch."""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dart_trl.grading.equivalence import NeedsSymbolic, Options, compare_normalized
from dart_trl.grading.extract import extract_answer
from dart_trl.grading.normalize import normalize_answer
from dart_trl.grading.workers import WorkerPool

_Key = tuple[str, str, Options]


@dataclass(frozen=True)
class Verdict:
    """The grade of one completion.

    ``reason`` is one of ``ok`` (correct), ``wrong``, ``no_answer`` (nothing extracted, or the final
    answer is unreadable: a final box never closed, an answer too large to compare; see
    ``dart_trl.grading.extract``), ``truncated`` (``finish_reason == "length"``), ``timeout`` (the
    symbolic check overran its deadline or crashed its worker), ``unparseable_gold`` (nothing to
    compare against, or a gold longer than ``MAX_ANSWER_CHARS``) or ``error`` (the check raised).
    """

    correct: bool
    answer: str | None
    reason: str


class Grader:
    """Grades completions against gold answers; thread-safe, picklable, cheap to construct.

    Gold answers are strings (``str()`` is applied to anything else). Accepted forms: LaTeX or
    plain answers (``$\\frac{1}{2}$``, ``\\boxed{3}``, ``0.5``, ``50\\%``, ``x = 3``), booleans
    ``"True"``/``"False"`` (with ``answer_type="bool"``), lists ``"[1, 2, 3]"``, tuples
    ``"(1, 2)"``, sets ``"\\{1, 2\\}"``, intervals ``"[0, 1)"``, matrices, several answers joined by
    commas / "and" (OlympiadBench ``final_answer`` lists joined with ", "), choice letters
    ``"C"``/``"(c)"``. ``answer_type`` (case-insensitive): ``bool``, ``choice``/``option``,
    ``integer``, ``float``, ``numerical``, ``expression``, ``list``, ``list of integer``,
    ``list of float``, ``tuple``, ``interval``, ``set``; it decides ordered vs set comparison
    (see ``dart_trl.grading.equivalence``). ``rel_tol``/``abs_tol`` give a numeric tolerance.

    Symbolic checks run in ``num_workers`` worker processes (default: ``min(2, cpu_count)``),
    started on first need, each item under a hard ``timeout`` (seconds). Results are memoised on
    (normalised answer, normalised gold, options) for up to ``cache_size`` pairs. Generations cut by
    ``max_tokens`` (``finish_reason == "length"``) are graded incorrect unless ``grade_truncated``.
    """

    def __init__(
        self,
        mode: str = "default",
        timeout: float = 5.0,
        num_workers: int | None = None,
        grade_truncated: bool = False,
        cache_size: int = 200_000,
        memory_limit_mb: int = 2048,
    ) -> None:
        if mode not in ("default", "strict"):
            raise ValueError(f"unknown grading mode {mode!r} (expected 'default' or 'strict')")
        self.mode = mode
        self.timeout = float(timeout)
        self.num_workers = num_workers or min(2, os.cpu_count() or 1)
        self.grade_truncated = grade_truncated
        self.cache_size = cache_size
        self.memory_limit_mb = memory_limit_mb
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[_Key, str] = OrderedDict()
        self._workers: WorkerPool | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_lock", "_cache", "_workers"):
            state.pop(name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_state()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (a later symbolic check starts new ones)."""
        with self._lock:
            pool, self._workers = self._workers, None
        if pool is not None:
            pool.close()

    def _pool(self) -> WorkerPool:
        with self._lock:
            if self._workers is None or self._workers.forked:
                self._workers = WorkerPool(self.num_workers, self.timeout, self.memory_limit_mb)
            return self._workers

    def _cached(self, key: _Key) -> str | None:
        with self._lock:
            reason = self._cache.get(key)
            if reason is not None:
                self._cache.move_to_end(key)
            return reason

    def _store(self, key: _Key, reason: str) -> None:
        with self._lock:
            self._cache[key] = reason
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def resolve(self, keys: Iterable[_Key]) -> dict[_Key, str]:
        """Reason (ok / wrong / timeout / unparseable_gold / error) for each normalised pair."""
        out: dict[_Key, str] = {}
        symbolic: list[_Key] = []
        for key in dict.fromkeys(keys):
            reason = self._cached(key)
            if reason is None:
                try:
                    reason = "ok" if compare_normalized(key[0], key[1], key[2], None) else "wrong"
                except NeedsSymbolic:
                    symbolic.append(key)
                    continue
                self._store(key, reason)
            out[key] = reason
        if symbolic:
            tasks = [{"pred": p, "gold": g, "opts": asdict(o)} for p, g, o in symbolic]
            for key, reply in zip(symbolic, self._pool().map(tasks), strict=True):
                reason = ("ok" if reply["ok"] else "wrong") if "ok" in reply else reply["error"]
                self._store(key, reason)
                out[key] = reason
        return out

    def grade(self, completion: str, gold: str, finish_reason: str | None = None, **opts: Any) -> Verdict:
        """Grade one completion; ``opts``: ``rel_tol``, ``abs_tol``, ``answer_type``."""
        return self.grade_batch(
            [{"completion": completion, "gold": gold, "finish_reason": finish_reason, **opts}]
        )[0]

    def grade_batch(self, items: Iterable[Mapping[str, Any]]) -> list[Verdict]:
        """Grade many items (keys: ``completion``, ``gold``, optional ``finish_reason``,
        ``rel_tol``, ``abs_tol``, ``answer_type``); repeated pairs are checked once."""
        verdicts: list[Verdict | None] = []
        pending: list[tuple[int, str, _Key]] = []
        for i, item in enumerate(items):
            answer = extract_answer(item.get("completion") or "", self.mode)
            gold = normalize_answer(_gold_str(item.get("gold")))
            pred = normalize_answer(answer) if answer is not None else ""
            if item.get("finish_reason") == "length" and not self.grade_truncated:
                verdicts.append(Verdict(False, answer, "truncated"))
            elif not gold:
                verdicts.append(Verdict(False, answer, "unparseable_gold"))
            elif not pred:
                verdicts.append(Verdict(False, answer, "no_answer"))
            else:
                opts = Options.make(item.get("rel_tol"), item.get("abs_tol"), item.get("answer_type"))
                verdicts.append(None)
                pending.append((i, answer, (pred, gold, opts)))
        reasons = self.resolve(key for _, _, key in pending)
        for i, answer, key in pending:
            verdicts[i] = Verdict(reasons[key] == "ok", answer, reasons[key])
        return verdicts  # type: ignore[return-value]

    def equivalent(self, pred: str, gold: str, opts: Options) -> bool:
        """Whether two answers (not completions) are equivalent; timeouts count as False."""
        p, g = normalize_answer(pred), normalize_answer(gold)
        if not p or not g:
            return False
        return self.resolve([(p, g, opts)])[(p, g, opts)] == "ok"


def _gold_str(gold: object) -> str:
    if gold is None:
        return ""
    if isinstance(gold, (list, tuple)):
        return "[" + ", ".join(str(g) for g in gold) + "]"
    return str(gold)


_default: Grader | None = None
_default_lock = threading.Lock()


def default_grader() -> Grader:
    """The process-wide Grader behind ``is_equivalent`` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Grader()
            atexit.register(_default.close)
        return _default


def is_equivalent(
    pred: str,
    gold: str,
    *,
    rel_tol: float | None = None,
    abs_tol: float | None = None,
    answer_type: str | None = None,
) -> bool:
    """Whether answer ``pred`` equals gold answer ``gold`` (both answers, not full completions).

    Cheap cases are decided in-process; symbolic ones run in the shared worker pool of
    ``default_grader()`` (a timeout counts as not equivalent).
    """
    return default_grader().equivalent(pred, gold, Options.make(rel_tol, abs_tol, answer_type))
