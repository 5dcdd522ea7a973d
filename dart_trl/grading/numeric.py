"""A bounded numeric evaluator for simple LaTeX arithmetic, used to settle most leaf pairs without sympy.

The grammar is deliberately small: numbers, single-letter and Greek-letter variables (with
subscripts), ``+ - * /``,
``\\cdot``, ``\\times``, ``^``, ``\\frac``, ``\\sqrt`` (and ``\\sqrt[n]``), ``\\pi``, ``\\sin``,
``\\cos``, ``\\tan``, ``\\ln``, ``\\log`` (and ``\\log_{b}``), ``\\exp``, parentheses / braces and implicit
multiplication; ``e`` is Euler's number and ``i`` a plain variable, as latex2sympy reads them.
Anything else (relations, commas, text, unknown commands) makes the
evaluator give up (None) and the pair goes to math-verify. It never evaluates code: it walks tokens.
Two expressions are compared at a few fixed points for their variables; a difference proves them
unequal, agreement at every point is accepted as equality (polynomial-identity style testing).
"""

from __future__ import annotations

import cmath
import re
from collections.abc import Mapping
from fractions import Fraction

MAX_TOKENS = 300
MAX_EXPONENT = 64.0
MAX_EXACT_BITS = 20_000  # a bound on the size of exact powers: (2^64)^64 is fine, a tower is not
_GREEK = r"\\(?:alpha|beta|gamma|delta|theta|lambda|mu|nu|rho|sigma|tau|phi|varphi|psi|omega|Omega|Delta)(?![A-Za-z])"
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*|\.\d+)"
    rf"|(?P<var>(?:{_GREEK}|[A-Za-z])(?:_\{{?[A-Za-z0-9]+\}}?)?)"
    r"|(?P<cmd>\\[A-Za-z]+)|(?P<op>[-+*/^(){}\[\]_]))"
)
_FUNCS = {
    "\\sin": cmath.sin,
    "\\cos": cmath.cos,
    "\\tan": cmath.tan,
    "\\ln": cmath.log,
    "\\log": cmath.log,
    "\\exp": cmath.exp,
}
_POINTS = (0.6180339887, 1.4142135624, 2.7182818285)


class _GiveUp(Exception):
    pass


def _tokenize(s: str) -> list[tuple[str, str]] | None:
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\left", "").replace("\\right", "")
    tokens, pos = [], 0
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if m is None:
            if s[pos:].strip() == "":
                break
            return None
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        if len(tokens) > MAX_TOKENS:
            return None
    return tokens


class _Parser:
    """Evaluates tokens at ``point`` in complex floats, or, with ``exact``, in fractions (then only
    numbers, ``+ - * / \\frac`` and integer powers: anything else gives up)."""

    def __init__(
        self, tokens: list[tuple[str, str]], point: Mapping[str, complex], exact: bool = False
    ) -> None:
        self.tokens, self.i, self.point, self.exact = tokens, 0, point, exact

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise _GiveUp
        self.i += 1
        return tok

    def expr(self) -> complex:
        value = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-":
            self.take()
            value = value + self.term() if tok[1] == "+" else value - self.term()
        return value

    def term(self) -> complex:
        value = self.unary()
        while (tok := self.peek()) is not None:
            if tok[1] in "*/":
                self.take()
                rhs = self.unary()
                if tok[1] == "/" and rhs == 0:
                    raise _GiveUp
                value = value * rhs if tok[1] == "*" else value / rhs
            elif tok[0] in ("num", "var", "cmd") or tok[1] in "({":
                value = value * self.power()  # implicit multiplication
            else:
                break
        return value

    def unary(self) -> complex:
        tok = self.peek()
        if tok is not None and tok[1] in "+-":
            self.take()
            return -self.unary() if tok[1] == "-" else self.unary()
        return self.power()

    def power(self) -> complex:
        base = self.atom()
        if (tok := self.peek()) is not None and tok[1] == "^":
            self.take()
            exponent = self.unary() if self.peek() and self.peek()[1] in "+-" else self.atom()
            if self.exact and (exponent.denominator != 1 or _bits(base) * abs(exponent) > MAX_EXACT_BITS):
                raise _GiveUp
            if (not self.exact and abs(exponent) > MAX_EXPONENT) or (base == 0 and exponent.real <= 0):
                raise _GiveUp
            return base**exponent
        return base

    def group(self) -> complex:
        open_tok = self.take()[1]
        if open_tok not in "({":
            raise _GiveUp
        value = self.expr()
        self.take(")" if open_tok == "(" else "}")
        return value

    def atom(self) -> complex:
        tok = self.peek()
        if tok is None:
            raise _GiveUp
        kind, text = tok
        if kind == "num":
            self.take()
            return Fraction(text) if self.exact else complex(float(text))
        if kind == "var":
            self.take()
            if self.exact:
                raise _GiveUp
            name = text.replace("{", "").replace("}", "")
            if name == "e":  # Euler's number, as latex2sympy reads it
                return complex(cmath.e)
            if name not in self.point:
                raise _GiveUp
            return self.point[name]
        if text in "({":
            return self.group()
        if kind != "cmd":
            raise _GiveUp
        self.take()
        if self.exact and text not in ("\\frac", "\\dfrac", "\\tfrac"):
            raise _GiveUp
        if text == "\\pi":
            return complex(cmath.pi)
        if text in ("\\frac", "\\dfrac", "\\tfrac"):
            num, den = self.group(), self.group()
            if den == 0:
                raise _GiveUp
            return num / den
        if text == "\\sqrt":
            index = 2.0
            if (nxt := self.peek()) is not None and nxt[1] == "[":
                self.take()
                index = self.expr().real
                self.take("]")
                if index == 0:
                    raise _GiveUp
            arg = self.group() if self.peek() and self.peek()[1] in "({" else self.atom()
            return arg ** (1 / index)
        if text == "\\log" and (nxt := self.peek()) is not None and nxt[1] == "_":  # \log_{10} x
            self.take()
            base = self.group() if self.peek() and self.peek()[1] in "({" else self.atom()
            arg = self.group() if self.peek() and self.peek()[1] in "({" else self.power()
            if base.real <= 0 or base == 1 or arg == 0:
                raise _GiveUp
            return cmath.log(arg) / cmath.log(base)
        if text in _FUNCS:
            arg = self.group() if self.peek() and self.peek()[1] in "({" else self.power()
            if text in ("\\ln", "\\log") and arg == 0:
                raise _GiveUp
            return _FUNCS[text](arg)
        raise _GiveUp


def variables(s: str) -> set[str] | None:
    """Variable names of a simple expression; None when ``s`` is outside the grammar."""
    tokens = _tokenize(s)
    if tokens is None:
        return None
    return {t.replace("{", "").replace("}", "") for kind, t in tokens if kind == "var"} - {"e"}


def evaluate(s: str, point: Mapping[str, complex]) -> complex | None:
    """Value of ``s`` with variables bound by ``point``; None if outside the grammar or undefined."""
    tokens = _tokenize(s)
    if not tokens:
        return None
    parser = _Parser(tokens, point)
    try:
        value = parser.expr()
    except (_GiveUp, ArithmeticError, ValueError, TypeError):
        return None
    if parser.i != len(tokens) or not cmath.isfinite(value):
        return None
    return value


def _bits(x: Fraction) -> int:
    return x.numerator.bit_length() + x.denominator.bit_length()


def exact_value(s: str) -> Fraction | None:
    """The exact rational value of a constant expression of numbers, ``+ - * / \\frac`` and integer
    powers (``1-5051/2^{100}``); None for anything else."""
    tokens = _tokenize(s)
    if not tokens:
        return None
    parser = _Parser(tokens, {}, exact=True)
    try:
        value = parser.expr()
    except (_GiveUp, ArithmeticError, ValueError, TypeError):
        return None
    return value if parser.i == len(tokens) else None


def numerically_equal(a: str, b: str) -> bool | None:
    """True / False when both expressions evaluate at every test point; None otherwise.

    Two rational constants are compared exactly (floats cannot tell ``1-5051/2^{100}`` from
    ``1-5052/2^{100}``).
    """
    va, vb = variables(a), variables(b)
    if va is None or vb is None:
        return None
    if not va and not vb:
        x, y = exact_value(a), exact_value(b)
        if x is not None and y is not None:
            return x == y
    names = sorted(va | vb)
    for k in range(len(_POINTS)):
        point = {n: complex(_POINTS[(k + j) % len(_POINTS)] + 0.1 * j) for j, n in enumerate(names)}
        x, y = evaluate(a, point), evaluate(b, point)
        if x is None or y is None:
            return None
        if abs(x - y) > 1e-11 * max(1.0, abs(x), abs(y)):
            return False
    return True


def proportional(a: str, b: str) -> bool | None:
    """Whether ``a = c * b`` for one non-zero constant ``c`` at every test point (two equations
    ``f = 0`` and ``g = 0`` with the same solutions up to scaling); None when either expression is
    outside the grammar, has no variables, or vanishes at a test point."""
    va, vb = variables(a), variables(b)
    if not va or not vb:
        return None
    names = sorted(va | vb)
    ratios = []
    for k in range(len(_POINTS)):
        point = {n: complex(_POINTS[(k + j) % len(_POINTS)] + 0.1 * j) for j, n in enumerate(names)}
        x, y = evaluate(a, point), evaluate(b, point)
        if x is None or y is None or abs(x) < 1e-12 or abs(y) < 1e-12:
            return None
        ratios.append(x / y)
    return all(abs(r - ratios[0]) <= 1e-9 * max(1.0, abs(r)) for r in ratios)
