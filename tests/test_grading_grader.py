"""Grader behaviour: verdict reasons, memoisation, worker deadlines, threads, processes, safety."""

import pickle
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context

import pytest

from dart_trl.grading import Grader, Verdict
from dart_trl.grading.equivalence import Options

# Genuinely slow for sympy (a 20000-term exact rational sum), not flagged as dangerous.
SLOW = r"\boxed{\sum_{n=1}^{20000} \frac{1}{n^2}}"


@pytest.fixture(scope="module")
def grader():
    with Grader(timeout=10.0, num_workers=2) as g:
        yield g


def test_reasons(grader):
    assert grader.grade(r"so \boxed{4}", "4") == Verdict(True, "4", "ok")
    assert grader.grade(r"so \boxed{5}", "4") == Verdict(False, "5", "wrong")
    assert grader.grade("I do not know", "4").reason == "no_answer"
    assert grader.grade(r"\boxed{4}", "4", finish_reason="length").reason == "truncated"
    assert grader.grade(r"\boxed{4}", "").reason == "unparseable_gold"
    with Grader(grade_truncated=True) as lenient:
        assert lenient.grade(r"\boxed{4}", "4", finish_reason="length").correct


def test_strict_mode():
    with Grader(mode="strict") as strict:
        assert strict.grade("The answer is 4", "4").reason == "no_answer"
        assert strict.grade(r"\boxed{4}", "4").correct


def test_options_per_item(grader):
    items = [
        {"completion": r"\boxed{3.13}", "gold": "3.1416", "abs_tol": 0.02},
        {"completion": r"\boxed{3.13}", "gold": "3.1416"},
        {"completion": "The answer is yes", "gold": "True", "answer_type": "bool"},
        {"completion": r"\boxed{[1, 2, 3]}", "gold": [1, 2, 3], "answer_type": "list of integer"},
    ]
    assert [v.correct for v in grader.grade_batch(items)] == [True, False, True, True]


def test_symbolic_pair(grader):
    assert grader.grade(r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}").correct
    assert not grader.grade(r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{1}{\sqrt{2}}").correct


def test_repeated_pairs_are_graded_once():
    with Grader() as g:
        items = [{"completion": rf"\boxed{{{a}}}", "gold": "1/2"} for a in ["0.5", r"\frac12", "2/4"] * 30]
        verdicts = g.grade_batch(items)
        assert all(v.correct for v in verdicts)
        assert len(g._cache) == 3


def test_timeout_isolated_to_one_item():
    with Grader(timeout=1.0, num_workers=1) as g:
        g.grade(r"\boxed{\sqrt{4}}", "2")  # start the worker outside the timed batch
        items = [
            {"completion": SLOW, "gold": "1"},
            {"completion": r"\boxed{\sec^2(y)}", "gold": r"\tan^2(y)+1"},  # needs a worker
            {"completion": r"\boxed{7}", "gold": "7"},
            {"completion": r"\boxed{\csc^2(y)}", "gold": r"\cot^2(y)+1"},  # needs a worker
        ]
        start = time.monotonic()
        reasons = [v.reason for v in g.grade_batch(items)]
        assert reasons == ["timeout", "ok", "ok", "ok"]
        assert time.monotonic() - start < 30
        assert g.grade(r"\boxed{\sqrt{16}}", "4").correct  # the replaced worker still serves


def test_threads(grader):
    def work(k: int) -> bool:
        ok = grader.grade(rf"\boxed{{\sec^2(y) + {k}}}", rf"\tan^2(y) + {k + 1}").correct  # worker
        bad = grader.grade(rf"\boxed{{\sec^2(y) + {k}}}", rf"\tan^2(y) + {k}").correct
        return ok and not bad

    with ThreadPoolExecutor(8) as ex:
        assert all(ex.map(work, range(2, 18)))


def _grade_in_child(payload: bytes) -> list[bool]:
    g = pickle.loads(payload)
    try:
        return [
            v.correct for v in g.grade_batch([{"completion": r"\boxed{\sec^2(y)}", "gold": r"\tan^2(y)+1"}])
        ]
    finally:
        g.close()


def test_picklable_and_usable_from_processes(grader):
    payload = pickle.dumps(grader)
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as ex:
        assert list(ex.map(_grade_in_child, [payload, payload])) == [[True], [True]]


@pytest.mark.parametrize(
    "payload",
    [
        "__import__('os').system('touch {p}')",
        "exec(\"open('{p}', 'w').write('x')\")",
        "eval(\"__import__('pathlib').Path('{p}').touch()\")",
        "Symbol('x').__class__.__mro__[-1].__subclasses__(); open('{p}','w')",
        "lambda: __import__('os').system('touch {p}')",
        r"\input{{{p}}} \write18{{touch {p}}}",
    ],
)
def test_injection_has_no_side_effects(grader, tmp_path, payload):
    target = tmp_path / "pwned"
    text = payload.format(p=target)
    for completion in (rf"\boxed{{{text}}}", f"The answer is {text}", text):
        verdict = grader.grade(completion, "2")
        assert verdict.correct is False
        verdict = grader.grade(r"\boxed{2}", text)
        assert verdict.correct is False
    assert not target.exists()


@pytest.mark.parametrize(
    "answer",
    [
        "10^{10^{10^{10}}}",
        "9^9^9^9",
        "(10^7)!",
        "2^{10000000000}",
        "{" * 5000 + "1" + "}" * 5000,
        r"\frac{" * 3000 + "1" + "}{2}" * 3000,
    ],
)
def test_adversarial_answers_are_bounded(grader, answer):
    start = time.monotonic()
    verdict = grader.grade(rf"\boxed{{{answer}}}", "5")
    assert verdict.correct is False
    assert time.monotonic() - start < 15


def test_huge_completion_is_bounded(grader):
    text = ("x = 1 + 2 " * 200_000) + r"\boxed{3}"
    start = time.monotonic()
    assert grader.grade(text, "3").correct
    assert time.monotonic() - start < 5


def test_deeply_nested_answers_are_rejected_before_any_symbolic_check():
    # brace soup keeps the LaTeX parser busy for seconds: it would hit the deadline ("timeout") on every sample
    soup = "The answer is " + "{" * 900 + "\n" + "}" * 900 + "."
    huge_soup = "The answer is " + "{" * 3000 + "\n" + "}" * 3000 + "."  # over MAX_ANSWER_CHARS
    with Grader(num_workers=1, timeout=1.0) as short_deadline:
        assert short_deadline.grade(soup, "1").reason == "wrong"
        assert short_deadline.grade(huge_soup, "1").reason == "no_answer"
        assert short_deadline.grade(r"\boxed{((((x+1))))}", "1+x").correct  # ordinary nesting still graded


# Realistic completions (boxes, "The answer is", units, money, percent, intervals, sets, matrices,
# unicode) with the verdict a careful human grader gives. Two deliberate choices: a hedged
# "1/2 or 0.5" is wrong (two answers), and 3.14 matches \pi (a decimal with 3+ significant digits
# that rounds the exact value).
REALISTIC = [
    ("The answer is: 42", "42", True),
    ("**Final Answer**: $\\boxed{42}$", "42", True),
    ("The answer is 42 dollars.", "42", True),
    ("The answer is $42.", "42", True),
    ("So he has 18 square units left. The answer is 18 square units.", "18", True),
    ("The answer is 1/2 or 0.5", "\\frac12", False),
    ("The answer is Devon.", "\\text{Devon}", True),
    ("The answer is (B).", "\\text{(B)}", True),
    ("The answer is B) 12", "B", True),
    ("The statement is true. The answer is True.", "True", True),
    ("Thus the final answer is $\\boxed{(x+1)^2}$.", "x^2+2x+1", True),
    ("The answer is $x = 5$ or $x = -2$.", "-2, 5", True),
    ("The answer is 5 because 2 + 3 = 5.", "5", True),
    ("The answer is 5. Because 2 + 3 = 5, we are done.", "5", True),
    ("The answer is 6. I hope it is correct.", "5", False),
    ("The answer is $\\frac{\\sqrt{3}}{2}$.", "\\frac{\\sqrt3}{2}", True),
    ("The answer is 3.14", "\\pi", True),
    ("The answer is 0.333", "\\frac13", True),
    ("The answer is 12 cm^2.", "12", True),
    ("The answer is 50%.", "50", True),
    ("The answer is $\\$1,250.50$.", "1250.5", True),
    ("Therefore, the answer is $\\{1, 2, 3\\}$.", "\\{3,2,1\\}", True),
    ("The answer is $[2, 5)$.", "[2,5)", True),
    ("The answer is $(2, 5]$.", "[2,5)", False),
    ("The answer is y = 2x + 3.", "y=2x+3", True),
    ("The answer is 2x + 3.", "y=2x+3", True),
    ("The answer is all real numbers.", "all real numbers", True),
    ("The answer is Monday and Tuesday.", "Tuesday, Monday", True),
    ("The answer is the 3rd quadrant", "3", False),
    ("The answer is 4 hours and 30 minutes", "4.5", False),
    ("The answer is $2\\frac{1}{2}$ hours.", "\\frac52", True),
    ("The answer is 10 min. She then leaves.", "10", True),
    ("The answer is approx. 3.14.", "3.14", True),
    ("The final answer is $\\boxed{\\text{(C)}}$", "C", True),
    ("Final Answer: The final answer is 12. I hope it is correct.", "12", True),
    ("so $\\angle A = \\boxed{30^\\circ}$", "30", True),
    ("The answer is $x \\in (-\\infty, 3]$.", "(-\\infty, 3]", True),
    ("$\\boxed{2}$ and $\\boxed{3}$", "2, 3", True),
    ("I don't know.", "3", False),
    ("\\boxed{\\frac{1}{2}}", "0.5", True),
    ("The answer is −3.", "-3", True),
    ("The answer is ½.", "\\frac{1}{2}", True),
    ("The answer is 2√2.", "2\\sqrt{2}", True),
    ("The answer is 3π.", "3\\pi", True),
    ("The answer is 6 × 10^5.", "600000", True),
    ("#### 1,000,000", "1000000", True),
    ("The answer is \\boxed{\\dfrac{\\pi}{4}}", "\\frac{\\pi}{4}", True),
    ("The answer is $\\boxed{-\\frac{1}{2}}$", "-\\frac12", True),
    ("\\boxed{x^2-1}", "(x-1)(x+1)", True),
    ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\boxed{10\\%}", "0.1", True),
    ("\\boxed{5}", "5\\text{ cm}", True),
    ("\\boxed{\\$5.00}", "5", True),
]


@pytest.mark.parametrize("completion,gold,expected", REALISTIC)
def test_realistic_completions(grader, completion, gold, expected):
    assert grader.grade(completion, gold).correct is expected


def _matrix(n: int) -> str:
    rows = (" & ".join(str(i * n + j) for j in range(n)) for i in range(n))
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"


BIG_MATRIX = _matrix(60)  # 3600 entries, longer than the searched tail of a completion
BIG_TUPLE = "(" + ", ".join(str(i) for i in range(5000)) + ")"

# The final answer through the Grader: (completion, gold, reason).
FINAL_ANSWER = [
    (r"so \boxed{3}. Wait, recheck: the answer is \boxed{5}.", "5", "ok"),
    (r"so \boxed{3}. Wait, recheck: the answer is \boxed{5}.", "3", "wrong"),
    (r"so \boxed{3}. Wait, recheck: the answer is \boxed{5}.", "3, 5", "wrong"),
    (r"\boxed{1} and \boxed{2}", r"\{1, 2\}", "ok"),
    (r"\boxed{1}, \boxed{2}", "2, 1", "ok"),
    (r"\boxed{3}. Hmm, actually it's \boxed{5", "3", "no_answer"),  # not the earlier box
    (r"\boxed{3}. Hmm, actually it's \boxed{5", "5", "no_answer"),
    (r"The answer is 3. \boxed{\frac{1", "3", "no_answer"),  # nor the phrase before it
    (r"\boxed{3}. \boxed{4 and later \boxed{5}", "5", "ok"),
    (r"The answer is \boxed{" + BIG_MATRIX + "}", "3599", "no_answer"),  # not its last entry
    (r"The answer is \boxed{" + BIG_MATRIX + "}", BIG_MATRIX, "unparseable_gold"),
    ("We get " + BIG_TUPLE, "4999", "no_answer"),
    ("The answer is $$" + BIG_MATRIX + "$$", "3599", "no_answer"),
    (r"The answer is \$23{,}000.", "23000", "ok"),
    (r"She earns \$23{,}000 per year.", "23000", "ok"),
    (r"She earns \$23{,}000 per year.", "0", "wrong"),  # not "000" after a math delimiter
    (r"She earns \$1{,}234.50 per year.", "1234.5", "ok"),
    (r"The answer is $\$23{,}000$.", r"\$23{,}000", "ok"),
    (r"\boxed{\$23{,}000}", "23,000", "ok"),
    (r"so it costs \$ 5", "5", "ok"),
]


@pytest.mark.parametrize("completion,gold,reason", FINAL_ANSWER)
def test_final_answer_verdicts(grader, completion, gold, reason):
    verdict = grader.grade(completion, gold)
    assert (verdict.correct, verdict.reason) == (reason == "ok", reason)


def test_unreadable_final_box_in_strict_mode():
    with Grader(mode="strict") as strict:
        assert strict.grade(r"\boxed{3}. Actually \boxed{5", "3") == Verdict(False, None, "no_answer")


def test_answers_too_large_are_rejected_whole_and_fast():
    # Two different 5000-entry tuples share their first 2000 characters: a cut-to-prefix comparison
    # would call them equal. Too large to compare, they are rejected before any worker is started.
    other = BIG_TUPLE[:-1] + ", 5)"
    assert other[:2000] == BIG_TUPLE[:2000]
    with Grader(num_workers=1) as g:
        start = time.monotonic()
        assert not g.equivalent(other, BIG_TUPLE, Options())
        verdicts = g.grade_batch(
            [
                {"completion": rf"\boxed{{{BIG_TUPLE}}}", "gold": "4999"},
                {"completion": rf"\boxed{{{BIG_TUPLE}}}", "gold": BIG_TUPLE},
                {"completion": "We get " + BIG_MATRIX, "gold": "3599"},
            ]
        )
        assert [v.reason for v in verdicts] == ["no_answer", "unparseable_gold", "no_answer"]
        assert time.monotonic() - start < 5
        assert g._workers is None
