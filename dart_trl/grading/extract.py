"""Answer extraction from model completions (pure Python, bounded, no sympy).

The answer is read from the *final* answer-bearing construct of a completion:

- Boxes (``\\boxed{}``, ``\\fbox{}``, ``\\boxed 5``): the last box is the answer. Boxes right before it
  that only list punctuation separates ("\\boxed{1} and \\boxed{2}", "\\boxed{1}, \\boxed{2}",
  "\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}") join it into one answer list; a
  sentence end, a colon, a line of text, a number, reasoning words ("wait", "so", "actually") or more
  than a few words between two boxes make the later box a new, final answer. An empty ``\\boxed{}`` is
  a mention, not an answer.
- An unreadable final answer means no answer (None), never an earlier box nor a fallback: a final box
  that is never closed (a completion cut mid-box), an answer longer than ``MAX_ANSWER_CHARS`` (a
  thousands-entry matrix: too large to compare, so judged as nothing rather than cut to a prefix or
  one entry), more than ``MAX_JOINED_BOXES`` joined answers, a display math span left open at the
  end, an "answer is" phrase whose answer is unbalanced (``\\frac{1}{2``) or runs on past
  ``MAX_ANSWER_CHARS``. The last-number fallback never reads one entry of a list, tuple or matrix.
- An escaped dollar ``\\$`` is text, never a math delimiter; ``\\$23{,}000`` is the number 23000.

Only the tail of a completion (``MAX_COMPLETION_CHARS``) is searched: final answers sit at the end and
the work must stay linear in a bounded input. A box opened up to ``MAX_ANSWER_CHARS`` before the tail
is read whole; one opened earlier and still open where the tail starts (so larger than any answer) is
an unreadable final box when no box follows it; the other fallbacks only search the text after the
constructs (brace groups, environments, math spans) that the start of the tail cuts. Constructs are
looked for at most ``LOOKBACK_CHARS`` before the tail. Brace matching stops at ``MAX_BRACE_DEPTH``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_COMPLETION_CHARS = 20_000
MAX_BRACE_DEPTH = 100
MAX_ANSWER_CHARS = 2_000
MAX_JOINED_BOXES = 40  # an answer list longer than equivalence.MAX_ITEMS cannot be compared anyway
LOOKBACK_CHARS = 4 * MAX_COMPLETION_CHARS

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.DOTALL)
_SPACE_RE = re.compile(r"\s*")
_BOX_TOKEN_RE = re.compile(r"[^\s$]+")  # the argument of "\boxed 5"
# Text between two boxes that still reads as one answer list ("\boxed{1} and \boxed{2}").
_JOINER_RE = re.compile(r"(?i)(?:,|;|&|\band\b|\bor\b|\\q?quad\b|\\\\)")
# "x_1 = ", "y=", "f(x) =", "\alpha =" between boxes: the name of the next answer, not prose.
_GAP_NAME_RE = re.compile(
    r"(?:\\[A-Za-z]+|(?<![A-Za-z\\])(?:[A-Za-z]{1,3}|[A-Za-z]+(?=_)))(?:_\{?\w+\}?)?\s*(?:\(\s*[A-Za-z]\s*\)\s*)?="
)
_GAP_TEXT_RE = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm)\s*\{([^{}]*)\}")
_GAP_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")
_MAX_GAP_WORDS = 4
# Words that make the text between two boxes reasoning (a correction or a new step), not a list.
_REASONING_WORDS = frozenset(
    "wait recheck check checking actually hmm but so thus therefore hence then correct correction corrected "
    "incorrect instead mistake sorry oops however no not answer final again verify error wrong rather "
    "reconsider revised alternatively maybe perhaps should gives get gets means yields".split()
)
_FINAL_ANSWER_RE = re.compile(
    r"(?i)final\s+answer\s*:\s*|final\s+answer(?:[^.\n]|\.(?!\s)){0,100}?\s+is\b\s*:?\s*"
)
_ANSWER_RE = re.compile(r"(?i)\banswer\s*(?:is|should\s+be|would\s+be|:)\s*:?\s*")
_PHRASE_LEAD_RE = re.compile(r"(?:\\?[\"']|\*+|\s)+")
# "$C$ is not invertible": the math is the subject of a statement, and the statement is the answer.
_STATEMENT_RE = re.compile(r"\s+(?:is|are)\s+(?:not\s+)?[A-Za-z]")
_GSM8K_RE = re.compile(r"####\s*([^\n]+)")
# A period after an abbreviation does not end a sentence: never after "approx." or "e.g.", and after
# "min." / "max." / "pt." only when math follows ("local min. $(0, 0)$"; "45 min. Then" still ends).
NOT_AFTER_ABBREVIATION = "".join(rf"(?<!\b{a})" for a in ("approx", "e.g", "i.e", "vs", "resp", "eq")) + (
    "(?:" + "".join(rf"(?<!\b{a})" for a in ("min", "max", "pt", "pts")) + r"|(?=\.\s+[^\s$(\[\\]))"
)
# A newline ends a sentence unless an (unescaped) "$" follows: then it is inside inline math.
_SENTENCE_END_RE = re.compile(
    rf"\.?\s*I hope|{NOT_AFTER_ABBREVIATION}\.(?:\s|$)|\n\s*\n|\n(?!(?:[^$]|(?<=\\)\$)*(?<!\\)\$)",
    re.IGNORECASE,
)
# One math span per match: "$$..$$", "\[..\]", "\(..\)" (unclosed: to the end of the text) and
# inline "$..$" (closed on its line, not opened right after a digit). "\\" and "\$" are matched first,
# so that an escaped dollar is never a delimiter. Each alternative has one way to match a character and
# an optional closer: no backtracking, linear in the text.
_MATH_SPAN_RE = re.compile(
    r"\\[\\$]"
    r"|\$\$(?P<dd>(?:\\.|[^$\\]|\$(?!\$))*)(?P<ddc>\$\$)?"
    r"|\\\[(?P<db>(?:[^\\]|\\[^\]])*)(?P<dbc>\\\])?"
    r"|\\\((?P<ip>(?:[^\\]|\\[^)])*)(?P<ipc>\\\))?"
    r"|(?<!\d)\$(?P<id>(?:\\[^\n]|[^$\n\\])+)\$",
    re.DOTALL,
)
# The last group a span match sets -> (its content group, whether it is closed).
_SPAN_KIND = {
    "dd": ("dd", False),
    "ddc": ("dd", True),
    "db": ("db", False),
    "dbc": ("db", True),
    "ip": ("ip", False),
    "ipc": ("ip", True),
    "id": ("id", True),
}
# What opens or closes a brace group, an environment or display math, for the constructs cut by the
# start of the searched tail.
_STRUCT_RE = re.compile(r"\\(?:begin|end)\s*\{([^{}]{0,40})\}|\\[\[\]()]|\\.|[{}]", re.DOTALL)
_PERCENT = r"\s*(?:\\?%|percent(?:age)?\b|pct\b)"  # "50%", "50\%", "50 percent"
_PERCENT_AFTER_RE = re.compile(_PERCENT, re.IGNORECASE)
_ENV_JOINER_RE = re.compile(r"(?i)\s*(?:,?\s*and|,?\s*or|,)\s*")
# Thousands separators: "23,000", "23 000", and LaTeX's "23{,}000", "23,\!000", "23\,000".
_THOUSANDS_SEP = r"(?:[ ,]|\{,\}|,\\!|\\,)"
_NUMBER_RE = re.compile(
    r"-?\\[dtc]?frac\{-?\d+\}\{\d+\}|"
    r"(?<![A-Za-z_\\\d./])(?:-?\d+(?:\.\d+)?\s*/\s*\d+(?!\d|\.\d)"
    rf"|-?[1-9]\d{{0,2}}(?:{_THOUSANDS_SEP}\d{{3}})+(?!\d)(?:\.\d+)?"
    r"|-?\d+(?:[.,]\d+)?|-?\.\d+)"
    rf"(?P<pct>{_PERCENT})?",
    re.IGNORECASE,
)
# A number is an entry of a list, tuple or matrix when a cell / row separator precedes it, or a comma
# after another item precedes it and the list goes on or closes after it ("(1, 2, 3)", "x = 1, 2").
_ENTRY_BEFORE_RE = re.compile(r"(?:(?P<item>[\d)\]}])\s*[,;]|&|\\\\)\s*\Z")
_ENTRY_AFTER_RE = re.compile(r"\s*(?:[,;&)\]}]|\\\\|\\[}\])]|\\right(?![A-Za-z])|\\end(?![A-Za-z])|\.?\s*\Z)")


class _Unreadable(Exception):
    """The final answer is there but cannot be read (never closed, too large, cut): no answer."""


class _Box(NamedTuple):
    start: int
    end: int | None  # None: never closed (or nested deeper than MAX_BRACE_DEPTH)
    content: str | None  # None: unreadable (never closed, or longer than MAX_ANSWER_CHARS)


class _Span(NamedTuple):
    """A math span: ``text[cstart:cend]`` is its content; ``end`` is None when it is never closed."""

    start: int
    cstart: int
    cend: int
    end: int | None


def _match_brace(text: str, open_idx: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_idx``; None if unbalanced or too deep."""
    depth = 0
    for m in _BRACE_TOKEN_RE.finditer(text, open_idx):
        c = m.group()
        if c == "{":
            depth += 1
            if depth > MAX_BRACE_DEPTH:
                return None
        elif c == "}":
            depth -= 1
            if depth == 0:
                return m.start()
    return None


def _box_at(text: str, m: re.Match[str]) -> tuple[int, int, str] | None:
    """(start, end, content) of the box command matched by ``m``, or None if malformed (for normalising)."""
    i = m.end()
    n = len(text)
    while i < n and text[i] == " ":
        i += 1
    if i < n and text[i] == "{":
        close = _match_brace(text, i)
        if close is None:
            return None
        return m.start(), close + 1, text[i + 1 : close].strip()
    # \boxed 5: a single token up to whitespace or a math delimiter.
    tok = _BOX_TOKEN_RE.match(text, i)
    if tok is None or i == m.end():
        return None
    return m.start(), tok.end(), tok.group(0).rstrip(".,;")


def _read_box(text: str, m: re.Match[str]) -> _Box | None:
    """The box whose command ``m`` matched; None for a mention (``\\boxed{}``, ``\\boxed$``)."""
    n = len(text)
    k = _SPACE_RE.match(text, m.end()).end()
    if k == n:  # "\boxed" or "\boxed " at the very end: cut before its argument
        return _Box(m.start(), None, None)
    if text[k] == "{":
        close = _match_brace(text, k)
        if close is None:
            return _Box(m.start(), None, None)
        content = text[k + 1 : close].strip()
        if not content:
            return None
        return _Box(m.start(), close + 1, content if len(content) <= MAX_ANSWER_CHARS else None)
    j = m.end()
    while j < n and text[j] == " ":
        j += 1
    tok = _BOX_TOKEN_RE.match(text, j) if j > m.end() else None  # "\boxed 5": one token
    content = tok.group(0).rstrip(".,;") if tok is not None else ""
    if not content:
        return None
    return _Box(m.start(), tok.end(), content if len(content) <= MAX_ANSWER_CHARS else None)


def _last_box(text: str, cut: _Box | None = None) -> tuple[_Box, list[re.Match[str]], int] | None:
    """The last box of ``text`` (mentions skipped), the box commands and the index of its command.

    ``cut`` (a box cut by the start of the searched tail) is the last box when ``text`` has none.
    """
    commands = list(_BOX_RE.finditer(text))
    for k in range(len(commands) - 1, -1, -1):
        box = _read_box(text, commands[k])
        if box is not None:
            return box, commands, k
    return (cut, [], -1) if cut is not None else None


def _joins(gap: str) -> bool:
    """Whether the text between two boxes lists them as one answer ("and", commas, ``\\quad``)."""
    if len(gap) > 60:
        return False
    gap = _GAP_TEXT_RE.sub(r" \1 ", _GAP_NAME_RE.sub(" ", gap))
    if re.search(r"\d|[.!?:]", gap):
        return False
    prose = [w for w in (w.lower() for w in _GAP_WORD_RE.findall(gap)) if w not in ("and", "or")]
    if len(prose) > _MAX_GAP_WORDS or _REASONING_WORDS.intersection(prose) or ("\n" in gap and prose):
        return False
    if _JOINER_RE.search(gap):
        return True
    return "\n" not in gap and re.fullmatch(r"(?:\s|\$|\\[()\[\]])*", gap) is not None


def _final_box(text: str, cut: _Box | None = None) -> _Box | None:
    """The last box, joined with the boxes right before it that only list punctuation separates."""
    found = _last_box(text, cut)
    if found is None:
        return None
    last, commands, k = found
    if last.content is None:
        return last
    parts = [last]
    for j in range(k - 1, -1, -1):
        prev = _read_box(text, commands[j])
        if prev is None or prev.content is None or prev.end > parts[0].start:
            break
        if not _joins(text[prev.end : parts[0].start]):
            break
        parts.insert(0, prev)
        if len(parts) > MAX_JOINED_BOXES:
            return _Box(parts[0].start, last.end, None)
    content = ", ".join(p.content for p in parts)  # type: ignore[misc]
    return _Box(parts[0].start, last.end, content if len(content) <= MAX_ANSWER_CHARS else None)


def _readable(box: _Box) -> str:
    if box.content is None:
        raise _Unreadable
    return box.content


def _scan_math(text: str, pos: int = 0, endpos: int | None = None) -> list[_Span]:
    """Math spans (``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``) of ``text[pos:endpos]``, in order.

    ``\\$`` is never a delimiter; a ``$`` right after a digit never opens inline math; an inline ``$``
    not closed on its line is a literal dollar (a price). A display span never closed runs to the end
    and is the last span, with ``end=None``.
    """
    spans = []
    for m in _MATH_SPAN_RE.finditer(text, pos, len(text) if endpos is None else endpos):
        kind = _SPAN_KIND.get(m.lastgroup)  # type: ignore[arg-type]
        if kind is not None:  # None: an escaped backslash or dollar
            content, closed = kind
            spans.append(_Span(m.start(), m.start(content), m.end(content), m.end() if closed else None))
    return spans


def _last_math(text: str, spans: list[_Span] | None = None) -> tuple[int, str, int] | None:
    """The last closed, non-empty math span (of ``spans``, by default all of ``text``'s), joined with
    the spans just before it when "and", "or" or commas separate them; a trailing percent is kept.
    Returns (start, joined content, end) or None."""
    spans = [
        s
        for s in (_scan_math(text) if spans is None else spans)
        if s.end is not None and text[s.cstart : s.cend].strip()
    ]
    if not spans:
        return None
    parts = [spans[-1]]
    for prev in reversed(spans[:-1]):
        if not _ENV_JOINER_RE.fullmatch(text, prev.end, parts[0].start):  # type: ignore[arg-type]
            break
        parts.insert(0, prev)
        if len(parts) > MAX_JOINED_BOXES:
            raise _Unreadable
    contents = [text[p.cstart : p.cend].strip() for p in parts]
    if _PERCENT_AFTER_RE.match(text, parts[-1].end) and not contents[-1].endswith("%"):  # type: ignore[arg-type]
        contents[-1] += "\\%"
    answer = ", ".join(contents)
    if len(answer) > MAX_ANSWER_CHARS:
        raise _Unreadable
    return parts[0].start, answer, parts[-1].end  # type: ignore[return-value]


def _balanced(s: str) -> bool:
    """Braces (escaped ones aside) and ``\\begin``/``\\end`` pairs balance in ``s``."""
    t = re.sub(r"\\[\\{}]", "", s)
    return t.count("{") == t.count("}") and s.count("\\begin") == s.count("\\end")


def _after_phrase(text: str, start: int, final: bool = False) -> str | None:
    """The answer that follows an "answer is" phrase ending at ``start``: up to the end of the sentence.

    After "Final Answer:" a prose sentence ("Jane started 3 hours ago") gives its first number. Raises
    ``_Unreadable`` when the answer is unbalanced (cut mid-formula) or runs past ``MAX_ANSWER_CHARS``.
    """
    pos = start
    lead = _PHRASE_LEAD_RE.match(text, pos)
    if lead is not None:
        pos = lead.end()
    rest = text[pos : pos + MAX_ANSWER_CHARS]
    runs_on = len(text) - pos > MAX_ANSWER_CHARS
    spans = _scan_math(rest)
    if spans and spans[0].start == 0:
        if spans[0].end is None:  # "The answer is $$\frac{1}{2": the math is never closed
            raise _Unreadable
        head = rest[: spans[0].end + 200].split("\n\n")[0]
        found = _last_math(head, [s for s in spans if s.end is not None and s.end <= len(head)])
        if found is not None and found[0] == 0 and not _STATEMENT_RE.match(rest, found[2]):
            return found[1]
    sentence, ended = _first_sentence(rest)
    if not ended and (runs_on or not _balanced(sentence)):
        raise _Unreadable
    answer = sentence.strip().rstrip(".")
    if final and re.search(r"(?<!\\)\b[A-Za-z]{3,}\s+[A-Za-z]{2,}", answer) and "$" not in answer[:1]:
        number = _NUMBER_RE.search(answer)
        if number is not None:  # prose such as "Jane started 3 hours ago": its first number
            return _number_text(number)
    return answer or None


def _first_sentence(text: str) -> tuple[str, bool]:
    """``text`` up to the first sentence end that is not inside braces or a ``\\begin``/``\\end`` block
    (a matrix written over several lines is one answer), and whether such an end was found."""
    for end in _SENTENCE_END_RE.finditer(text):
        head = text[: end.start()]
        if head.count("{") == head.count("}") and head.count("\\begin") == head.count("\\end"):
            return head, True
    return text, False


def _number_text(m: re.Match[str]) -> str:
    num = m.group(0)
    return num[: len(num) - len(m.group("pct"))] + "\\%" if m.group("pct") else num


def _is_entry(text: str, m: re.Match[str]) -> bool:
    """Whether the number ``m`` is one entry of a list, tuple or matrix (not an answer on its own)."""
    before = _ENTRY_BEFORE_RE.search(text, max(0, m.start() - 80), m.start())
    if before is None:
        return False
    return before.group("item") is None or _ENTRY_AFTER_RE.match(text, m.end()) is not None


def _last_value(text: str) -> str | None:
    """The fallbacks: the last math span or the last number after it, whichever comes last."""
    spans = _scan_math(text)
    if spans and spans[-1].end is None:  # "so $$x = \frac{3}{4" at the very end: never closed
        raise _Unreadable
    number = None
    for m in _NUMBER_RE.finditer(text, spans[-1].end if spans else 0):  # type: ignore[arg-type]
        number = m
    if number is not None:
        if _is_entry(text, number):
            raise _Unreadable
        return _number_text(number)
    found = _last_math(text, spans)
    return found[1] if found is not None else None


def _open_depth(text: str, command: re.Match[str], tail_start: int) -> int:
    """How many braces of the box ``command`` (before the tail) are still open at ``tail_start``."""
    k = _SPACE_RE.match(text, command.end(), tail_start).end()
    if k >= tail_start or text[k] != "{":
        return 0
    depth = 0
    for m in _BRACE_TOKEN_RE.finditer(text, k, tail_start):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth == 0:
                return 0  # closed before the tail
    return depth


def _open_dollars(text: str, tail_start: int) -> str | None:
    """``"$$"`` or ``"$"`` when ``tail_start`` falls inside such math, by the parity of the dollars
    before it (``$$`` within ``LOOKBACK_CHARS``, inline ``$`` on the same line); else None."""
    lo = max(0, tail_start - LOOKBACK_CHARS)
    if (text.count("$$", lo, tail_start) - text.count("\\$$", lo, tail_start)) % 2:
        return "$$"
    line = max(lo, text.rfind("\n", lo, tail_start) + 1)
    doubles = text.count("$$", line, tail_start)
    singles = text.count("$", line, tail_start) - 2 * doubles - text.count("\\$", line, tail_start)
    return "$" if singles % 2 else None


def _cut_constructs(text: str, tail_start: int) -> tuple[list[int], int]:
    """Constructs that open before ``tail_start`` and close after it.

    Returns the positions (relative to the tail) of the ``}`` that close such brace groups, innermost
    first, and the barrier: the end of the last closer of any such construct (brace group,
    ``\\begin``/``\\end`` environment, ``\\[``/``\\(``, ``$``/``$$`` math), 0 when none.
    """
    closers: list[int] = []
    barrier = depth = display = inline = 0
    envs: list[str] = []
    for m in _STRUCT_RE.finditer(text, tail_start):
        t = m.group()
        unmatched = False
        if t == "{":
            depth += 1
        elif t == "}":
            if depth:
                depth -= 1
            else:
                closers.append(m.start() - tail_start)
                unmatched = True
        elif t.startswith("\\begin"):
            if len(envs) < MAX_BRACE_DEPTH:
                envs.append(m.group(1).strip())
        elif t.startswith("\\end"):
            name = m.group(1).strip()
            if name in envs:
                del envs[len(envs) - 1 - envs[::-1].index(name) :]
            else:
                unmatched = True
        elif t in ("\\[", "\\("):
            display += t == "\\["
            inline += t == "\\("
        elif t == "\\]":
            unmatched, display = display == 0, max(0, display - 1)
        elif t == "\\)":
            unmatched, inline = inline == 0, max(0, inline - 1)
        if unmatched:
            barrier = m.end() - tail_start
    dollars = _open_dollars(text, tail_start)
    if dollars is not None:
        line_end = text.find("\n", tail_start) if dollars == "$" else -1
        close = text.find(dollars, tail_start, line_end if line_end >= 0 else len(text))
        if close >= 0:
            barrier = max(barrier, close + len(dollars) - tail_start)
    return closers, barrier


def _tail(text: str) -> tuple[str, int, _Box | None]:
    """The searched tail of ``text``, the barrier in it (see ``_cut_constructs``) and, when the tail
    starts inside a box opened long before it, that box (unreadable, ``start=0``)."""
    n = len(text)
    if n <= MAX_COMPLETION_CHARS:
        return text, 0, None
    start = n - MAX_COMPLETION_CHARS
    command = None
    for m in _BOX_RE.finditer(text, max(0, start - LOOKBACK_CHARS), min(n, start + 6)):
        if m.start() < start:
            command = m
    depth = 0
    if command is not None:
        if start - command.start() <= MAX_ANSWER_CHARS + 64:
            start = command.start()  # a box that may be readable: search it whole
        else:
            depth = _open_depth(text, command, start)
    closers, barrier = _cut_constructs(text, start)
    cut = None
    if depth:
        cut = _Box(0, closers[depth - 1] + 1 if len(closers) >= depth else None, None)
    return text[start:], barrier, cut


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces, ``\\boxed 5``) in ``text``.

    Returns None when there is no non-empty box, or when the last one is unreadable (never closed,
    nested deeper than ``MAX_BRACE_DEPTH``, longer than ``MAX_ANSWER_CHARS``): an earlier box is never
    taken in its place. Used for golds of MATH-style solutions and the format reward.
    """
    if not text:
        return None
    tail, _, cut = _tail(text)
    found = _last_box(tail, cut)
    return found[0].content if found is not None else None


def extract_answer(text: str, mode: str = "default") -> str | None:
    """Extract the final answer from a completion, or None when there is none or it is unreadable.

    ``mode="strict"`` (RL rewards) accepts only boxed answers. ``mode="default"`` tries, in order:
    the last ``\\boxed{}``/``\\fbox{}`` (unless a later "final answer is X" overrides it), joined with
    the boxes right before it that list punctuation separates; "The answer is X" / "Answer: X";
    GSM8K's ``#### X``; then the fallbacks: the last math span, or the last number after it. See the
    module docstring for what makes a final answer unreadable.
    """
    if mode not in ("default", "strict"):
        raise ValueError(f"unknown extraction mode {mode!r} (expected 'default' or 'strict')")
    if not text:
        return None
    try:
        return _extract(text, mode)
    except _Unreadable:
        return None


def _extract(text: str, mode: str) -> str | None:
    text, barrier, cut = _tail(text)
    box = _final_box(text, cut)
    if mode == "strict":
        return _readable(box) if box is not None else None
    rest = text[barrier:]
    final = list(_FINAL_ANSWER_RE.finditer(rest))
    if final and (box is None or (box.end is not None and barrier + final[-1].start() >= box.end)):
        answer = _after_phrase(rest, final[-1].end(), final=True)
        if answer:
            return answer
    if box is not None:
        return _readable(box)
    phrase = list(_ANSWER_RE.finditer(rest))
    if phrase:
        answer = _after_phrase(rest, phrase[-1].end())
        if answer:
            return answer
    gsm = list(_GSM8K_RE.finditer(rest))
    if gsm:
        answer = gsm[-1].group(1).strip()
        if len(answer) > MAX_ANSWER_CHARS:
            raise _Unreadable
        return answer or None
    return _last_value(rest)
