"""Loading tables: a local mirror of Hub datasets, and reading columns without loading rows."""

from __future__ import annotations

import json

import pytest

from dart_trl.config import RecipeError
from dart_trl.data import MIRROR_ENV, load_table, peek_columns


def test_mirror_folder_stands_in_for_the_hub(shared_data, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(shared_data / "hub"))
    table = load_table("hkust-nlp/gsm8k-fix", split="train")
    assert {"query", "gt_ans", "query_metadata"} <= set(table.column_names)
    assert peek_columns("hkust-nlp/gsm8k-fix") == table.column_names
    assert "n_step" in table[0]["query_metadata"]
    with pytest.raises(RecipeError, match="could not load dataset 'nobody/nothing'"):
        peek_columns("nobody/nothing")  # not mirrored, and the Hub is offline in tests


def test_peek_reads_schema_or_first_record_and_rejects_empty_files(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"q": ["a"], "r": ["b"]}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.jsonl").write_text(json.dumps({"q": "a", "r": "b"}) + "\n")
    assert peek_columns(str(tmp_path / "t.parquet")) == ["q", "r"]
    assert peek_columns(str(tmp_path / "t.jsonl")) == ["q", "r"]
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(RecipeError, match="the dataset is empty"):
        peek_columns(str(tmp_path / "empty.jsonl"))
    datasets.Dataset.from_dict({"q": [], "r": []}).to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(RecipeError, match="the dataset is empty"):
        peek_columns(str(tmp_path / "empty.parquet"))
