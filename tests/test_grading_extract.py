"""Answer extraction rules of dart_trl.grading.extract."""

import pytest

from dart_trl.grading import extract_answer, last_boxed


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
