"""``dart-trl grade``: grade a JSONL or Parquet file of completions and write verdicts.

    dart-trl grade FILE.jsonl|FILE.parquet --completion-field F --gold-field G
        [--finish-reason-field R] [--out OUT.jsonl] [--mode default|strict] [--prefix P]

Every row is checked before grading starts; a missing or empty file, a line that is not UTF-8 JSON,
a missing field, or an input field that an output field would overwrite is a one-line error and exit
code 2. Verdicts are the input row, unchanged, plus ``pred`` (the extracted answer), ``correct`` and
``reason`` (each name with ``--prefix`` in front).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from dart_trl.config import Job
from dart_trl.grading.grader import Grader

OUTPUT_FIELDS = ("pred", "correct", "reason")  # the extracted answer, the verdict, why


class InputError(Exception):
    """Bad input: reported as one line, exit code 2."""


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:
            raise InputError(f"{path}: cannot read Parquet: {exc}") from exc
    rows = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: line {lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise InputError(f"{path}: line {lineno}: not a JSON object")
            rows.append(row)
    return rows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dart-trl grade",
        description="Grade completions against gold answers. Each output row is the input row, unchanged, plus "
        "'pred' (the extracted answer, null if none), 'correct' (true/false) and 'reason' (ok, wrong, no_answer, "
        "truncated, timeout, unparseable_gold); an input that already has one of these fields needs --prefix.",
    )
    p.add_argument("file", type=Path, help="input .jsonl or .parquet file")
    p.add_argument("--completion-field", required=True, help="field holding the model completion")
    p.add_argument("--gold-field", required=True, help="field holding the gold answer")
    p.add_argument("--finish-reason-field", help="field holding the finish reason ('length' = truncated)")
    p.add_argument("--out", type=Path, help="output JSONL of verdicts (default: FILE.graded.jsonl)")
    p.add_argument("--mode", choices=("default", "strict"), default="default", help="answer extraction mode")
    p.add_argument("--timeout", type=float, default=5.0, help="per-item deadline of symbolic checks (s)")
    p.add_argument(
        "--prefix", default="", help="put in front of the output field names, e.g. 'graded_' -> graded_pred"
    )
    return p


def _check_fields(path: Path, rows: list[dict[str, Any]], fields: list[str], outputs: list[str]) -> None:
    if not rows:
        raise InputError(f"{path}: no rows to grade (the file is empty)")
    for i, row in enumerate(rows):
        for field in fields:
            if field not in row:
                raise InputError(f"{path}: row {i}: missing field {field!r}")
        clash = [name for name in outputs if name in row]
        if clash:
            raise InputError(
                f"{path}: row {i}: input field {clash[0]!r} would be overwritten by the output; "
                "pass --prefix (e.g. --prefix graded_) to name the output fields apart"
            )


def main(argv: list[str] | None = None) -> int:
    """Run ``dart-trl grade``; returns the exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    fields = [args.completion_field, args.gold_field]
    if args.finish_reason_field:
        fields.append(args.finish_reason_field)
    pred, correct, reason = outputs = [args.prefix + name for name in OUTPUT_FIELDS]
    try:
        rows = _read_rows(args.file)
        _check_fields(args.file, rows, fields, outputs)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    items = [
        {
            "completion": str(r[args.completion_field] or ""),
            "gold": r[args.gold_field],
            "finish_reason": r.get(args.finish_reason_field) if args.finish_reason_field else None,
        }
        for r in rows
    ]
    with Grader(mode=args.mode, timeout=args.timeout) as grader:
        verdicts = grader.grade_batch(items)
    out = args.out or args.file.with_suffix(".graded.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for row, v in zip(rows, verdicts, strict=True):
            record = {**row, pred: v.answer, correct: v.correct, reason: v.reason}
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    n, n_correct = len(verdicts), sum(v.correct for v in verdicts)
    reasons = dict(sorted(Counter(v.reason for v in verdicts).items()))
    print(f"n={n} correct={n_correct} accuracy={n_correct / n:.4f} reasons={json.dumps(reasons)} out={out}")
    return 0


JOB = Job("grade", main)

if __name__ == "__main__":
    raise SystemExit(main())
