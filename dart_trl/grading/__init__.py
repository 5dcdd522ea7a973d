"""Math answer grading: extraction, equivalence, and safe, fast batch grading.

Public API::

    from dart_trl.grading import extract_answer, is_equivalent, Grader, Verdict, last_boxed

Model text is untrusted: nothing here evals it. Cheap checks (normalised string equality, plain
numbers and fractions, booleans, choice letters, the structure of tuples / sets / intervals /
matrices) run in the caller's process; every symbolic check (math-verify / latex2sympy) runs in
worker processes under a hard per-item deadline (see ``dart_trl.grading.workers``). Comparison
rules, including which answer types compare in order and which as sets, are documented in
``dart_trl.grading.equivalence``; accepted gold forms in ``Grader``.
"""

from dart_trl.grading.extract import extract_answer, last_boxed
from dart_trl.grading.grader import Grader, Verdict, is_equivalent

__all__ = ["Grader", "Verdict", "extract_answer", "is_equivalent", "last_boxed"]
