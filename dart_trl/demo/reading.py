"""The paragraph the demo ends with: what its numbers show, written from the numbers themselves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def more_or_fewer(a: float, b: float, noun: str) -> str:
    """``a`` compared with ``b`` in words: 'more NOUN than', 'fewer NOUN than' or 'as many NOUN as'."""
    return f"more {noun} than" if a > b else f"fewer {noun} than" if a < b else f"as many {noun} as"


def points(a: float, b: float) -> str:
    """The accuracy difference ``a - b`` (0-1 scale) in signed percentage points."""
    return f"{100 * (a - b):+.0f} points"


def _dars_sentences(per_level: pd.DataFrame) -> list[str]:
    if per_level.empty:
        return []
    hardest = int(per_level["level"].max())
    top = per_level[per_level["level"] == hardest].set_index("strategy")
    totals = per_level.groupby("strategy", sort=False)[["responses", "raw_samples"]].sum()
    sizes = ", ".join(f"{s} {int(r.responses)} responses from {int(r.raw_samples)} raw samples"
                      for s, r in totals.iterrows())  # fmt: skip
    per_query = ", ".join(f"{s} {r.responses_per_query:.2f}" for s, r in top.iterrows())
    empty = ", ".join(f"{s} {int(r.queries_without_response)}" for s, r in top.iterrows())
    first = int(per_level["level"].min())
    trend = ", ".join(
        f"{s}'s from {g.iloc[0]:.2f} at level {first} to {g.iloc[-1]:.2f} at level {hardest}"
        for s, g in per_level.sort_values("level").groupby("strategy", sort=False)["responses_per_query"]
    )
    sentences = [
        f"DARS with the same teacher gave {sizes}.",
        f"Responses per query go, in Figure 1, {trend}.",
        f"On the {int(top['queries'].iloc[0])} level-{hardest} queries the datasets hold {per_query} responses "
        f"per query, and leave {empty} of them without any response.",
    ]
    if {"vrt", "prop2diff"} <= set(top.index):
        p, v = top.loc["prop2diff"], top.loc["vrt"]
        sentences.append(
            f"So Prop2Diff gives the hardest level "
            f"{more_or_fewer(p.responses_per_query, v.responses_per_query, 'responses per query')} VRT does, "
            f"for {int(p.raw_samples)} raw samples there against VRT's {int(v.raw_samples)}."
        )
    return sentences


def _student_sentences(accuracy: pd.DataFrame, student_rows: pd.DataFrame, questions: int) -> list[str]:
    levels = [c for c in accuracy.columns if c.startswith("level")]
    if not {"student-vrt", "student-prop2diff"} <= set(accuracy.index):
        return []
    vrt, p2d = accuracy.loc["student-vrt"], accuracy.loc["student-prop2diff"]
    rows = student_rows.reindex(levels).fillna(0).astype(int)
    per_level = "; ".join(
        f"{lv}: Prop2Diff {100 * p2d[lv]:.0f}% vs VRT {100 * vrt[lv]:.0f}% ({points(p2d[lv], vrt[lv])})"
        for lv in levels
    )
    split = ", ".join(f"{lv} {rows.loc[lv, 'vrt']} / {rows.loc[lv, 'prop2diff']}" for lv in levels)
    more_rows = (rows["prop2diff"] - rows["vrt"]).astype(float)
    higher = (p2d[levels] - vrt[levels]).astype(float)
    differ = more_rows != 0
    agree = int(((more_rows * higher) > 0).sum())
    ties = int(((higher == 0) & differ).sum())
    text = [
        f"Trained on {int(rows['vrt'].sum())} rows each (per level, VRT / Prop2Diff: {split}), the two "
        f"students scored on the held-out questions {per_level}; each level has {questions} questions, so "
        f"one question is {100 / questions:.0f} points and small differences are within noise.",
        f"Of the {int(differ.sum())} levels where one student had more rows, that student scored higher "
        f"at {agree}" + (f" ({ties} tied)." if ties else "."),
    ]
    if "teacher" in accuracy.index:
        teacher = ", ".join(f"{lv} {100 * accuracy.loc['teacher', lv]:.0f}%" for lv in levels)
        text.append(f"The teacher, for reference, scored {teacher}.")
    return text


def _grpo_sentences(accuracy: pd.DataFrame, rewards: list[dict]) -> list[str]:
    text = []
    if rewards:
        stages = "; ".join(
            f"{r['stage']}: {r['first']} over its first {r['window']} steps, {r['last']} over its last {r['window']}"
            for r in rewards
            if r["first"] is not None
        )
        text.append(f"GRPO from the Prop2Diff student, training accuracy reward per stage: {stages}.")
    rl, base = "student-prop2diff-grpo", "student-prop2diff"
    if {rl, base} <= set(accuracy.index):
        levels = [c for c in accuracy.columns if c.startswith("level")]
        change = ", ".join(
            f"{lv} {100 * accuracy.loc[rl, lv]:.0f}% ({points(accuracy.loc[rl, lv], accuracy.loc[base, lv])})"
            for lv in levels
        )
        text.append(f"After GRPO the model scored {change} against the Prop2Diff student it started from.")
    return text


def reading(
    per_level: pd.DataFrame,
    student_rows: pd.DataFrame,
    accuracy: pd.DataFrame,
    rewards: list[dict],
    questions_per_level: int,
    paths: dict[str, Path],
) -> str:
    """One paragraph on what the run shows, then where each artifact is.

    ``per_level`` is :func:`dart_trl.demo.summary.per_level_table` of the DARS runs, ``student_rows``
    :func:`dart_trl.demo.summary.rows_per_level` of the students' data, ``accuracy`` the accuracy per
    model and level, ``rewards`` :func:`dart_trl.demo.summary.stage_rewards`.
    """
    sentences = [
        *_dars_sentences(per_level),
        *_student_sentences(accuracy, student_rows, questions_per_level),
        *_grpo_sentences(accuracy, rewards),
    ]
    where = "\n".join(f"- {name}: {path}" for name, path in paths.items())
    return " ".join(sentences) + "\n\nWhere everything is:\n" + where
