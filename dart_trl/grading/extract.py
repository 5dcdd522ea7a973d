"""Answer extraction from model completions (pure Python, bounded, no sympy).

Only the tail of a completion (``MAX_COMPLETION_CHARS``) is searched: final answers sit at the end
and regex work must stay linear in a bounded input. Brace matching stops at ``MAX_BRACE_DEPTH``.
"""

from __future__ import annotations

import re

MAX_COMPLETION_CHARS = 20_000
MAX_BRACE_DEPTH = 100
MAX_ANSWER_CHARS = 2_000
MAX_JOINED_BOXES = 8
MAX_FALLBACK_CHARS = 3_000  # the math-environment fallback only looks this far back

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# Text between two boxes that still reads as one answer list ("\boxed{1} and \boxed{2}").
_JOINER_RE = re.compile(r"(?i)(?:,|;|\band\b|\bor\b|\\quad|\\qquad)")
_SUBSCRIPT_LHS_RE = re.compile(r"[A-Za-z]+_\{?\w+\}?\s*=")
_FINAL_ANSWER_RE = re.compile(
    r"(?i)final\s+answer\s*:\s*|final\s+answer(?:[^.\n]|\.(?!\s)){0,100}?\s+is\b\s*:?\s*"
)
_ANSWER_RE = re.compile(r"(?i)\banswer\s*(?:is|should\s+be|would\s+be|:)\s*:?\s*")
# "$C$ is not invertible": the math is the subject of a statement, and the statement is the answer.
_STATEMENT_RE = re.compile(r"\s+(?:is|are)\s+(?:not\s+)?[A-Za-z]")
_GSM8K_RE = re.compile(r"####\s*([^\n]+)")
# A period after an abbreviation does not end a sentence: never after "approx." or "e.g.", and after
# "min." / "max." / "pt." only when math follows ("local min. $(0, 0)$"; "45 min. Then" still ends).
NOT_AFTER_ABBREVIATION = "".join(rf"(?<!\b{a})" for a in ("approx", "e.g", "i.e", "vs", "resp", "eq")) + (
    "(?:" + "".join(rf"(?<!\b{a})" for a in ("min", "max", "pt", "pts")) + r"|(?=\.\s+[^\s$(\[\\]))"
)
_SENTENCE_END_RE = re.compile(
    rf"\.?\s*I hope|{NOT_AFTER_ABBREVIATION}\.(?:\s|$)|\n\s*\n|\n(?![^$]*\$)", re.IGNORECASE
)
_MATH_ENV_RE = re.compile(
    r"(?<!\\)\$\$(?P<dd>(?:[^$]|\$(?!\$))+?)(?<!\\)\$\$"
    r"|(?<!\\)\\\[(?P<db>(?:[^\\]|\\(?!\]))+?)\\\]"
    r"|(?<![\\\d])\$(?P<id>(?:\\\$|[^\n$]){1,1000}?)(?<!\\)\$"
    r"|(?<!\\)\\\((?P<ip>(?:[^\\\n]|\\(?!\))){1,1000}?)\\\)",
    re.DOTALL,
)
_PERCENT = r"\s*(?:\\?%|percent(?:age)?\b|pct\b)"  # "50%", "50\%", "50 percent"
_PERCENT_AFTER_RE = re.compile(_PERCENT, re.IGNORECASE)
_ENV_JOINER_RE = re.compile(r"(?i)\s*(?:,?\s*and|,?\s*or|,)\s*")
_NUMBER_RE = re.compile(
    r"-?\\[dtc]?frac\{-?\d+\}\{\d+\}|"
    r"(?<![A-Za-z_\\\d./])(?:-?\d+(?:\.\d+)?\s*/\s*\d+(?!\d|\.\d)|-?[1-9]\d{0,2}(?:[ ,]\d{3})+(?:\.\d+)?"
    r"|-?\d+(?:[.,]\d+)?|-?\.\d+)"
    rf"(?P<pct>{_PERCENT})?",
    re.IGNORECASE,
)


def _match_brace(text: str, open_idx: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_idx``; None if unbalanced or too deep."""
    depth = 0
    i = open_idx
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
            if depth > MAX_BRACE_DEPTH:
                return None
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _box_at(text: str, m: re.Match[str]) -> tuple[int, int, str] | None:
    """(start, end, content) of the box command matched by ``m``, or None if malformed."""
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
    tok = re.match(r"[^\s$]+", text[i:])
    if tok is None or i == m.end():
        return None
    return m.start(), i + tok.end(), tok.group(0).rstrip(".,;")


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """All well-formed boxes in ``text`` as (start, end, content), left to right."""
    out = []
    for m in _BOX_RE.finditer(text):
        box = _box_at(text, m)
        if box is not None and box[2]:
            out.append(box)
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces, ``\\boxed 5``) in ``text``.

    Returns None when there is no well-formed, non-empty box (unbalanced braces, nesting deeper than
    ``MAX_BRACE_DEPTH``). Used for golds of MATH-style solutions.
    """
    text = text[-MAX_COMPLETION_CHARS:]
    for m in reversed(list(_BOX_RE.finditer(text))):
        box = _box_at(text, m)
        if box is not None and box[2]:
            return box[2][:MAX_ANSWER_CHARS]
    return None


def _joined_boxes(text: str) -> tuple[int, str] | None:
    """The last box, joined with the boxes right before it that are separated by and/or/commas.

    Returns (start of the first joined box, answer) or None.
    """
    boxes = _boxes(text)
    if not boxes:
        return None
    parts = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        gap = text[prev[1] : parts[0][0]]
        if prev[1] > parts[0][0] or len(parts) >= MAX_JOINED_BOXES:
            break
        gap = _SUBSCRIPT_LHS_RE.sub(" ", gap)
        if len(gap) > 60 or re.search(r"\d", gap) or not (_JOINER_RE.search(gap) or gap.strip(" $") == ""):
            break
        parts.insert(0, prev)
    return parts[0][0], ", ".join(p[2] for p in parts)


def _env_content(m: re.Match[str]) -> str:
    return next(v for v in m.groupdict().values() if v is not None).strip()


def _last_math(text: str) -> tuple[int, str, int] | None:
    """The last math environment ($..$, $$..$$, \\(..\\), \\[..\\]), joined with the environments
    just before it when they are separated by "and", "or" or commas; a trailing percent is kept.

    Returns (start, joined content, end) or None.
    """
    offset = max(0, len(text) - MAX_FALLBACK_CHARS)
    envs = list(_MATH_ENV_RE.finditer(text, offset))
    if not envs:
        return None
    parts = [envs[-1]]
    for prev in reversed(envs[:-1]):
        gap = text[prev.end() : parts[0].start()]
        if len(parts) >= MAX_JOINED_BOXES or not _ENV_JOINER_RE.fullmatch(gap):
            break
        parts.insert(0, prev)
    contents = [_env_content(p) for p in parts]
    if _PERCENT_AFTER_RE.match(text, parts[-1].end()) and not contents[-1].endswith("%"):
        contents[-1] += "\\%"
    return parts[0].start(), ", ".join(contents), parts[-1].end()


def _after_phrase(text: str, start: int, final: bool = False) -> str | None:
    """The answer that follows an "answer is" phrase ending at ``start``: up to the end of the sentence.

    After "Final Answer:" a prose sentence ("Jane started 3 hours ago") gives its first number.
    """
    rest = re.sub(r"^(?:\\?[\"']|\*+|\s)+", "", text[start : start + MAX_ANSWER_CHARS])
    env = _MATH_ENV_RE.match(rest)
    if env is not None:
        found = _last_math(rest[: env.end() + 200].split("\n\n")[0])
        if found is not None and found[0] == 0 and not _STATEMENT_RE.match(rest, found[2]):
            return found[1]
    answer = _first_sentence(rest).strip().rstrip(".")
    if final and re.search(r"(?<!\\)\b[A-Za-z]{3,}\s+[A-Za-z]{2,}", answer) and "$" not in answer[:1]:
        number = _NUMBER_RE.search(answer)
        if number is not None:  # prose such as "Jane started 3 hours ago": its first number
            return _number_text(number)
    return answer or None


def _first_sentence(text: str) -> str:
    """``text`` up to the first sentence end that is not inside braces or a ``\\begin``/``\\end`` block
    (a matrix written over several lines is one answer)."""
    for end in _SENTENCE_END_RE.finditer(text):
        head = text[: end.start()]
        if head.count("{") == head.count("}") and head.count("\\begin") == head.count("\\end"):
            return head
    return text


def _number_text(m: re.Match[str]) -> str:
    num = m.group(0)
    return num[: len(num) - len(m.group("pct"))] + "\\%" if m.group("pct") else num


def extract_answer(text: str, mode: str = "default") -> str | None:
    """Extract the final answer from a completion, or None when there is none.

    ``mode="strict"`` (RL rewards) accepts only boxed answers. ``mode="default"`` tries, in order:
    the last ``\\boxed{}``/``\\fbox{}`` (unless a later "final answer is X" overrides it), joined with
    boxes right before it separated by and/or/commas; "The answer is X" / "Answer: X"; GSM8K's
    ``#### X``; then the fallbacks: the last math environment, the last number.
    """
    if mode not in ("default", "strict"):
        raise ValueError(f"unknown extraction mode {mode!r} (expected 'default' or 'strict')")
    if not text:
        return None
    text = text[-MAX_COMPLETION_CHARS:]
    boxed = _joined_boxes(text)
    if mode == "strict":
        return boxed[1][:MAX_ANSWER_CHARS] if boxed else None
    final = list(_FINAL_ANSWER_RE.finditer(text))
    if final and (boxed is None or final[-1].end() > boxed[0]):
        answer = _after_phrase(text, final[-1].end(), final=True)
        if answer:
            return answer[:MAX_ANSWER_CHARS]
    if boxed is not None:
        return boxed[1][:MAX_ANSWER_CHARS]
    phrase = list(_ANSWER_RE.finditer(text))
    if phrase:
        answer = _after_phrase(text, phrase[-1].end())
        if answer:
            return answer[:MAX_ANSWER_CHARS]
    gsm = list(_GSM8K_RE.finditer(text))
    if gsm:
        return gsm[-1].group(1).strip()[:MAX_ANSWER_CHARS]
    math = _last_math(text)
    numbers = list(_NUMBER_RE.finditer(text))
    if numbers and (math is None or numbers[-1].start() >= math[2]):
        return _number_text(numbers[-1])
    return math[1][:MAX_ANSWER_CHARS] if math is not None else None
