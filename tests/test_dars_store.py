"""DARS output directory: append-only shards, torn lines, resume rounds, exact targets, merge, pools."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dart_trl.config import RecipeError
from dart_trl.dars.config import DarsArguments
from dart_trl.dars.finalize import finalize
from dart_trl.dars.merge import merge_shards
from dart_trl.dars.pools import PoolSpec, Query, load_pools, select_shard
from dart_trl.dars.store import SampleStore, derive_seed
from dart_trl.data import load_table

QUERIES = [Query("a", "1+1?", "2", 1, "Algebra", "toy"), Query("b", "2+2?", "4", 5, "Geometry", "toy")]


def record(qid, rnd, i, response, correct):
    return {
        "query_id": qid,
        "round": rnd,
        "sample": f"0.{i}",
        "response": response,
        "answer": None,
        "correct": correct,
        "finish_reason": "stop",
        "num_tokens": 3,
    }


def test_targets_are_exact_and_duplicates_dropped(tmp_path):
    store = SampleStore(tmp_path)
    store.write_queries(QUERIES)
    store.append([record("a", 1, i, f"resp {i % 4}", True) for i in range(10)])  # 4 distinct correct
    store.append([record("b", 1, i, f"b {i}", i < 2) for i in range(6)])  # 2 distinct correct of 6
    store.close()
    out = finalize(store, QUERIES, DarsArguments(strategy="uniform", k_u=3, max_trials=100))
    data = load_table(str(tmp_path))  # load_table picks the dataset/ subdirectory up
    assert {"query", "response", "query_id", "level", "domain"} <= set(data.column_names)
    per_query = pd.Series(data["query_id"]).value_counts().to_dict()
    assert per_query == {"a": 3, "b": 2}  # min(target, distinct correct): not k + 1, no duplicates
    assert len(set(zip(data["query_id"], data["response"], strict=True))) == len(data)
    info = pd.read_parquet(tmp_path / "query_info.parquet").set_index("query_id")
    assert list(info.columns[:7]) == [
        "level",
        "domain",
        "pool",
        "n_samples",
        "n_corrects",
        "n_unique_corrects",
        "n_responses",
    ]
    assert info.loc["a", "n_samples"] == 10 and info.loc["a", "n_corrects"] == 10
    assert info.loc["a", "stop_reason"] == "target_met" and info.loc["a", "target"] == 3
    assert info.loc["b", "pass_rate"] == pytest.approx(2 / 6) and info.loc["b", "stop_reason"] == "max_rounds"
    assert out.num_responses == 5


def test_torn_line_is_skipped_and_never_appended_to(tmp_path):
    store = SampleStore(tmp_path)
    store.append([record("a", 1, 0, "x", True), record("a", 1, 1, "y", False)])
    store.close()
    shard = store.shard_files()[0]
    with shard.open("ab") as f:  # what a kill -9 in the middle of a write leaves behind
        f.write(json.dumps(record("a", 1, 2, "z", True))[:25].encode())
    stats, digests, last_round = store.tally(["a"])
    assert (stats["a"].n_samples, stats["a"].n_corrects, last_round) == (2, 1, 1)
    resumed = SampleStore(tmp_path)
    assert resumed.next_round(last_round) == 2  # rounds move on, so seeds never repeat
    resumed.append([record("a", 2, 0, "w", True)])
    resumed.close()
    assert len(resumed.shard_files()) == 2  # a new run writes a new file
    stats, _, last_round = resumed.tally(["a"])
    assert (stats["a"].n_samples, stats["a"].n_unique_corrects, last_round) == (3, 2, 2)


@pytest.mark.parametrize("content", [b"", b'{"round": 3, "strat', b"\xff\xfe", b"[1, 2]"])
def test_empty_or_corrupt_state_is_rebuilt_from_the_shards(tmp_path, capsys, content):
    store = SampleStore(tmp_path)
    store.append([record("a", 1, i, f"r{i}", True) for i in range(3)])
    store.append([record("b", 4, i, f"s{i}", False) for i in range(2)])
    store.close()
    (tmp_path / "state.json").write_bytes(content)
    state = SampleStore(tmp_path).read_state()
    assert (state["round"], state["raw_samples"]) == (4, 5)
    (line,) = capsys.readouterr().err.splitlines()
    assert "state.json was empty or corrupt; rebuilt it from the raw shards" in line
    assert json.loads((tmp_path / "state.json").read_text())["round"] == 4  # rewritten, readable again
    assert SampleStore(tmp_path).next_round(0) == 5  # the rerun starts past every round on disk
    assert capsys.readouterr().err == ""


def test_seeds_differ_by_query_round_and_part():
    seeds = {derive_seed(42, q, r, p) for q in ("a", "b") for r in (1, 2) for p in (0, 1)}
    assert len(seeds) == 8
    assert derive_seed(42, "a", 1, 0) == derive_seed(42, "a", 1, 0)


def test_shards_split_deterministically_and_merge(tmp_path):
    queries = [Query(f"q{i}", "x", "1", None, None, "p") for i in range(40)]
    parts = [select_shard(queries, (i, 3)) for i in range(3)]
    assert sorted(q.query_id for part in parts for q in part) == sorted(q.query_id for q in queries)
    assert select_shard(list(reversed(queries)), (1, 3)) == list(reversed(parts[1]))
    dirs = []
    for i, part in enumerate(parts):
        shard = SampleStore(tmp_path / f"shard-{i:03d}-of-003")
        shard.write_queries(part)
        shard.append([record(q.query_id, 1, 0, "r", True) for q in part])
        shard.close()
        dirs.append(shard.root)
    target = SampleStore(tmp_path)
    merged = merge_shards(target, dirs)
    assert len(merged) == 40
    out = finalize(target, merged, DarsArguments(strategy="uniform", k_u=1, max_trials=1))
    assert out.num_responses == 40
    with pytest.raises(RecipeError, match="is in both"):
        merge_shards(SampleStore(tmp_path / "again"), [dirs[0], dirs[0]])


def test_pools_map_columns_skip_rows_without_gold_and_filter(tmp_path):
    path = tmp_path / "pool.jsonl"
    rows = [
        {
            "id": "m1",
            "problem": "p1",
            "solution": "so \\boxed{\\frac{1}{2}}",
            "level": "Level 5",
            "type": "Algebra",
        },
        {"id": "m2", "problem": "p2", "solution": "no box here", "level": "Level 2", "type": "Algebra"},
        {"id": "m3", "problem": "p3", "solution": "\\boxed{3}", "level": "Level 1", "type": "Geometry"},
        {"id": "m4", "problem": "p4", "solution": "\\boxed{4}", "level": "Level ?", "type": "Algebra"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pool = {
        "source": str(path),
        "name": "math",
        "id": "id",
        "query": "problem",
        "solution": "solution",
        "level": "level",
        "domain": "type",
        "filters": {"domain": "Algebra"},
    }
    queries, reports = load_pools([PoolSpec(**pool)])
    assert [(q.query_id, q.gold, q.level) for q in queries] == [("m1", "\\frac{1}{2}", 5), ("m4", "4", None)]
    assert reports[0].skipped_no_gold == ["m2"] and reports[0].filtered == 1
    assert "first: m2" in reports[0].line()
    with pytest.raises(RecipeError, match=r"missing column\(s\) \['question'\]"):
        load_pools([PoolSpec(**{**pool, "query": "question"})])


def test_pools_read_real_benchmark_formats(shared_data):
    gsm = {
        "source": str(shared_data / "gsm8k-test.jsonl"),
        "name": "gsm8k",
        "query": "question",
        "answer": "answer",
        "gold_format": "gsm8k",
        "values": {"domain": "GSM8K", "level": 0},
    }
    minerva = {
        "source": str(shared_data / "minerva-math-test.jsonl"),
        "name": "minerva",
        "query": "problem",
        "solution": "solution",
    }
    queries, reports = load_pools([PoolSpec(**gsm), PoolSpec(**minerva)])
    assert reports[0].kept == 1319 and reports[1].kept + len(reports[1].skipped_no_gold) == 272
    first = queries[0]
    assert first.query_id == "gsm8k/0" and first.domain == "GSM8K" and first.level == 0
    assert first.gold.replace(".", "").isdigit()  # the text after '####', commas removed
