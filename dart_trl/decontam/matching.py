"""Normalised word n-grams of benchmark questions, and the rows of a dataset that contain them.

Text is normalised before it is compared: lower case; curly quotes straight; thousands commas dropped;
each math span (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) loses its delimiters and all its
spacing, so a formula is one word however it was spaced; everywhere, LaTeX layout commands
(``\\left``, ``\\text``, ``\\displaystyle``, ``\\,`` ...), backslashes, braces and ``~`` are dropped, and
``\\dfrac``/``\\tfrac`` read as ``frac``; spaces around ``+ - * / = < > ^`` are dropped, except
before a sign (so math written without delimiters, as in DeepMind Mathematics, is re-spaced too).
Words are then the whitespace-separated pieces, without the punctuation at their ends (``.,;:!?"'``).
An n-gram is ``n`` consecutive words.

A row matches a benchmark question in one of three ways, checked in this order:

- ``ngram``: the row shares an ``n``-word run with the question (open-r1's rule), not counting runs
  that occur in ``common_questions`` or more questions of one benchmark (boilerplate such as a shared
  instruction, which says nothing about a particular question);
- ``whole_question``: the question is shorter than ``n`` words (or all its runs are boilerplate) and
  the row holds its whole token sequence, anywhere; a question of fewer than :data:`SHORT_RUN_MIN`
  tokens must instead be the whole row, one of its sentences or two consecutive sentences of it;
- ``numbers_changed``: with every number replaced by ``#``, the row contains every ``n``-word run of
  the question (a question of at least ``n`` words whose numbers were changed). Short questions are
  exempt: with its numbers masked, a short question is a template, not a question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_LAYOUT = re.compile(
    r"\\(?:left|right|[bB]igg?[lr]?|displaystyle|textstyle|text|textbf|textit|textrm|mathrm|mathbf|mathit|"
    r"operatorname|mbox|quad|qquad|[,;:! ])(?![a-zA-Z])"
)
_FRAC = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACE = re.compile(r"\s+")
# Spaces after an operator, and before one, except before a sign (``+``/``-`` right before a non-space).
_OPERATOR = re.compile(r"[ \t]+(?=[*/=<>^]|[+\-][ \t])|(?<=[+\-*/=<>^])[ \t]+")
_DROP = str.maketrans({"\\": None, "{": None, "}": None, "~": None, "\u2019": "'", "\u2018": "'", "\u201c": '"',
                       "\u201d": '"', "\u2212": "-"})  # fmt: skip
_PUNCT = ".,;:!?\"'"
_WORD_OR_BREAK = re.compile(rf"[^\s{_PUNCT}]+(?:[{_PUNCT}]+[^\s{_PUNCT}]+)*|[.?!](?=\s)|\n")
_DIGITS = re.compile(r"\d+")
NUMBER = "#"
SHORT_RUN_MIN = 2  # words a short question needs to match anywhere in a row (fewer: a whole sentence)

Tokens = tuple[str, ...]


def _compact_math(match: re.Match) -> str:
    body = next(group for group in match.groups() if group is not None)
    return " " + _SPACE.sub("", _LAYOUT.sub("", body)) + " "


def _normalise(text: str) -> str:
    if "," in text:
        text = _THOUSANDS.sub("", text)
    if "$" in text or "\\" in text:
        text = _MATH.sub(_compact_math, text)
        text = _FRAC.sub("frac", _LAYOUT.sub(" ", text))
    return _OPERATOR.sub("", text.translate(_DROP)).lower()


def tokens(text: str) -> list[str]:
    """The normalised words of ``text`` (see the module docstring)."""
    return [w for w in _WORD_OR_BREAK.findall(_normalise(text)) if w != "\n" and w not in ".?!"]


def words_and_sentences(text: str) -> tuple[list[str], list[str]]:
    """The normalised words of ``text``, and each of its sentences as its words joined by spaces
    (sentences end at ``.?!`` before a space, and at newlines)."""
    found = _WORD_OR_BREAK.findall(_normalise(text))
    marked = " ".join("\n" if w in (".", "?", "!") else w for w in found)  # a word never holds a space
    return marked.split(), [s for part in marked.split("\n") if (s := part.strip())]


def masked(words: Sequence[str]) -> list[str]:
    """``words`` with every number (a run of digits, also inside a word) replaced by ``#``."""
    return _DIGITS.sub(NUMBER, " ".join(words)).split()


def ngrams(words: Sequence[str], n: int) -> Iterable[Tokens]:
    """The ``n``-word runs of ``words``, in order (none when it is shorter than ``n``)."""
    return zip(*(words[i:] for i in range(n)), strict=False)


@dataclass(frozen=True)
class Question:
    """A benchmark question: its benchmark, its index there, and its normalised tokens."""

    benchmark: str
    index: int
    tokens: Tokens


@dataclass(frozen=True)
class Match:
    """How a text matches a question: ``kind`` (ngram, whole_question, numbers_changed), the question's
    position in :attr:`Index.questions`, and the matching n-gram (or ``whole question``) as text."""

    kind: str
    question: int
    evidence: str


EXACT_KINDS = ("ngram", "whole_question")
KINDS = (*EXACT_KINDS, "numbers_changed")


@dataclass
class Index:
    """The n-grams of a list of benchmark questions, ready to match texts against (:meth:`match`)."""

    questions: list[Question]
    n: int = 8
    common_questions: int = 5
    exact: dict[Tokens, tuple[int, ...]] = field(default_factory=dict, init=False)
    short: dict[str, list[int]] = field(default_factory=dict, init=False)
    short_runs: dict[Tokens, list[int]] = field(default_factory=dict, init=False)
    run_lengths: dict[Tokens, set[int]] = field(default_factory=dict, init=False)
    masked_rare: dict[Tokens, list[int]] = field(default_factory=dict, init=False)
    masked_sets: dict[int, frozenset[Tokens]] = field(default_factory=dict, init=False)
    common: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ValueError(f"ngram_size must be at least 2, got {self.n}")
        owners: dict[Tokens, list[int]] = {}
        masked_owners: dict[Tokens, list[int]] = {}
        for qid, question in enumerate(self.questions):
            words = question.tokens
            if not words:
                continue
            if len(words) < self.n:
                self._add_whole(qid)
                continue
            for gram in set(ngrams(words, self.n)):
                owners.setdefault(gram, []).append(qid)
            grams = frozenset(ngrams(masked(words), self.n))
            self.masked_sets[qid] = grams
            for gram in grams:
                masked_owners.setdefault(gram, []).append(qid)
        has_rare: set[int] = set()
        for gram, qids in owners.items():
            if _max_per_benchmark(qids, self.questions) < self.common_questions:
                self.exact[gram] = tuple(qids)
                has_rare.update(qids)
            else:
                self.common += 1
        for qid in self.masked_sets.keys() - has_rare:  # all boilerplate: it matches as a whole
            self._add_whole(qid)
        self.masked_rare = {
            gram: qids
            for gram, qids in masked_owners.items()
            if _max_per_benchmark(qids, self.questions) < self.common_questions
        }

    def _add_whole(self, qid: int) -> None:
        words = self.questions[qid].tokens
        if len(words) < SHORT_RUN_MIN:
            self.short.setdefault(" ".join(words), []).append(qid)
        else:
            self.short_runs.setdefault(words, []).append(qid)
            self.run_lengths.setdefault(words[:2], set()).add(len(words))

    def _whole_questions(self, words: list[str], sentences: list[str]) -> Iterable[int]:
        """The questions matched whole: short runs anywhere in ``words``, very short ones as sentences."""
        if self.run_lengths and not self.run_lengths.keys().isdisjoint(zip(words, words[1:], strict=False)):
            for i, start in enumerate(zip(words, words[1:], strict=False)):
                for length in self.run_lengths.get(start, ()):
                    yield from self.short_runs.get(tuple(words[i : i + length]), ())
        if self.short:
            candidates = [" ".join(words), *sentences]
            candidates += [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
            for candidate in candidates:
                yield from self.short.get(candidate, ())

    def matches(self, text: str) -> list[Match]:
        """How ``text`` matches each benchmark: at most one :class:`Match` per benchmark, the first
        in :data:`KINDS` order (then in text order)."""
        words, sentences = words_and_sentences(text)
        found: dict[str, Match] = {}
        if not self.exact.keys().isdisjoint(ngrams(words, self.n)):
            for gram in ngrams(words, self.n):
                for qid in self.exact.get(gram, ()):
                    found.setdefault(self.questions[qid].benchmark, Match("ngram", qid, " ".join(gram)))
        for qid in self._whole_questions(words, sentences):
            found.setdefault(self.questions[qid].benchmark, Match("whole_question", qid, "whole question"))
        hidden = masked(words)
        if self.masked_rare.keys().isdisjoint(ngrams(hidden, self.n)):
            return list(found.values())
        grams = set(ngrams(hidden, self.n))
        for qid in sorted({q for g in grams for q in self.masked_rare.get(g, ())}):
            name = self.questions[qid].benchmark
            if name not in found and self.masked_sets[qid] <= grams:
                first = next(iter(ngrams(masked(self.questions[qid].tokens), self.n)))
                found[name] = Match("numbers_changed", qid, " ".join(first))
        return list(found.values())


def _max_per_benchmark(qids: list[int], questions: list[Question]) -> int:
    """The most questions of one benchmark among ``qids``."""
    if len(qids) == 1:
        return 1
    counts: dict[str, int] = {}
    for qid in qids:
        name = questions[qid].benchmark
        counts[name] = counts.get(name, 0) + 1
    return max(counts.values())
