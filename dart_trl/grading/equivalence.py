"""Answer equivalence: a structural, pure-Python layer over a symbolic leaf check.

``compare_normalized`` decides what it can without sympy (exact strings, numbers, booleans, choice
letters, plain words, and the structure of tuples / sets / intervals / matrices / answer lists) and
hands every remaining leaf pair to ``symbolic`` (math-verify, run in a worker process). In the
caller's process ``symbolic`` is None and such a pair raises ``NeedsSymbolic``.

Order rules (``answer_type`` wins over the syntax):
- ordered: ``"tuple"``, ``"list"``, ``"list of integer"``, ``"list of float"``; parenthesised
  tuples ``(a, b)``; intervals (bracket kinds must match too, ``[0,1)`` != ``(0,1)``); matrices.
- unordered (set semantics, duplicates ignored): ``"set"``; ``\\{a, b\\}``; bare multiple answers
  joined by commas, semicolons, "and" / "or" (OlympiadBench multi-answer golds, "1, 2"); unions
  of intervals joined by ``\\cup``; ``a \\pm b`` (expanded to ``a+b, a-b``).
- a tuple compared with a bare list or set is compared in order.
- a list-typed gold (``"list"``, ``"list of ..."``, ``"set"``) is never an interval: ``[2, 3]`` then
  equals ``2, 3``, ``(2, 3)``, ``\\{2, 3\\}`` and ``2 and 3``; ``[3]`` equals ``3``; ``3 1 -4`` is the
  list ``3, 1, -4``. Without an answer type, ``[a, b]`` with two items is an interval.

Text and derivations:
- prose (3+ plain words) is compared as text; a gold that explains itself ("No. It is not closed
  under addition.") also matches its first sentence.
- a derivation ``a = b = c`` / ``a \\approx c`` is judged by its exact value (and its approximation
  when both sides give one); a predicted derivation cannot hedge between two values.
- two equations in unknowns agree when one is a non-zero constant multiple of the other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from dart_trl.grading.extract import NOT_AFTER_ABBREVIATION, _match_brace
from dart_trl.grading.normalize import (
    Number,
    compact,
    is_dangerous,
    normalize_answer,
    parse_number,
    strip_variable,
)
from dart_trl.grading.numeric import evaluate, numerically_equal, proportional

MAX_ITEMS = 40
# A float64 printed in full (repr, or %.17g) has 16 or 17 significant digits.
FLOAT64_DIGITS = 16
FLOAT64_NOISE = Fraction(1, 10**15)
MAX_DEPTH = 4
ORDERED_TYPES = {"tuple", "list", "list of integer", "list of float", "interval", "matrix"}
SET_TYPES = {"set"}
# Answer types that say the gold is a list (of values, in order or not): never an interval, so the
# kind of bracket does not matter, a one-item list equals its item, and numbers separated by spaces
# ("3 1 -4", DeepMind's sorted sequences) are a list.
LIST_TYPES = {"list", "list of integer", "list of float"} | SET_TYPES
_SPACED_NUMBERS_RE = re.compile(r"-?\d+(?:\.\d+)?(?:\s+-?\d+(?:\.\d+)?)+")
BOOL_TYPES = {"bool", "boolean"}
CHOICE_TYPES = {"choice", "option", "multiple choice"}
_TRUE = {"true", "yes", "correct", "t", "y"}
_FALSE = {"false", "no", "incorrect", "f", "n"}
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z \-']*")
# A plain word of 2+ letters, not a LaTeX command (\\cos) nor glued to a number or a symbol (2x, x_1).
_PROSE_WORD_RE = re.compile(r"(?<![\\\w^_{])[A-Za-z]{2,}(?![\w{(_^])")
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "sqrt", "pi", "max", "min"}
_MATH_WORDS |= {"det", "gcd", "lcm", "mod", "and", "or", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh"}
_APPROX_RE = re.compile(r"\\(?:approx|simeq|doteq)(?![A-Za-z])|≈")
# A sentence break inside a gold that explains itself: "No. It is not closed under addition."
_SENTENCE_BREAK_RE = re.compile(rf"(?<!\.){NOT_AFTER_ABBREVIATION}\.\s+(?=[A-Z\\(\[])")
_BARE_NAME_RE = re.compile(r"\\?[A-Za-z]+(?:_\{?\w+\}?)?")


class NeedsSymbolic(Exception):
    """Raised in the caller's process when a pair can only be decided symbolically."""


@dataclass(frozen=True)
class Options:
    """Per-item comparison options: tolerances and the gold's declared answer type."""

    rel_tol: float | None = None
    abs_tol: float | None = None
    answer_type: str | None = None

    @classmethod
    def make(
        cls, rel_tol: float | None = None, abs_tol: float | None = None, answer_type: str | None = None
    ) -> Options:
        """Build options, lower-casing ``answer_type`` and coercing tolerances to float."""
        return cls(
            None if rel_tol is None else float(rel_tol),
            None if abs_tol is None else float(abs_tol),
            answer_type.strip().lower() if answer_type else None,
        )


SymbolicFn = Callable[[str, str, Options], bool]


@dataclass(frozen=True)
class _Shape:
    kind: str  # "single", "tuple", "set", "list", "matrix"
    items: tuple[str, ...]
    brackets: str = ""  # opening + closing bracket of a tuple / interval


def parse_bool(s: str) -> bool | None:
    """``True``/``False`` (and yes/no, correct/incorrect) in any case; None otherwise."""
    word = s.strip().strip("().").lower()
    return True if word in _TRUE else False if word in _FALSE else None


def parse_choice(s: str) -> str | None:
    """A multiple-choice letter from ``C``, ``(C)``, ``C)``, ``option C``, ``(c) 42``; None otherwise."""
    m = re.fullmatch(r"(?i)\s*(?:option|choice)?\s*\(?([A-Ja-j])\)?(?:[\s.:](?P<rest>.*))?", s, re.DOTALL)
    if m is None or re.match(r"\s*[-+*/^_=<>\\{]", m.group("rest") or ""):
        return None  # "C + 1", "C = 3": an expression in C, not choice C
    return m.group(1).upper()


def _split_top(s: str, seps: str) -> list[str]:
    """Split on any character in ``seps`` at bracket depth 0."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        if c in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _outer_closes_at_end(s: str) -> bool:
    """True if the bracket opening ``s`` closes at its last character."""
    depth = 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False


def _matrix_rows(s: str) -> list[list[str]] | None:
    m = re.fullmatch(
        r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?((?:(?!\\begin|\\end).)*)\\end\{\1\}", s, re.DOTALL
    )
    if m is None:
        return None
    rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip() and not r.strip().startswith("\\hline")]
    return [[c.strip() for c in r.split("&")] for r in rows]


def _shape(s: str) -> _Shape:
    """Split an answer into its top-level structure."""
    s = s.strip()
    while s.startswith("(") and _outer_closes_at_end(s) and s.endswith(")") and "," not in _inner(s):
        inner = _inner(s)
        if not inner.startswith("\\begin") and not (inner.startswith("(") and _outer_closes_at_end(inner)):
            break
        s = inner
    rows = _matrix_rows(s)
    if rows is not None:
        width = {len(r) for r in rows}
        items = tuple(c for r in rows for c in r)
        return _Shape("matrix", items, f"{len(rows)}x{width.pop() if len(width) == 1 else '?'}")
    if "\\cup" in s:
        parts = [p.strip() for p in s.split("\\cup")]
        if len(parts) > 1 and all(parts):
            return _Shape("set", tuple(parts))
    if s.startswith("\\{") and s.endswith("\\}") and _match_brace(s, 1) is None:
        return _Shape("set", tuple(p for p in _split_top(s[2:-2], ",;") if p))
    if s.startswith("{") and s.endswith("}") and _match_brace(s, 0) == len(s) - 1:
        inner = s[1:-1]
        if "," in inner:
            return _Shape("set", tuple(p for p in _split_top(inner, ",;") if p))
    if s[:1] in "([" and s[-1:] in ")]" and _outer_closes_at_end(s):
        parts = _split_top(_inner(s), ",;")
        if len(parts) > 1:
            return _Shape("tuple", tuple(parts), s[0] + s[-1])
    joined = re.sub(r"(?i)(?:^|\s|(?<=[)\]}]))(?:and|or)(?=\s|[(\[{\\$-]|$)", ",", s)
    groups = [g for g in _split_top(joined, ";") if g]
    if len(groups) > 1:
        tuples = [_split_top(g, ",") for g in groups]
        if any(len(t) > 1 for t in tuples):
            return _Shape("set", tuple("(" + ", ".join(strip_variable(x) for x in t) + ")" for t in tuples))
        return _Shape("set", tuple(groups))
    parts = [p for p in _split_top(joined, ",") if p]
    if len(parts) > 1:
        return _Shape("list", tuple(parts))
    m = re.fullmatch(r"(.*?)\\pm(.+)", s) if s.count("\\pm") == 1 else None
    if m is not None and _balanced(m.group(1)) and _balanced(m.group(2)):
        a, b = m.group(1).strip(), m.group(2).strip()
        return _Shape("set", (f"{a} + {b}", f"{a} - {b}") if a else (b, f"-{b}"))
    return _Shape("single", (s,))


def _inner(s: str) -> str:
    return s[1:-1].strip()


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def numbers_equal(a: Number, b: Number, opts: Options) -> bool:
    """Compare two parsed numbers.

    The numeric policy (README, "Grading"): with ``rel_tol``/``abs_tol`` (per item, such as
    OlympiadBench's ``error``): ``|a-b| <= max(rel_tol*max(|a|,|b|), abs_tol)``. Without: the exact
    decimal values are equal; or one side is a float64 printed in full (a decimal literal with 16 or
    more significant digits, ``0.47000000000000003``) and they differ by float64 noise (relative
    ``1e-15``, a few ulps); or a decimal
    literal with at least 3 significant digits is the other value rounded to its last digit
    (``0.3333`` == ``1/3``, ``7.78`` == ``70/9``). A percent value ``p%`` matches both ``p`` and ``p/100``.
    """
    for x in _candidates(a):
        for y in _candidates(b):
            if opts.rel_tol is not None or opts.abs_tol is not None:
                diff = abs(x - y)
                bound = max((opts.rel_tol or 0.0) * float(max(abs(x), abs(y))), opts.abs_tol or 0.0)
                if float(diff) <= bound * (1 + 1e-12):
                    return True
            elif x == y or ((_float64_print(a) or _float64_print(b)) and _float64_close(x, y)):
                return True
            for num, other in ((a, y), (b, x)):
                if num.quantum is not None and num.significant >= 3 and not num.percent:
                    own = x if num is a else y
                    if abs(own - other) <= num.quantum / 2 * Fraction(1000001, 1000000):
                        return True
    return False


def _float64_print(n: Number) -> bool:
    """Whether ``n`` was written as a float64 prints itself in full: a decimal literal with 16+ digits."""
    return n.quantum is not None and n.quantum < 1 and n.significant >= FLOAT64_DIGITS


def _float64_close(x: Fraction, y: Fraction) -> bool:
    """Equal up to float64 noise: a relative difference of at most ``FLOAT64_NOISE`` (a few ulps)."""
    return abs(x - y) <= FLOAT64_NOISE * max(abs(x), abs(y))


def _candidates(n: Number) -> tuple[Fraction, ...]:
    return (n.value, n.value / 100) if n.percent else (n.value,)


def _decimal_comma(s: str) -> Number | None:
    """``1000,99`` read as ``1000.99`` (only tried against a single decimal number)."""
    if re.fullmatch(r"-?\d+,\d+", s) and not re.fullmatch(r"-?[1-9]\d{0,2},\d{3}", s):
        return parse_number(s.replace(",", "."))
    return None


def _is_word(s: str) -> bool:
    return bool(_WORD_RE.fullmatch(s)) and len(s) > 1


def is_prose(s: str) -> bool:
    """True for a statement in words ("the vectors are linearly dependent", "x = 3 for any integer k").

    Prose is compared as text only: numbers inside it are not the answer's value, and a symbolic
    parser would read the words as products of variables.
    """
    return sum(w.lower() not in _MATH_WORDS for w in _PROSE_WORD_RE.findall(s)) >= 3


def lead_sentence(gold: str) -> str | None:
    """The first sentence of a gold that goes on to explain itself ("No. It is not closed under
    addition." -> "No"); None for a single sentence or a lead-in ("We have:")."""
    parts = _SENTENCE_BREAK_RE.split(gold, maxsplit=1)
    if len(parts) < 2 or not _balanced(parts[0]):
        return None
    lead = parts[0].strip()
    return lead if lead and len(lead) <= 200 and not lead.endswith(":") else None


def _chain(s: str) -> tuple[str | None, str | None] | None:
    """(exact value, approximation) of a derivation ``a = b = c`` or ``a = b \\approx c``; None for a
    single expression or a plain equation ``x = 3``.

    As in math-verify, the exact value is the last part before the first ``\\approx`` (None when that
    is a bare name, as in ``x \\approx 0.5``); the approximation is the last part after it.
    """
    if "," in s or ";" in s or re.search(r"(?i)\b(?:and|or)\b", s):  # a list of answers
        return None
    first, *rest = _APPROX_RE.split(s, maxsplit=1)
    exact_parts = _split_top(first, "=")
    if not all(exact_parts) or (len(exact_parts) < 3 and not rest):
        return None
    if any(_ends_with_new_lhs(p) for p in exact_parts[1:-1]):
        return None  # "y = f(x) \\quad y = -x": two equations side by side, not one derivation
    exact = exact_parts[-1] if not _BARE_NAME_RE.fullmatch(exact_parts[-1]) else None
    approx = _split_top(_APPROX_RE.sub("=", rest[0]), "=")[-1] if rest else None
    return (exact, approx) if exact or approx else None


def compare_normalized(
    pred: str, gold: str, opts: Options, symbolic: SymbolicFn | None, depth: int = 0
) -> bool:
    """Decide whether normalised ``pred`` equals normalised ``gold``.

    Raises ``NeedsSymbolic`` when a leaf pair needs ``symbolic`` and it is None.
    """
    if not pred or not gold:
        return False
    kind = opts.answer_type
    if kind in BOOL_TYPES:
        p, g = parse_bool(pred), parse_bool(gold)
        return p is not None and p == g
    if kind in CHOICE_TYPES or (kind is None and re.fullmatch(r"\(?[A-E]\)?", gold) and parse_choice(pred)):
        p, g = parse_choice(pred), parse_choice(gold)
        if p is not None and g is not None:
            return p == g
    if kind in LIST_TYPES:
        pred, gold = _as_list(pred), _as_list(gold)
    if compact(pred) == compact(gold):
        return True
    lead = lead_sentence(gold) if depth < MAX_DEPTH else None
    if lead is not None and compare_normalized(pred, lead, opts, symbolic, depth + 1):
        return True
    if _is_word(pred) and _is_word(gold):
        return pred.lower() == gold.lower()
    if (is_prose(pred) or is_prose(gold)) and _shape(pred).kind == _shape(gold).kind == "single":
        return compact(pred).lower() == compact(gold).lower()
    p_chain, g_chain = _chain(pred), _chain(gold)
    if (p_chain or g_chain) and depth < MAX_DEPTH:
        return _compare_chains(pred, gold, p_chain, g_chain, opts, symbolic, depth)
    if "=" not in gold or "=" not in pred:
        pred_v, gold_v = strip_variable(pred), strip_variable(gold)
        if compact(pred_v) == compact(gold_v):
            return True
    else:
        pred_v, gold_v = pred, gold
    p_num, g_num = parse_number(pred_v), parse_number(gold_v)
    if p_num is None and g_num is not None and g_num.quantum is not None:
        p_num = _decimal_comma(pred_v)
    if g_num is None and p_num is not None and p_num.quantum is not None:
        g_num = _decimal_comma(gold_v)
    if p_num is not None and g_num is not None:
        return numbers_equal(p_num, g_num, opts)
    if depth < MAX_DEPTH:
        decided = _compare_structure(pred_v, gold_v, opts, symbolic, depth)
        if decided is not None:
            return decided
    if (p_num is not None and _is_word(gold_v)) or (g_num is not None and _is_word(pred_v)):
        return False
    if is_dangerous(pred) or is_dangerous(gold):
        return False
    p_eq, g_eq = _split_equation(pred), _split_equation(gold)
    if p_eq and g_eq and compact(p_eq[0]) == compact(g_eq[0]) and depth < MAX_DEPTH:
        # the same left-hand side: the equations agree exactly when the right-hand sides do
        return compare_normalized(p_eq[1], g_eq[1], opts, symbolic, depth + 1)
    if p_eq and g_eq:
        # equations in unknowns agree when one is a non-zero multiple of the other (as in the worker)
        decided = proportional(f"({p_eq[0]})-({p_eq[1]})", f"({g_eq[0]})-({g_eq[1]})")
        if decided is not None:
            return decided
    decided = _numeric_leaf(pred_v, gold_v, p_num, g_num, opts)
    if decided is not None:
        return decided
    if symbolic is None:
        raise NeedsSymbolic
    return symbolic(pred, gold, opts)


def _compare_chains(
    pred: str,
    gold: str,
    p_chain: tuple[str | None, str | None] | None,
    g_chain: tuple[str | None, str | None] | None,
    opts: Options,
    symbolic: SymbolicFn | None,
    depth: int,
) -> bool:
    """Compare answers written as derivations (``i^6 = i^4 i^2 = -1``, ``\\cos(e) \\approx -0.912``).

    Two chains must agree on their exact values, and on their approximations when both give one. A
    single answer matches a gold chain's exact value or its approximation; a predicted chain is judged
    by its exact value (by its approximation only when it has none), so it cannot hedge.
    """

    def eq(p: str, g: str) -> bool:
        return compare_normalized(p, g, opts, symbolic, depth + 1)

    if p_chain and g_chain:
        pairs = [(p, g) for p, g in zip(p_chain, g_chain, strict=True) if p and g]
        if pairs:
            return all(eq(p, g) for p, g in pairs)
        return any(eq(p, g) for p in p_chain if p for g in g_chain if g)
    if p_chain:
        # the exact value decides when there is one: "5 \\approx 6" must not hedge between 5 and 6
        exact, approx = p_chain
        return eq(exact or approx or "", gold)
    assert g_chain is not None
    return any(eq(pred, g) for g in g_chain if g)


def _ends_with_new_lhs(part: str) -> bool:
    """Whether a middle part of ``a = b = c`` ends with the left-hand side of a new equation (``f(x) \\quad
    y``), not with a factor of its own value (``i^{4} \\cdot i``, ``2 x``)."""
    m = re.search(r"(\S+)\s+\\?[A-Za-z]+(?:_\{?\w+\}?)?$", part)
    return m is not None and re.search(r"(?:[-+*/^({=]|\\cdot|\\times|\\div)$", m.group(1)) is None


def _split_equation(s: str) -> tuple[str, str] | None:
    """(lhs, rhs) of a single top-level equation ``lhs = rhs``; None otherwise."""
    parts = _split_top(s, "=")
    if len(parts) != 2 or not all(parts) or re.search(r"[<>!\\]$", parts[0]) or "," in s:
        return None
    return parts[0], parts[1]


def _numeric_leaf(
    pred: str, gold: str, p_num: Number | None, g_num: Number | None, opts: Options
) -> bool | None:
    """Settle a leaf pair by evaluating both sides (see ``dart_trl.grading.numeric``); None if it cannot.

    Constants that differ may still match under ``rel_tol``/``abs_tol`` or when one side is a
    decimal with at least 3 significant digits that rounds the other.
    """
    verdict = numerically_equal(pred, gold)
    if verdict is None or verdict:
        return verdict
    x, y = evaluate(pred, {}), evaluate(gold, {})
    if x is None or y is None or x.imag or y.imag:
        return False
    if opts.rel_tol is not None or opts.abs_tol is not None:
        return is_close_float(x.real, y.real, opts)
    for num, other in ((p_num, y.real), (g_num, x.real)):
        if num is not None and num.quantum is not None and num.significant >= 3 and not num.percent:
            if abs(float(num.value) - other) <= float(num.quantum) / 2 * (1 + 1e-6):
                return True
    return False


def _compare_structure(
    pred: str, gold: str, opts: Options, symbolic: SymbolicFn | None, depth: int
) -> bool | None:
    """Compare tuples / sets / lists / matrices item by item; None when both are single leaves."""
    ps, gs = _shape(pred), _shape(gold)
    if opts.answer_type not in ORDERED_TYPES:  # a list in order keeps its repeats: [1, 1] is not [1]
        ps, gs = _dedupe(ps), _dedupe(gs)
    if ps.kind == "single" and gs.kind == "single":
        if (ps.items[0], gs.items[0]) != (pred, gold):
            return compare_normalized(ps.items[0], gs.items[0], opts, symbolic, depth + 1)
        return None
    if ps.kind == "single" or gs.kind == "single":
        if len(ps.items) > MAX_ITEMS or len(gs.items) > MAX_ITEMS:
            return False
        single = ps if ps.kind == "single" else gs
        if re.search(r"=|\\le|\\ge|<|>|\\in|\\pm|\\cup|\\begin", single.items[0]):
            return None  # a relation / set expression: leave it to math-verify
        return False
    if len(ps.items) > MAX_ITEMS or len(gs.items) > MAX_ITEMS:
        return False

    def eq(p: str, g: str) -> bool:
        return compare_normalized(
            normalize_answer(p), normalize_answer(g), _item_opts(opts), symbolic, depth + 1
        )

    kind = opts.answer_type
    ordered = (
        kind in ORDERED_TYPES or "tuple" in (ps.kind, gs.kind) or "matrix" in (ps.kind, gs.kind)
    ) and kind not in SET_TYPES
    if ordered:
        if len(ps.items) != len(gs.items):
            return False
        if ps.kind == "matrix" or gs.kind == "matrix":
            if ps.kind != gs.kind and "tuple" not in (ps.kind, gs.kind):
                return False
            if ps.kind == gs.kind and ps.brackets != gs.brackets:
                return False
        if (_is_interval(ps) or _is_interval(gs)) and kind not in LIST_TYPES:
            if ps.brackets != gs.brackets:
                return False
        return all(eq(p, g) for p, g in zip(ps.items, gs.items, strict=True))
    preds, golds = list(dict.fromkeys(ps.items)), list(dict.fromkeys(gs.items))
    matched_gold = [False] * len(golds)
    for p in preds:
        hit = next((j for j, g in enumerate(golds) if eq(p, g)), None)
        if hit is None:
            return False
        matched_gold[hit] = True
    for j, g in enumerate(golds):
        if not matched_gold[j] and not any(eq(p, g) for p in preds):
            return False
    return True


def _dedupe(shape: _Shape) -> _Shape:
    """An unordered answer list without repeated items; a single remaining item becomes a leaf."""
    if shape.kind not in ("set", "list"):
        return shape
    items = tuple({compact(i): i for i in shape.items}.values())
    return _Shape("single" if len(items) == 1 else shape.kind, items)


def _as_list(s: str) -> str:
    """An answer of a list-typed gold as a bare list: ``3 1 -4`` -> ``3, 1, -4``; ``[3]`` -> ``3``."""
    s = s.strip()
    if _SPACED_NUMBERS_RE.fullmatch(s):
        return ", ".join(s.split())
    for opening, closing in (("[", "]"), ("(", ")"), ("\\{", "\\}")):
        if s.startswith(opening) and s.endswith(closing) and _outer_closes_at_end(s.replace("\\", "")):
            inner = s[len(opening) : -len(closing)].strip()
            if inner and len(_split_top(inner, ",;")) == 1:
                return inner
    return s


def _is_interval(shape: _Shape) -> bool:
    return shape.kind == "tuple" and shape.brackets != "()"


def _item_opts(opts: Options) -> Options:
    """Options for the items of a list answer: the element type of ``list of float`` etc."""
    if opts.answer_type and opts.answer_type.startswith("list of "):
        return Options(opts.rel_tol, opts.abs_tol, opts.answer_type[len("list of ") :])
    if opts.answer_type in ORDERED_TYPES | SET_TYPES:
        return Options(opts.rel_tol, opts.abs_tol, None)
    return opts


def compare(pred: str, gold: str, opts: Options, symbolic: SymbolicFn | None) -> bool:
    """Normalise both answers and compare them (see ``compare_normalized``)."""
    return compare_normalized(normalize_answer(pred), normalize_answer(gold), opts, symbolic)


def is_close_float(a: float, b: float, opts: Options) -> bool:
    """Tolerance check for two floats evaluated symbolically (used by the worker)."""
    if opts.rel_tol is None and opts.abs_tol is None:
        return False
    return math.isclose(a, b, rel_tol=opts.rel_tol or 0.0, abs_tol=opts.abs_tol or 0.0)
