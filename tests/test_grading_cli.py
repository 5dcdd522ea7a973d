"""``dart-trl grade`` (dart_trl.grading.cli): JSONL and Parquet input, summary line, bad input."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dart_trl.grading.cli import main

ROWS = [
    {"id": 0, "completion": r"so \boxed{4}", "gold": "4", "finish": "stop"},
    {"id": 1, "completion": r"so \boxed{5}", "gold": "4", "finish": "stop"},
    {"id": 2, "completion": r"so \boxed{4}", "gold": "4", "finish": "length"},
    {"id": 3, "completion": "no idea", "gold": "4", "finish": "stop"},
]
ARGS = ["--completion-field", "completion", "--gold-field", "gold", "--finish-reason-field", "finish"]


def _check_output(out, capsys):
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [0, 1, 2, 3]
    assert [r["reason"] for r in records] == ["ok", "wrong", "truncated", "no_answer"]
    assert [r["correct"] for r in records] == [True, False, False, False]
    assert records[0]["answer"] == "4"
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "n=4" in summary and "correct=1" in summary and "accuracy=0.2500" in summary
    assert '"truncated": 1' in summary


def test_jsonl(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "out.jsonl"
    assert main([str(src), *ARGS, "--out", str(out)]) == 0
    _check_output(out, capsys)


def test_parquet(tmp_path, capsys):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), src)
    out = tmp_path / "out.jsonl"
    assert main([str(src), *ARGS, "--out", str(out)]) == 0
    _check_output(out, capsys)


def test_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main([str(missing), *ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.jsonl" in err


def test_missing_field_reported_before_grading(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [ROWS[0], {"completion": r"\boxed{1}", "finish": "stop"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert main([str(src), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "row 1" in err and "'gold'" in err and "in.jsonl" in err
    assert not out.exists()


def test_bad_mode_is_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "x.jsonl"), *ARGS, "--mode", "lenient"])
    assert exc.value.code == 2
