"""Answer extraction rules of dart_trl.grading.extract."""

import pytest

from dart_trl.grading import extract_answer, last_boxed
from dart_trl.grading.extract import MAX_ANSWER_CHARS, MAX_COMPLETION_CHARS, MAX_JOINED_BOXES


@pytest.mark.parametrize(
    "text,expected",
    [
        (r"so \boxed{5}.", "5"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\left\{1, \{2\}\right\}}", r"\left\{1, \{2\}\right\}"),
        (r"first \boxed{1} then \fbox{7}", "7"),
        (r"$\boxed 5$", "5"),
        (r"\boxed{}", None),
        (r"\boxed{unbalanced", None),
        ("no box here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_last_boxed_depth_cap():
    deep = r"\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}"
    assert last_boxed(deep) is None


@pytest.mark.parametrize(
    "text,expected",
    [
        (r"Thus $x = \boxed{2-2p}$.", "2-2p"),
        ("The answer is 42.", "42"),
        ("The answer is $\\frac{3}{4}$. Done", "\\frac{3}{4}"),
        ("Answer: 17", "17"),
        ("Janet makes 18 dollars.\n#### 18", "18"),
        (r"We get $x=3$ and so on $y = 4$", "y = 4"),
        ("after all that we have 1,000.99€", "1,000.99"),
        ("the probability is 2/3. <|im_start|>user", "2/3"),
        ("AZYUK2A", None),
        ("the increase is 100%.", "100\\%"),
        (r"$\boxed{7}$ \quad and \quad $\boxed{9}$", "7, 9"),
        (r"\boxed{1} no no no no no \boxed{2}", "2"),
        (r"\boxed{200} ... Final Answer: The final answer is $10,455$. I hope it is correct.", "10,455"),
        ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", "3"),
        ("$1$ and $2$ and $3$", "1, 2, 3"),
        ("", None),
        # sentence ends: not after an abbreviation followed by math, nor inside a multi-line matrix
        ("The answer is local min. $(0,0)$", "local min. $(0,0)$"),
        ("The answer is 45 min. So she waits.", "45 min"),
        ("The answer is $C$ is not invertible.", "$C$ is not invertible"),
        (
            "The answer is \\mathbf{y}=\\left[\\begin{array}{r}\n-1 \\\\\n1\n\\end{array}\\right] e^{t}.",
            "\\mathbf{y}=\\left[\\begin{array}{r}\n-1 \\\\\n1\n\\end{array}\\right] e^{t}",
        ),
    ],
)
def test_extract_default(text, expected):
    assert extract_answer(text) == expected


def test_strict_mode_only_boxed():
    assert extract_answer("The answer is 42.", mode="strict") is None
    assert extract_answer(r"so \boxed{42}", mode="strict") == "42"


def test_unknown_mode():
    with pytest.raises(ValueError):
        extract_answer("x", mode="lenient")


def test_long_completion_uses_tail():
    text = "blah " * 200_000 + r"\boxed{9}"
    assert extract_answer(text) == "9"
    # Only the tail is searched: a box 100k characters before the end is out of reach.
    assert extract_answer(r"\boxed{1}" + "x" * 100_000) is None


# --- the final answer: several boxes -------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,expected",
    [
        # a later box after prose is a new, final answer
        (r"so \boxed{3}. Wait, recheck: the answer is \boxed{5}.", "5"),
        (r"\boxed{3}. Wait, let me recheck. \boxed{5}", "5"),
        (r"\boxed{3}, so x is then \boxed{5}", "5"),
        (r"\boxed{3} or rather \boxed{5}", "5"),
        (r"\boxed{3}, no, \boxed{5}", "5"),
        (r"\boxed{3}: \boxed{5}", "5"),
        (r"\boxed{3}, after 2 more steps \boxed{5}", "5"),
        ("\\boxed{3}\nLet me redo this\n\\boxed{5}", "5"),
        ("\\boxed{3}\n\\boxed{5}", "5"),
        (r"$\boxed{3}$. $\boxed{5}$", "5"),
        (r"\boxed{3}, and after checking the answer is \boxed{5}", "5"),
        # boxes listed by "and" / commas / \quad stay one answer
        (r"\boxed{1} and \boxed{2}", "1, 2"),
        (r"\boxed{1}, \boxed{2}", "1, 2"),
        (r"\boxed{1} \boxed{2}", "1, 2"),
        (r"$\boxed{1}$, $\boxed{2}$", "1, 2"),
        ("\\boxed{1},\n\\boxed{2}", "1, 2"),
        (r"The roots are \boxed{1} and \boxed{2}.", "1, 2"),
        (r"$x_1 = \boxed{1}$ and $x_2 = \boxed{2}$", "1, 2"),
        (r"$x = \boxed{1}$ and $y = \boxed{2}$", "1, 2"),
        (r"the minimum is $\boxed{1}$ and the maximum is $\boxed{2}$", "1, 2"),
        (r"\[ \boxed{-2} \quad \text{and} \quad \boxed{1}. \]", "-2, 1"),
        (r"$$\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}$$", "(3, 3), (1, 1)"),
        (", ".join(rf"\boxed{{{i}}}" for i in range(10)), ", ".join(str(i) for i in range(10))),
        # box forms
        (r"\boxed{3}. Then \fbox{5}", "5"),
        (r"\boxed{3}. Recheck: $\boxed 5$", "5"),
        (r"\boxed{3}. So \boxed{\text{Devon}}", r"\text{Devon}"),
        (r"\boxed{3}. So \boxed{\frac{1}{\{2\}}}", r"\frac{1}{\{2\}}"),
        (r"\boxed{3}. So \boxed {\sqrt{2}}", r"\sqrt{2}"),
        (r"\boxed{5}. Put the answer in \boxed{}.", "5"),  # an empty box is a mention, not an answer
        (r"Final Answer: The final answer is $\boxed{5}$", "5"),
    ],
)
def test_final_box(text, expected):
    assert extract_answer(text) == expected
    assert extract_answer(text, mode="strict") == expected


@pytest.mark.parametrize(
    "text,default,strict",
    [
        # a "final answer" sentence after the box overrides it (strict mode reads boxes only)
        (r"\boxed{3}. Final Answer: The final answer is 5. I hope it is correct.", "5", "3"),
        (r"\boxed{3}. Final Answer: The final answer is", "3", "3"),  # an empty phrase is no override
        (r"\boxed{3}. Final Answer: The final answer is \frac{1}{2", None, "3"),  # unreadable: no answer
    ],
)
def test_final_answer_phrase_after_a_box(text, default, strict):
    assert extract_answer(text) == default
    assert extract_answer(text, mode="strict") == strict


# --- an unreadable final answer is no answer ------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        r"\boxed{3}. Hmm, actually it's \boxed{5",  # cut mid-box: not the earlier \boxed{3}
        r"\boxed{3}. So the final answer is \boxed{",
        r"\boxed{3}. So the final answer is \boxed",
        r"\boxed{3}. So the final answer is \boxed ",
        r"\boxed{3} then \boxed{\frac{1}{2}",
        r"The answer is 7. \boxed{\frac{1",  # nor the "answer is" phrase before it
        r"We get 7 apples. \boxed{\frac{1",  # nor the last number before it
        r"\boxed{3}. \fbox{5",
        r"\boxed{3}. \boxed{4. The final answer is 5.",  # the phrase is inside the unclosed box
        r"Final Answer: \boxed{5",
        r"\boxed{3}. \boxed{" + "{" * 200 + "5" + "}" * 201,  # nested deeper than MAX_BRACE_DEPTH
        ", ".join(rf"\boxed{{{i}}}" for i in range(MAX_JOINED_BOXES + 1)),  # too many to compare
        "The answer is $$\\frac{1}{2",  # math never closed
        "The answer is \\frac{1}{2",  # an unbalanced answer
        "The answer is \\begin{pmatrix} 1 & 2",
        "We get 7. Then $$x = \\frac{3}{4",  # a display span left open at the end
        "We get 7. Then \\[ x = 4",
    ],
)
def test_unreadable_final_answer_is_no_answer(text):
    assert extract_answer(text) is None
    assert extract_answer(text, mode="strict") is None


@pytest.mark.parametrize(
    "text,expected",
    [
        (r"\boxed{3}. \boxed{4 and later \boxed{5}", "5"),  # an unclosed box that is not the last one
        (r"\boxed{4 oops. Final: \boxed{5}.", "5"),
        (r"\boxed{3}. \boxed{", None),
        (r"\boxed{3}. \boxed{}", "3"),
    ],
)
def test_last_boxed_final_box(text, expected):
    assert last_boxed(text) == expected


# --- answers too large to compare ------------------------------------------------------------------------
def _matrix(n: int) -> str:
    rows = (" & ".join(str(i * n + j) for j in range(n)) for i in range(n))
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"


SMALL_MATRIX = _matrix(3)
MID_MATRIX = _matrix(30)  # 900 entries: over MAX_ANSWER_CHARS, inside the searched tail
BIG_MATRIX = _matrix(60)  # 3600 entries: longer than the searched tail itself
BIG_TUPLE = "(" + ", ".join(str(i) for i in range(5000)) + ")"
BIG_SUM = " + ".join(str(i) for i in range(1500))


@pytest.mark.parametrize(
    "text",
    [
        r"The answer is \boxed{" + MID_MATRIX + "}",
        r"The answer is \boxed{" + BIG_MATRIX + "}",
        r"\boxed{" + BIG_MATRIX + "}. So it has 3600 entries.",  # not "3600", not an entry
        r"\boxed " + "1" * 3000,
        "The answer is $$" + MID_MATRIX + "$$",
        "The answer is $$" + BIG_MATRIX + "$$",
        "We get \\[" + BIG_MATRIX + "\\]",
        "so we get $$" + MID_MATRIX + "$$.",
        "so we get " + MID_MATRIX,
        "We get " + BIG_MATRIX,
        "The answer is " + BIG_TUPLE,
        "We get " + BIG_TUPLE,
        "We get $" + BIG_TUPLE + "$.",
        "We get $" + BIG_SUM + "$",
        "The answer is " + BIG_SUM + ".",
        "Final Answer: " + BIG_SUM,
    ],
)
def test_too_large_answer_is_not_read_in_part(text):
    assert len(MID_MATRIX) > MAX_ANSWER_CHARS and len(BIG_MATRIX) > MAX_COMPLETION_CHARS
    assert extract_answer(text) is None
    assert extract_answer(text, mode="strict") is None
    assert last_boxed(text) is None


@pytest.mark.parametrize(
    "text,expected",
    [
        (r"\boxed{" + BIG_MATRIX + r"}. So \boxed{7}", "7"),  # a later box is the final answer
        (r"\boxed{" + BIG_MATRIX + r"}. Final Answer: The final answer is 7.", "7"),
        ("We get $$" + BIG_MATRIX + "$$ and so the sum is 5.", "5"),
        (r"The answer is \boxed{" + SMALL_MATRIX + "}", SMALL_MATRIX),  # judged whole, not cut
        ("The answer is $$" + SMALL_MATRIX + "$$", SMALL_MATRIX),
        ("We get $$" + SMALL_MATRIX + "$$", SMALL_MATRIX),
    ],
)
def test_answer_after_or_below_the_size_bound(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("before_tail,readable", [(50, True), (1000, True), (MAX_ANSWER_CHARS + 100, False)])
def test_box_cut_by_the_start_of_the_searched_tail(before_tail, readable):
    content = "a+" * ((before_tail + 60) // 2) + "1"
    box = r"\boxed{" + content + "}"
    text = "y " * 20_000 + box + "z" * (MAX_COMPLETION_CHARS - before_tail - 7)
    assert len(text) - MAX_COMPLETION_CHARS > text.index(r"\boxed")  # the box opens before the tail
    expected = content if readable else None
    assert extract_answer(text) == expected
    assert last_boxed(text) == expected


def test_numbers_after_a_cut_construct_are_not_its_entries():
    line = "$" + ", ".join(str(i) for i in range(6000)) + "$ are the values"
    assert extract_answer("intro\n" + line) is None
    assert extract_answer("intro\n" + line + ". It has 6000 entries.") == "6000"


# --- the last-number fallback never reads one entry of a list, tuple or matrix ---------------------------
@pytest.mark.parametrize(
    "text,expected",
    [
        ("the point is (1, 2, 3)", None),
        ("[3, 5]", None),
        ("40, 200", None),
        ("the probabilities are .998,.965,.729", None),
        (r"we get \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", None),
        ("In 2020, 5 people came.", "5"),
        ("it costs 1,000 dollars", "1,000"),
        ("After 3 days, 12 apples remain.", "12"),
        ("He paid $5.", "5"),  # an unpaired dollar is a price, not math
    ],
)
def test_last_number_fallback(text, expected):
    assert extract_answer(text) == expected


# --- currency: an escaped dollar is text, "{,}" a thousands separator ------------------------------------
@pytest.mark.parametrize(
    "text,expected",
    [
        (r"The answer is \$23{,}000.", r"\$23{,}000"),
        (r"The answer is $\$23{,}000$.", r"\$23{,}000"),
        (r"She earns \$23{,}000 per year.", "23{,}000"),  # not "000" after a math delimiter
        (r"She earns \$1{,}234.50 per year.", "1{,}234.50"),
        (r"She earns \$1{,}234{,}567 per year.", "1{,}234{,}567"),
        (r"so \$23,000 total", "23,000"),
        (r"so 23{,}000 total", "23{,}000"),
        (r"so 23,\!000 total", r"23,\!000"),
        (r"the total is 23\,000", r"23\,000"),
        (r"so it costs \$ 5", "5"),
        (r"The total is \$23{,}000 and then \$5.", "5"),
        (r"so $\$23{,}000$", r"\$23{,}000"),
        (r"\boxed{\$23{,}000}", r"\$23{,}000"),
        (r"A \$5 book and a \$7 pen: we spend \$12", "12"),  # escaped dollars never pair up as math
    ],
)
def test_currency(text, expected):
    assert extract_answer(text) == expected
