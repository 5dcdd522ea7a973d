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
    assert records[0]["pred"] == "4"
    assert [{k: r[k] for k in ROWS[0]} for r in records] == ROWS  # the input fields, unchanged
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


def test_gold_field_named_answer_is_kept(tmp_path, capsys):
    # The gold lives in `answer`: the extracted answer goes to `pred` and the gold stays as it was.
    rows = [{"completion": r"so \boxed{5}", "answer": "4"}, {"completion": r"\boxed{4}", "answer": "4"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert (
        main([str(src), "--completion-field", "completion", "--gold-field", "answer", "--out", str(out)]) == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["answer"] for r in records] == ["4", "4"]
    assert [(r["pred"], r["correct"], r["reason"]) for r in records] == [
        ("5", False, "wrong"),
        ("4", True, "ok"),
    ]


def test_input_field_an_output_would_overwrite_needs_a_prefix(tmp_path, capsys):
    src = tmp_path / "graded.jsonl"
    rows = [{**r, "correct": True} for r in ROWS]  # e.g. a file graded before
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert main([str(src), *ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'correct'" in err and "--prefix" in err and "graded.jsonl" in err
    assert not out.exists()
    assert main([str(src), *ARGS, "--out", str(out), "--prefix", "regraded_"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in records] == [True] * 4  # the input's own field, unchanged
    assert [r["regraded_correct"] for r in records] == [True, False, False, False]
    assert records[0]["regraded_pred"] == "4" and records[1]["regraded_reason"] == "wrong"


def test_non_utf8_file_names_file_and_line(tmp_path, capsys):
    src = tmp_path / "latin1.jsonl"
    src.write_bytes(
        json.dumps(ROWS[0]).encode() + b"\n" + '{"completion": "caf\u00e9", "gold": "4"}\n'.encode("latin-1")
    )
    assert main([str(src), *ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "latin1.jsonl" in err and "line 2" in err and "UTF-8" in err


@pytest.mark.parametrize("content", ["", "\n\n"], ids=["empty", "blank_lines"])
def test_empty_file_is_an_error(tmp_path, capsys, content):
    src = tmp_path / "empty.jsonl"
    src.write_text(content)
    assert main([str(src), *ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "empty.jsonl" in err and "no rows" in err
    assert not (tmp_path / "empty.graded.jsonl").exists()


def test_help_documents_the_output_fields(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(f"'{name}'" in out for name in ("pred", "correct", "reason")) and "--prefix" in out
