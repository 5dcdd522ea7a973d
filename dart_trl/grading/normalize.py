"""Cheap, pure-Python answer normalisation and number parsing (no sympy, no eval).

``normalize_answer`` maps surface variants of one answer to one string (the memo key, and the
text handed to math-verify in a worker): math delimiters, ``\\boxed``, ``\\dfrac``/``\\tfrac``,
``\\left``/``\\right``, spacing commands, ``\\text{}`` wrappers, trailing units, degrees, thousands
separators (``23,000``, ``23{,}000``, ``23\\,000``) and percent words are all folded away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from dart_trl.grading.extract import _BOX_RE, MAX_ANSWER_CHARS, _box_at, _match_brace

MAX_NUMBER_DIGITS = 400
MAX_EXPONENT = 1_000
MAX_NESTING = 30

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mbox|mathbf|mathit|rm)\s*\{")
_SPACING_RE = re.compile(
    r"(?<!\\)\\[!,;:> ]|\\q?quad\b|~|\\displaystyle|\\(?:big|Big|bigg|Bigg)[lr]?(?![A-Za-z])"
)
_DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree\b|\^\{\s*o\s*\}")
_PERCENT_WORD_RE = re.compile(r"(?<=[\d}])\s*(?:percent(?:age)?|pct)\b\.?", re.IGNORECASE)
_THOUSANDS_RE = re.compile(r"(?<![\d.,(\[])[1-9]\d{0,2}(?:,\d{3})+(?![\d,)\]])")
_NUMBER_HEAD_RE = re.compile(
    r"\s*[-+]?(?:(?:\d+\s*)?\\frac\{\d+\}\{\d+\}|[\d.,/]+(?:\s*\\times\s*10\^\{?-?\d+\}?)?%?)"
)
_UNIT_TOKEN_RE = re.compile(r"[A-Za-z]+|\^\{?[23]\}?|[²³/.\-]|\s+|.")
_NOT_UNITS = {"and", "or", "pi", "sqrt", "frac", "infty", "in", "cup", "cap", "pm", "mod", "true", "false"}
# Words that make trailing text a statement about the value ("5 is not a solution"), not its unit.
_STATEMENT_WORDS = {
    "is",
    "are",
    "was",
    "were",
    "not",
    "no",
    "never",
    "none",
    "does",
    "do",
    "has",
    "have",
    "be",
}
_STATEMENT_WORDS |= {"can", "cannot", "will", "must", "should", "if", "when", "for", "then", "where"}
# "$4\frac{4}{9}$ days", "$l^2/8$ square feet", "$2:15$ PM": one math span followed only by unit words.
_MATH_THEN_WORDS_RE = re.compile(r"\$(?P<math>[^$]+)\$\s*\(?(?P<words>[A-Za-z][A-Za-z .\-/]{0,40})\)?")
_VAR_PREFIX_RE = re.compile(
    r"^\s*(?:\\?[A-Za-z]+(?:_\{?[A-Za-z0-9]+\}?)?|\([A-Za-z](?:\s*,\s*[A-Za-z])*\))\s*(?:=|\\in\b)\s*(?P<rhs>.+)$"
)
_NUM_RE = re.compile(
    r"(?P<sign>[-+])?(?P<int>\d+)?(?:\.(?P<frac>\d*))?"
    r"(?:(?:e|E|\s*(?:\\times|\\cdot|\*|×)\s*10\s*\^\s*)\{?\s*(?P<exp>[-+]?\d+)\s*\}?)?"
)
_MIXED_RE = re.compile(r"(?P<sign>-)?(?P<whole>\d{1,9})\s*\\frac\{(?P<num>\d{1,9})\}\{(?P<den>\d{1,9})\}")
_FRAC_RE = re.compile(r"(?P<sign>-)?\\frac\{(?P<num>-?[\d.]+)\}\{(?P<den>-?[\d.]+)\}")
_SLASH_RE = re.compile(r"(?P<num>-?[\d.]+)\s*/\s*(?P<den>-?[\d.]+)")


@dataclass(frozen=True)
class Number:
    """A parsed numeric literal: exact value, decimal quantum (None if exact) and percent flag."""

    value: Fraction
    quantum: Fraction | None
    significant: int
    percent: bool


def _unwrap_command(s: str, pattern: re.Pattern[str], sep: str = "") -> str:
    """Replace ``\\cmd{X}`` (matched by ``pattern`` up to and including the ``{``) with ``sep+X+sep``."""
    for _ in range(50):
        m = pattern.search(s)
        if m is None:
            return s
        close = _match_brace(s, m.end() - 1)
        if close is None:
            return s
        s = s[: m.start()] + sep + s[m.end() : close] + sep + s[close + 1 :]
    return s


def _unwrap_boxes(s: str) -> str:
    """Replace one box by its content; several boxes by their contents joined with commas."""
    boxes = [b for m in _BOX_RE.finditer(s) if (b := _box_at(s, m)) is not None]
    if not boxes:
        return s
    if len(boxes) == 1:
        start, end, content = boxes[0]
        return s[:start] + content + s[end:]
    return ", ".join(b[2] for b in boxes if b[2])


def _strip_units(s: str) -> str:
    """Drop trailing unit words ("125 miles", "15 cm^2") after a plain numeric value."""
    m = _NUMBER_HEAD_RE.match(s)
    if m is None or m.end() == len(s):
        return s
    tokens = _UNIT_TOKEN_RE.findall(s[m.end() :])
    words = [t for t in tokens if t[0].isalpha()]
    if not words or len(words[0]) < 2 or {w.lower() for w in words} & (_NOT_UNITS | _STATEMENT_WORDS):
        return s
    if any(len(t) == 1 and not (t.isalpha() or t.isspace() or t in "²³/.-") for t in tokens):
        return s
    head = s[: m.end()].strip()
    return head if parse_number(head) is not None else s


def _drop_words_after_math(s: str) -> str:
    """``$x$ unit words`` -> ``x`` when the words read as a unit (at most 4, no verbs or negations)."""
    m = _MATH_THEN_WORDS_RE.fullmatch(s)
    if m is None:
        return s
    words = m.group("words").rstrip(". ").split()
    if len(words) > 4 or {w.lower().strip(".-") for w in words} & (_STATEMENT_WORDS | {"and", "or"}):
        return s
    return m.group("math")


# Unicode math that models write in plain-text answers, as LaTeX.
_UNICODE_MATH = str.maketrans(
    {
        "−": "-", "–": "-", "×": "\\times ", "·": "\\cdot ", "÷": "/", "π": "\\pi ", "∞": "\\infty ",
        "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "½": "\\frac{1}{2}", "⅓": "\\frac{1}{3}",
        "⅔": "\\frac{2}{3}", "¼": "\\frac{1}{4}", "¾": "\\frac{3}{4}",
    }
)  # fmt: skip
_UNICODE_SQRT_RE = re.compile(r"√\s*(?:\((?P<paren>[^()]{1,200})\)|(?P<token>\d+(?:\.\d+)?|[A-Za-z]))")


@lru_cache(maxsize=65536)
def normalize_answer(s: str) -> str:
    """Canonical form of an answer string (idempotent); "" when nothing is left. Memoised.

    An answer longer than ``MAX_ANSWER_CHARS`` is too large to compare sensibly and normalises to ""
    (so a prediction gets ``no_answer``, a gold ``unparseable_gold``): it is never cut to a prefix,
    which two different answers could share.
    """
    s = s.strip()
    if len(s) > MAX_ANSWER_CHARS:
        return ""
    s = s.translate(_UNICODE_MATH)
    s = _UNICODE_SQRT_RE.sub(lambda m: "\\sqrt{" + (m.group("paren") or m.group("token")) + "}", s)
    s = _unwrap_boxes(s)
    s = _drop_words_after_math(s)
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\[\[\]()]", " ", s)
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    # single-token arguments without braces: \frac12 -> \frac{1}{2}, \frac{a}2, \sqrt3 -> \sqrt{3}
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\{[^{}]*\})\s*(\d)", r"\\frac\1{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*(?=\{)", r"\\frac{\1}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    s = re.sub(r"\{,\}|,\\!\s*", ",", s).replace("\\%", "%")
    if "\\begin" not in s:
        s = re.sub(r"\\\\(?=[A-Za-z])", r"\\", s)
    s = re.sub(r"\\left\s*\.|\\right\s*\.", "", s)
    s = re.sub(r"\\(?:left|right)(?![A-Za-z])", "", s)
    s = _SPACING_RE.sub(" ", s)
    s = _DEGREE_RE.sub("", s)
    s = _unwrap_command(s, _TEXT_CMD_RE, " ")
    s = re.sub(r"\\(?:le|leq|leqslant)(?![A-Za-z])", r"\\le ", s)
    s = re.sub(r"\\(?:ge|geq|geqslant)(?![A-Za-z])", r"\\ge ", s)
    s = re.sub(r"\\(?:ne|neq)(?![A-Za-z])", r"\\ne ", s)
    s = _PERCENT_WORD_RE.sub("%", s)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".;,:").strip()
    s = re.sub(r"(?i)^(?:\\approx|≈|approx\.?|approximately)\s*", "", s)  # "\approx 1.47": the value is 1.47
    s = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), s)
    if re.fullmatch(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?", s):
        s = s.replace(" ", "")
    s = _strip_units(s)
    if re.fullmatch(r"\(\s*[A-Za-z]\s*\)", s):
        s = s.strip("() ")
    return s


def compact(s: str) -> str:
    """``s`` without whitespace: the key for exact string comparison."""
    return re.sub(r"\s+", "", s)


def strip_variable(s: str) -> str:
    """``x = 3`` / ``(x, y) = (1, 2)`` / ``x \\in [0, 1]`` -> the right-hand side (single relation only)."""
    m = _VAR_PREFIX_RE.match(s)
    if m is None or "=" in m.group("rhs") or re.search(r"\\[lg]e|[<>]", m.group("rhs")):
        return s
    lhs = s[: m.start("rhs")]
    if lhs.strip().startswith("\\") and not re.match(r"\s*\\[A-Za-z]+\s*(?:=|\\in)", lhs):
        return s
    return m.group("rhs").strip()


def _to_fraction(text: str) -> tuple[Fraction, Fraction | None, int] | None:
    m = _NUM_RE.fullmatch(text.strip())
    if m is None or (m.group("int") is None and not m.group("frac")):
        return None
    digits = (m.group("int") or "") + (m.group("frac") or "")
    if len(digits) > MAX_NUMBER_DIGITS:
        return None
    exp = int(m.group("exp") or 0)
    if abs(exp) > MAX_EXPONENT:
        return None
    frac_digits = m.group("frac") or ""
    value = Fraction(int(digits or "0"), 10 ** len(frac_digits)) * Fraction(10) ** exp
    if m.group("sign") == "-":
        value = -value
    has_point = m.group("frac") is not None or m.group("exp") is not None
    quantum = Fraction(10) ** (exp - len(frac_digits)) if has_point else None
    significant = len(digits.lstrip("0"))
    return value, quantum, significant


def parse_number(s: str) -> Number | None:
    """Parse a plain numeric literal: integers, decimals (``.5``), scientific notation
    (``1.2e-5``, ``1.2\\times10^{-5}``), ``a/b``, ``\\frac{a}{b}``, mixed numbers (``4\\frac{4}{9}``),
    optional trailing ``%``."""
    s = s.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if not s or len(s) > MAX_NUMBER_DIGITS + 40:
        return None
    m = _MIXED_RE.fullmatch(s)
    if m is not None and 0 < int(m.group("num")) < int(m.group("den")):  # 4\frac{4}{9} is 4 + 4/9
        value = int(m.group("whole")) + Fraction(int(m.group("num")), int(m.group("den")))
        return Number(-value if m.group("sign") else value, None, 0, percent)
    m = _FRAC_RE.fullmatch(s) or _SLASH_RE.fullmatch(s)
    if m is not None:
        num, den = _to_fraction(m.group("num")), _to_fraction(m.group("den"))
        if num is None or den is None or den[0] == 0:
            return None
        value = num[0] / den[0]
        if m.groupdict().get("sign"):
            value = -value
        return Number(value, None, 0, percent)
    parsed = _to_fraction(s)
    if parsed is None:
        return None
    return Number(parsed[0], parsed[1], parsed[2], percent)


def _nesting_depth(s: str) -> int:
    depth = deepest = 0
    for c in s:
        if c in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")}]":
            depth = max(0, depth - 1)
    return deepest


def is_dangerous(s: str) -> bool:
    """True for inputs that could explode a symbolic engine: numeric power towers
    (``10^{10^{10}}``, ``9^9^9``), huge exponents, factorials of big or composite arguments, brackets
    nested deeper than ``MAX_NESTING`` (no real answer needs that; the parser would run to the deadline)."""
    if _nesting_depth(s) > MAX_NESTING:
        return True
    numeric_only = not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", s))
    if numeric_only and re.search(r"\^\s*\{?\s*\(?\s*[\d.]+\s*\)?\s*\}?\s*\^|\^\s*\{\s*[^{}]*\^|[)}]\s*!", s):
        return True
    if any(len(m.group(1)) > 5 for m in re.finditer(r"\^\s*\{?\s*(\d+)", s)):
        return True
    return bool(re.search(r"\d{5,}(?:\.\d*)?\s*!|\\(?:binom|choose)\s*\{\s*\d{5,}", s))
