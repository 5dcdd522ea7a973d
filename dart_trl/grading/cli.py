"""``dart-trl grade``: grade a JSONL or Parquet file of completions and write verdicts.

    dart-trl grade FILE.jsonl|FILE.parquet --completion-field F --gold-field G
        [--finish-reason-field R] [--out OUT.jsonl] [--mode default|strict]

Every row is checked before grading starts; a missing file or field is a one-line error and
exit code 2. Verdicts are the input row plus ``answer``, ``correct`` and ``reason``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from dart_trl.grading.grader import Grader


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
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
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
    p = argparse.ArgumentParser(prog="dart-trl grade", description="Grade completions against gold answers.")
    p.add_argument("file", type=Path, help="input .jsonl or .parquet file")
    p.add_argument("--completion-field", required=True, help="field holding the model completion")
    p.add_argument("--gold-field", required=True, help="field holding the gold answer")
    p.add_argument("--finish-reason-field", help="field holding the finish reason ('length' = truncated)")
    p.add_argument("--out", type=Path, help="output JSONL of verdicts (default: FILE.graded.jsonl)")
    p.add_argument("--mode", choices=("default", "strict"), default="default", help="answer extraction mode")
    p.add_argument("--timeout", type=float, default=5.0, help="per-item deadline of symbolic checks (s)")
    return p


def _check_fields(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    for i, row in enumerate(rows):
        for field in fields:
            if field not in row:
                raise InputError(f"{path}: row {i}: missing field {field!r}")


def main(argv: list[str] | None = None) -> int:
    """Run ``dart-trl grade``; returns the exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    fields = [args.completion_field, args.gold_field]
    if args.finish_reason_field:
        fields.append(args.finish_reason_field)
    try:
        rows = _read_rows(args.file)
        _check_fields(args.file, rows, fields)
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
            record = {**row, "answer": v.answer, "correct": v.correct, "reason": v.reason}
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    n, correct = len(verdicts), sum(v.correct for v in verdicts)
    reasons = dict(sorted(Counter(v.reason for v in verdicts).items()))
    accuracy = correct / n if n else 0.0
    print(f"n={n} correct={correct} accuracy={accuracy:.4f} reasons={json.dumps(reasons)} out={out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
