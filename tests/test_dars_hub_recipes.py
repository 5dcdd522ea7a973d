"""Every shipped DARS recipe on the real Hub schemas: ``dart-trl generate RECIPE --plan``.

``DART_TRL_DATA_MIRROR`` maps each Hub id a recipe names to its file in ``../shared/data/hub`` (made-up
rows in the real columns, nesting and splits), so the project's own loading code reads them. A recipe
naming a column, or a nested key, that the real dataset lacks fails here; so does a pool_info table that
joins to nothing. Expected numbers are counted from the files independently of the project's code.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, run_job

from dart_trl.data import MIRROR_ENV
from dart_trl.templates import turn_markers

RECIPES = sorted((REPO_ROOT / "recipes").glob("dars_*.yaml"))
# Recipes that name real data (dars_tiny_cpu is filled in by the demo and the tests).
HUB_RECIPES = [p for p in RECIPES if yaml.safe_load(p.read_text()).get("pools")]
MATH_INFO = "hkust-nlp/dart-math-pool-math-query-info"


@pytest.fixture
def hub(shared_data) -> Path:
    path = shared_data / "hub"
    if not path.is_dir():
        pytest.skip("../shared/data/hub is not present")
    return path


def hub_rows(hub: Path, source: str, split: str = "train") -> list[dict]:
    path = hub / f"{source.replace('/', '--')}--{split}.jsonl"
    assert path.is_file(), f"no real schema for {source} ({split}) in {hub}"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def field(row: dict, path: str):
    """The value at a dotted path; a nested dict may be stored as a Python literal string."""
    value = row
    for key in path.split("."):
        if isinstance(value, str):
            value = ast.literal_eval(value)
        value = value.get(key) if isinstance(value, dict) else None
    return value


def normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def expected_pool(hub: Path, pool: dict, index: int) -> tuple[int, list[tuple[str, str]]]:
    """(rows in the file, [(query id, query text)] a user should get) for one pool entry."""
    rows = hub_rows(hub, pool["source"], pool.get("split", "train"))
    name = pool.get("name") or pool["source"].rsplit("/", 1)[-1]
    queries, seen = [], set()
    for i, row in enumerate(rows):
        qid = str(field(row, pool["id"])) if pool.get("id") else f"{name}/{i}"
        if pool.get("distinct"):
            if qid in seen:
                continue
            seen.add(qid)
        gold = field(row, pool.get("answer") or pool["solution"])
        if pool.get("solution") and "\\boxed" not in str(gold):
            continue
        if gold not in (None, "") and field(row, pool["query"]):
            queries.append((qid, field(row, pool["query"])))
    return len(rows), queries


def expected_coverage(hub: Path, pool_info, queries: list[tuple[str, str]]) -> dict[str, int]:
    """matched / pool-only / info-only, joining each table by id or by normalised text as it declares."""
    specs = [pool_info] if isinstance(pool_info, str) else pool_info
    known, info_only = set(), 0
    for spec in specs:
        spec = {"source": spec} if isinstance(spec, str) else spec
        rows = [r for r in hub_rows(hub, spec["source"]) if r["tot_n_samples"]]
        if spec.get("join", "id") == "id":
            keys = {str(r["query_id"]): r for r in rows}
            pool_keys = {qid: qid for qid, _ in queries}
        else:
            texts = {}
            for r in hub_rows(hub, spec["queries"]):
                texts.setdefault(str(r["query_id"]), normal(r["query"]))
            keys = {texts[str(r["query_id"])]: r for r in rows if str(r["query_id"]) in texts}
            info_only += sum(str(r["query_id"]) not in texts for r in rows)
            pool_keys = {qid: normal(text) for qid, text in queries}
        matched = {key for key in pool_keys.values() if key in keys}
        assert matched, f"{spec['source']} matches no query of the pools"
        known |= {qid for qid, key in pool_keys.items() if key in keys}
        info_only += len(set(keys) - matched)
    return {"matched": len(known), "pool_only": len(queries) - len(known), "info_only": info_only}


def plan(recipe: Path | str, mirror: Path, *overrides: str):
    return run_job(
        [sys.executable, "-m", "dart_trl.cli", "generate", str(recipe), "--plan", *overrides],
        timeout=300,
        env={**os.environ, MIRROR_ENV: str(mirror)},
    )


def check_plan(out: str, values: dict, hub: Path) -> None:
    """The --plan output shows the queries, known-difficulty share, coverage and stops a user should get."""
    queries = []
    for i, pool in enumerate(values["pools"]):
        rows, expected = expected_pool(hub, pool, i)
        name = pool.get("name") or pool["source"].rsplit("/", 1)[-1]
        assert f"pool {name}: {len(expected)} queries kept of {rows} rows" in out
        queries += expected
    info = values.get("pool_info")
    coverage = expected_coverage(hub, info, queries) if info else {"matched": 0}
    share = coverage["matched"] / len(queries)
    header = f"plan: strategy {values['strategy']}, {len(queries)} queries, {share:.0%} with known difficulty"
    assert header in out
    if info:
        assert (
            f"pool_info coverage: {coverage['matched']} of {len(queries)} queries matched ({share:.1%} with "
            f"known difficulty), {coverage['pool_only']} pool-only, {coverage['info_only']} info-only"
        ) in out
    else:
        assert "pool_info" not in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert int(total.split()[1]) == len(queries) and int(total.split()[2].replace(",", "")) > 0
    stops = values.get("stop")
    expected_stops = turn_markers([values["prompt_template"]]) if stops is None else stops
    assert f"stop strings: {expected_stops}" in out


@pytest.mark.parametrize("recipe", HUB_RECIPES, ids=[p.stem for p in HUB_RECIPES])
def test_shipped_dars_recipe_plans_on_the_real_schemas(recipe, hub):
    result = plan(recipe, hub)
    assert result.returncode == 0, result.stderr[-3000:]
    check_plan(result.stdout, yaml.safe_load(recipe.read_text()), hub)


def test_published_pass_rates_recipe_knows_every_querys_difficulty(hub):
    recipe = REPO_ROOT / "recipes" / "dars_prop2diff_published.yaml"
    result = plan(recipe, hub)
    assert result.returncode == 0, result.stderr[-3000:]
    share = re.search(r"queries, (\d+)% with known difficulty", result.stdout)
    assert share and int(share[1]) == 100
    # The MATH query-info table has rows for queries the pool lacks: named in a one-line warning.
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning: partial pool_info")]
    assert len(warning) == 1 and "match no pool query (first: " in warning[0]


def test_query_metadata_stored_as_a_dict_literal_string(hub, tmp_path):
    """Some DART datasets store query_metadata as text holding a Python dict: the plan is the same."""
    mirror = tmp_path / "hub"
    shutil.copytree(hub, mirror)
    pool_file = mirror / "hkust-nlp--dart-math-pool-math--train.jsonl"
    rows = hub_rows(hub, "hkust-nlp/dart-math-pool-math")
    pool_file.write_text(
        "".join(json.dumps({**r, "query_metadata": repr(r["query_metadata"])}) + "\n" for r in rows)
    )
    recipe = REPO_ROOT / "recipes" / "dars_prop2diff_published.yaml"
    as_dicts, as_text = plan(recipe, hub), plan(recipe, mirror)
    assert as_dicts.returncode == 0 and as_text.returncode == 0, as_text.stderr[-3000:]
    assert as_text.stdout == as_dicts.stdout
    for level in {field(r, "query_metadata.level") for r in rows}:  # read from the text, per level
        assert re.search(rf"^\s+{level}\s+\d+\s", as_text.stdout, re.M), as_text.stdout
    assert not re.search(r"^\s+-\s", as_text.stdout, re.M)  # no query without a level


def test_published_pass_rates_join_math_lighteval_on_the_query_text(hub):
    """MATH-lighteval's ids (math/0, ...) are not the DART ids: the text join goes through the DART pool."""
    recipe = REPO_ROOT / "recipes" / "dars_prop2diff.yaml"
    pool_info = [
        {"source": MATH_INFO, "join": "query", "queries": "hkust-nlp/dart-math-pool-math"},
        {
            "source": "hkust-nlp/dart-math-pool-gsm8k-query-info",
            "join": "query",
            "queries": "hkust-nlp/dart-math-pool-gsm8k",
        },
    ]
    result = plan(recipe, hub, "--pool_info", json.dumps(pool_info))
    assert result.returncode == 0, result.stderr[-3000:]
    values = {**yaml.safe_load(recipe.read_text()), "pool_info": pool_info}
    check_plan(result.stdout, values, hub)


def test_pool_info_whose_ids_match_no_pool_query_stops_before_sampling(hub, tmp_path):
    recipe = REPO_ROOT / "recipes" / "dars_prop2diff.yaml"
    result = plan(recipe, hub, "--pool_info", MATH_INFO, "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(recipe.name) in lines[0] and f"pool_info[0] ({MATH_INFO})" in lines[0]
    assert "none of its" in lines[0] and "'math/0'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_column_the_real_schema_lacks_fails(hub):
    recipe = REPO_ROOT / "recipes" / "dars_uniform.yaml"
    old = yaml.safe_load(recipe.read_text())["pools"]
    gsm8k = {**old[1], "answer": "ref_ans"}  # the paper code's internal name, not a column
    result = plan(recipe, hub, "--pools", json.dumps([old[0], gsm8k]))
    assert result.returncode == 2 and "missing column(s) ['ref_ans']" in result.stderr
    nested = {**old[1], "level": "query_metadata.level"}  # GSM8K-fix holds n_step, not level
    del nested["values"]
    result = plan(recipe, hub, "--pools", json.dumps([old[0], nested]))
    assert result.returncode == 2
    assert "key 'level': 'query_metadata' has no key 'level'; keys found: ['n_step']" in result.stderr
