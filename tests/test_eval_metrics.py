"""The eval metrics on hand-built records with mixed verdicts: accuracy, pass@n, maj@n and the votes."""

from __future__ import annotations

import pytest

from dart_trl.eval.evaluate import assign_votes, benchmark_metrics, majority_correct
from dart_trl.grading import Grader
from dart_trl.grading.equivalence import Options


def record(index, sample, answer, correct, reason=None, vote="unset"):
    r = {
        "index": index,
        "sample": sample,
        "answer": answer,
        "correct": correct,
        "reason": reason or ("ok" if correct else "wrong" if answer is not None else "no_answer"),
    }
    if vote != "unset":
        r["vote"] = vote
    return r


def test_accuracy_is_the_mean_per_question_share_and_pass_any_correct():
    # question 0: 2 of 4 correct; question 1: 0 of 4; question 2: 4 of 4
    verdicts = {0: [1, 0, 1, 0], 1: [0, 0, 0, 0], 2: [1, 1, 1, 1]}
    records = [
        record(
            i, k, "1" if c else f"w{k}", bool(c), vote=k if not c else next(j for j, x in enumerate(v) if x)
        )
        for i, v in verdicts.items()
        for k, c in enumerate(v)
    ]
    metrics = benchmark_metrics(records, n=4)
    assert metrics["accuracy"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert metrics["pass@4"] == pytest.approx(2 / 3)
    assert metrics["correct"] == 6 and metrics["total"] == 3 and metrics["samples"] == 12
    assert metrics["reasons"] == {"wrong": 6, "ok": 6}
    # question 0: the correct answer (2 votes) ties with nothing larger: w1 and w3 are one vote each
    assert metrics["maj@4"] == pytest.approx(2 / 3)


def test_greedy_has_no_pass_or_majority_and_no_question_gives_none():
    records = [record(0, 0, "3", True, vote=0), record(1, 0, None, False, vote=None)]
    metrics = benchmark_metrics(records, n=1)
    assert metrics["accuracy"] == 0.5 and "pass@1" not in metrics and "maj@1" not in metrics
    assert benchmark_metrics([], n=4)["accuracy"] is None


def test_majority_counts_votes_not_texts():
    # three correct answers in three forms (one vote) beat two identical wrong ones
    rows = [
        record(0, 0, "\\frac{12}{2}", True, vote=0),
        record(0, 1, "7", False, vote=1),
        record(0, 2, "6.0", True, vote=0),
        record(0, 3, "7", False, vote=1),
        record(0, 4, "6", True, vote=0),
    ]
    assert majority_correct(rows)
    rows[4] = record(0, 4, "7", False, vote=1)
    assert not majority_correct(rows)


def test_a_tie_goes_to_the_answer_given_first_and_unanswered_samples_do_not_vote():
    wrong_first = [record(0, 0, "7", False, vote=0), record(0, 1, "6", True, vote=1)]
    assert not majority_correct(wrong_first)
    correct_first = [record(0, 0, "6", True, vote=0), record(0, 1, "7", False, vote=1)]
    assert majority_correct(correct_first)
    no_answers = [record(0, 0, None, False, vote=None), record(0, 1, None, False, vote=None)]
    assert not majority_correct(no_answers)
    one_voice = [record(0, 0, None, False, vote=None), record(0, 1, "6", True, vote=1)]
    assert majority_correct(one_voice)


def test_votes_group_equivalent_answers_with_the_grader():
    rows = [
        record(0, 0, "\\frac{12}{2}", True),
        record(0, 1, "7", False),
        record(0, 2, "6.0", True),
        record(0, 3, "\\frac{14}{2}", False),
        record(0, 4, "8", False),
        record(0, 5, "7.0", False, reason="truncated"),
        record(0, 6, None, False),
    ]
    with Grader() as grader:
        assign_votes(rows, lambda a, b: grader.equivalent(a, b, Options()))
    assert [r["vote"] for r in rows] == [0, 1, 0, 1, 4, None, None]
    assert majority_correct(rows)  # 2 correct vs 2 x 7: a tie, won by sample 0's answer, the correct one
    rows[0], rows[1] = {**rows[1], "sample": 0}, {**rows[0], "sample": 1}
    with Grader() as grader:
        assign_votes(rows, lambda a, b: grader.equivalent(a, b, Options()))
    assert not majority_correct(rows)  # the same votes, the wrong answer given first


def test_identical_wrong_answers_are_one_vote_even_when_the_grader_compares_nothing():
    # under answer_type bool a number is not an answer the grader can compare: equal text is still one vote
    rows = [record(0, 0, "-5.5", False), record(0, 1, "-5.5", False), record(0, 2, "True", True)]
    assign_votes(rows, lambda a, b: False)
    assert [r["vote"] for r in rows] == [0, 0, 2]
    assert not majority_correct(rows)
