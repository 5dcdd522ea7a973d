"""The symbolic leaf check, math-verify based. Imported only inside worker processes.

math-verify's own timeouts use ``signal.alarm``; they are disabled here (``parsing_timeout=None``,
``timeout_seconds=None``) because the worker pool enforces a hard per-item deadline by killing
the process.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import sympy
from math_verify import LatexExtractionConfig, parse, verify

from dart_trl.grading.equivalence import Options, compare_normalized, is_close_float

logging.getLogger("math_verify").setLevel(logging.ERROR)
_CONFIG = (LatexExtractionConfig(boxed_match_priority=0),)


class UnparseableGold(Exception):
    """math-verify extracted nothing from the gold answer."""


@lru_cache(maxsize=4096)
def _parse(answer: str) -> list:
    return parse(f"${answer}$", extraction_config=_CONFIG, parsing_timeout=None)


def _degenerate(expr: object) -> bool:
    """True for parses holding ``zoo``/``nan`` (e.g. ``\\gamma^2`` read as the gamma function):
    they compare equal to anything of the same shape, so only exact string equality may decide."""
    return isinstance(expr, sympy.Basic) and (expr.has(sympy.zoo) or expr.has(sympy.nan))


def _numeric(expr: object) -> float | None:
    if isinstance(expr, sympy.Basic) and expr.is_number:
        value = complex(sympy.N(expr, 30))
        if value.imag == 0:
            return value.real
    return None


def _equations_agree(gold: object, pred: object) -> bool:
    """Veto math-verify's equation matches that only hold because neither side has a solution.

    math-verify compares two equations by solving them, so ``log_6(216) = 3`` matched
    ``log_6(216) = 4`` and ``x^2 + 121 = 0`` matched ``x^2 + 121 = 1`` (no real solutions either
    way). Numeric statements must agree on both sides; equations with unknowns must be the same
    up to a non-zero constant factor.
    """
    if not (isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq)):
        return True
    dg, dp = gold.lhs - gold.rhs, pred.lhs - pred.rhs
    if not dg.free_symbols and not dp.free_symbols:
        return sympy.simplify(gold.rhs - pred.rhs) == 0 and sympy.simplify(gold.lhs - pred.lhs) == 0
    if sympy.simplify(dg - dp) == 0 or sympy.simplify(dg + dp) == 0:
        return True
    ratio = sympy.simplify(dg / dp)
    return bool(ratio != 0 and not ratio.free_symbols)


def symbolic_equal(pred: str, gold: str, opts: Options) -> bool:
    """math-verify equivalence of two normalised leaf answers, honouring numeric tolerances."""
    gold_parsed = _parse(gold)
    if not gold_parsed:
        raise UnparseableGold(gold)
    pred_parsed = _parse(pred)
    if not pred_parsed or _degenerate(gold_parsed[0]) or _degenerate(pred_parsed[0]):
        return False
    if verify(gold_parsed, pred_parsed, timeout_seconds=None, allow_set_relation_comp=True):
        return _equations_agree(gold_parsed[0], pred_parsed[0])
    if opts.rel_tol is not None or opts.abs_tol is not None:
        g, p = _numeric(gold_parsed[0]), _numeric(pred_parsed[0])
        return g is not None and p is not None and is_close_float(p, g, opts)
    return False


def grade_pair(pred: str, gold: str, opts: Options) -> bool:
    """Full comparison of two normalised answers with math-verify for the leaves."""
    return compare_normalized(pred, gold, opts, symbolic_equal)
