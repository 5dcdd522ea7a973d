"""Pools in the shapes Hub datasets have (nested columns, dicts stored as text, many rows per query) and
known difficulty from pool_info tables: joins by id and by query text, coverage, and its errors."""

from __future__ import annotations

import json
import os
import sys

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, run_job

from dart_trl.config import RecipeError
from dart_trl.dars.config import DarsArguments
from dart_trl.dars.difficulty import PoolInfoSpec, info_specs, join_pool_info
from dart_trl.dars.fields import MISSING, FieldPath, parse_mapping
from dart_trl.dars.finalize import finalize
from dart_trl.dars.pools import PoolSpec, Query, load_pools
from dart_trl.dars.store import SampleStore
from dart_trl.tracking.offline import find_runs, read_run


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_nested_values_as_dicts_json_text_or_python_literals(tmp_path):
    assert parse_mapping({"level": 3}) == {"level": 3}
    assert parse_mapping('{"level": 3, "ok": true}') == {"level": 3, "ok": True}
    assert parse_mapping("{'level': 3, 'tags': ('a',)}") == {"level": 3, "tags": ("a",)}
    assert parse_mapping("level 3") is None and parse_mapping(3) is None
    marker = tmp_path / "ran"
    attack = f"{{'level': __import__('pathlib').Path({str(marker)!r}).touch()}}"
    assert parse_mapping(attack) is None and not marker.exists()  # parsed as a literal, never evaluated
    path = FieldPath.of("query_metadata.level", ["query", "query_metadata"])
    assert path.read({"query_metadata": "{'level': 4}"}) == 4
    assert path.read({"query_metadata": {"n_step": 2}}) is MISSING
    assert FieldPath.of("a.b", ["a.b"]) == FieldPath("a.b")  # a column named with a dot is that column
    reason = path.missing_reason([{"query_metadata": {"n_step": 2}}, {"query_metadata": "{'n_step': 5}"}])
    assert reason == "'query_metadata' has no key 'level'; keys found: ['n_step']"


def dart_pool_rows():
    """Rows of a DART pool: several responses per query, metadata as a dict literal string."""
    rows = []
    for qid, query, gold, level, copies in [("q1", "1+1?", "2", 1, 3), ("q2", "2+2?", "4", 5, 2)]:
        for k in range(copies):
            meta = repr({"level": level})
            rows.append(
                {"query_id": qid, "query": query, "gt_ans": gold, "response": f"r{k}", "query_metadata": meta}
            )
    return rows


def dart_pool(tmp_path, **overrides) -> PoolSpec:
    source = write_jsonl(tmp_path / "pool.jsonl", dart_pool_rows())
    spec = {"source": source, "name": "math", "distinct": True, "id": "query_id", "query": "query"}
    return PoolSpec(**{**spec, "answer": "gt_ans", "level": "query_metadata.level", **overrides})


def test_a_pool_of_responses_is_read_as_its_distinct_queries(tmp_path):
    queries, reports = load_pools([dart_pool(tmp_path)], "recipe.yaml")
    assert [(q.query_id, q.query, q.gold, q.level) for q in queries] == [
        ("q1", "1+1?", "2", 1),
        ("q2", "2+2?", "4", 5),
    ]
    assert reports[0].line() == "pool math: 2 queries kept of 5 rows (2 distinct queries)"
    with pytest.raises(
        RecipeError, match=r"recipe.yaml: pools\[0\] .*duplicate query id 'q1'.*'distinct: true'"
    ):
        load_pools([dart_pool(tmp_path, distinct=False)], "recipe.yaml")
    with pytest.raises(
        RecipeError, match=r"key 'level': 'query_metadata' has no key 'levl'; keys found: \['level'\]"
    ):
        load_pools([dart_pool(tmp_path, level="query_metadata.levl")], "recipe.yaml")
    filtered, _ = load_pools([dart_pool(tmp_path, filters={"level": 5})])
    assert [q.query_id for q in filtered] == ["q2"]


def info_table(tmp_path, name, rows):
    return write_jsonl(tmp_path / f"{name}.jsonl", rows)


def info_row(qid, rate=None, n=64, c=None):
    row = {
        "query_id": qid,
        "tot_n_samples": n,
        "tot_n_corrects": c if c is not None else round((rate or 0) * n),
    }
    if rate is not None:
        row["pass_rate"] = rate
    return row


QUERIES = [
    Query("q1", "What  is 1+1?", "2", 1, None, "math"),
    Query("q2", "What is 2+2?", "4", 5, None, "math"),
    Query("gsm8k/0", "Tom has 3 apples.", "3", 0, "GSM8K", "gsm8k"),
]


def test_join_by_id_over_several_tables_with_coverage(tmp_path):
    math = info_table(tmp_path, "math-info", [info_row("q1", 0.75), info_row("q2", 0.1), info_row("q9", 0.5)])
    gsm8k = info_table(
        tmp_path, "gsm8k-info", [{k: v for k, v in info_row("gsm8k/0", c=16).items() if k != "pass_rate"}]
    )
    known = join_pool_info(QUERIES, info_specs([math, gsm8k]), "r.yaml")
    assert known.pass_rates == {
        "q1": 0.75,
        "q2": 0.1,
        "gsm8k/0": 0.25,
    }  # the last from tot_n_corrects / tot_n_samples
    assert known.sources == {"q1": math, "q2": math, "gsm8k/0": gsm8k}
    coverage = known.coverage.as_dict()
    assert (coverage["matched"], coverage["pool_only"], coverage["info_only"]) == (3, 0, 1)
    assert coverage["first_info_only"] == ["q9"] and coverage["known_share"] == 1.0
    assert [s["matched"] for s in coverage["sources"]] == [2, 1]
    assert "1 pool_info rows match no pool query (first: q9)" in known.coverage.warning()


def test_join_on_query_text_through_a_table_of_texts(tmp_path):
    info = info_table(tmp_path, "info", [info_row("d1", 0.5), info_row("d2", 0.25), info_row("d3", 0.0, c=0)])
    texts = info_table(
        tmp_path,
        "texts",
        [{"query_id": "d1", "query": "What is 1+1?\n"}, {"query_id": "d1", "query": "What is 1+1?"}]
        + [{"query_id": "d2", "query": "What is ２+2?"}],  # full-width digit: equal after NFKC
    )
    spec = PoolInfoSpec(source=info, join="query", queries=texts)
    known = join_pool_info(QUERIES, [spec], "r.yaml")
    assert known.pass_rates == {"q1": 0.5, "q2": 0.25}  # whitespace and Unicode width do not matter
    coverage = known.coverage
    assert coverage.pool_only == ["gsm8k/0"] and coverage.info_only == ["d3"]  # d3 has no text
    assert "1 pool queries have no pass rate (estimated online; first: gsm8k/0)" in coverage.warning()


def test_a_table_matching_no_query_stops_with_one_line(tmp_path):
    info = info_table(tmp_path, "info", [info_row("d1", 0.5)])
    with pytest.raises(RecipeError) as err:
        join_pool_info(QUERIES, info_specs(info), "r.yaml")
    message = str(err.value)
    assert message.startswith(f"r.yaml: pool_info[0] ({info}): none of its 1 rows matches a pool query id")
    assert "'q1'" in message and "'d1'" in message and "\n" not in message
    with pytest.raises(
        RecipeError, match=r"needs a 'pass_rate' column \(or tot_n_samples \+ tot_n_corrects\)"
    ):
        join_pool_info(QUERIES, info_specs(info_table(tmp_path, "bad", [{"query_id": "q1"}])), "r.yaml")
    with pytest.raises(ValueError, match="'queries' gives query texts for 'join: query'"):
        PoolInfoSpec(source=info, queries=info)


def test_query_info_keeps_known_pass_rates_and_the_coverage(tmp_path):
    info = info_table(tmp_path, "info", [info_row("q1", 0.75), info_row("q9", 0.5)])
    known = join_pool_info(QUERIES, info_specs(info), "r.yaml")
    store = SampleStore(tmp_path / "out")
    store.write_queries(QUERIES)
    finalize(store, QUERIES, DarsArguments(strategy="uniform", k_u=1, max_trials=1), known)
    frame = pd.read_parquet(tmp_path / "out" / "query_info.parquet").set_index("query_id")
    assert frame.loc["q1", "known_pass_rate"] == 0.75 and frame.loc["q1", "pool_info"] == info
    assert frame.loc[["q2", "gsm8k/0"], "known_pass_rate"].isna().all()
    coverage = frame.attrs["pool_info_coverage"]
    assert (coverage["matched"], coverage["pool_only"], coverage["info_only"]) == (1, 2, 1)
    assert coverage["first_pool_only"] == ["q2", "gsm8k/0"] and coverage["first_info_only"] == ["q9"]


def test_generate_samples_with_known_pass_rates_and_logs_the_coverage(tmp_path, wandb_dir):
    """The whole job, with a scripted sampler from tests/toy_plugins.py: partial coverage is printed and
    warned about, known pass rates set the targets, and the coverage reaches W&B and query_info."""
    pool = write_jsonl(
        tmp_path / "pool.jsonl",
        [{"id": f"q{i}", "q": f"What is {i} + {i + 2}?", "a": str(2 * i + 2)} for i in range(4)],
    )
    info = info_table(tmp_path, "info", [info_row("q0", 0.0, c=0), info_row("q1", 0.5), info_row("zz", 0.5)])
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    recipe = tmp_path / "dars.yaml"
    values = {
        "model_name_or_path": str(model),
        "strategy": "prop2diff",
        "k_p": 4,
        "max_trials": 16,
        "probe_samples": 4,
        "backend": "toy_plugins.ArithmeticSampler",
        "prompt_template": "raw",
        "pools": [{"source": pool, "name": "toy", "id": "id", "query": "q", "answer": "a"}],
        "pool_info": [info],
        "output_dir": str(tmp_path / "out"),
        "report_to": "wandb",
    }
    recipe.write_text(yaml.safe_dump(values))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    done = run_job([sys.executable, "-m", "dart_trl.cli", "generate", str(recipe)], timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "pool_info coverage: 2 of 4 queries matched (50.0% with known difficulty), 2 pool-only, 1 info-only"
        in (done.stdout)
    )
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning: partial pool_info")]
    assert len(warning) == 1 and "first: q2, q3" in warning[0] and "first: zz" in warning[0]
    frame = pd.read_parquet(tmp_path / "out" / "query_info.parquet").set_index("query_id")
    assert frame.loc["q0", "known_pass_rate"] == 0.0 and frame.loc["q0", "target"] == 4  # hardest: k_p
    assert frame.loc["q1", "target"] == 2  # fail rate 0.5 of the hardest's 1: k_p / 2
    assert frame["pool_info"].fillna("-").tolist() == [info, info, "-", "-"]
    assert frame.attrs["pool_info_coverage"]["pool_only"] == 2
    assert yaml.safe_load((tmp_path / "out" / "recipe.resolved.yaml").read_text())["stop"] == []  # raw: none
    run = read_run(find_runs(wandb_dir)[-1])
    coverage = run.config["pool_info_coverage"]
    assert (coverage["matched"], coverage["pool_only"], coverage["info_only"]) == (2, 2, 1)
    assert (
        coverage["sources"][0]["source"] == info and run.summary["dars/questions_with_known_pass_rate"] == 2
    )
