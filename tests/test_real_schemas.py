"""Every shipped sft, grpo, eval and levels recipe against the real schemas of the data it names.

``../shared/data/hub`` holds small files in the real schemas (real columns, nesting and splits; made-up
rows) of the Hub datasets the recipes name, and ``../shared/data`` the published benchmark files. With
``DART_TRL_DATA_MIRROR`` pointing at that folder, each Hub source a recipe names is loaded through the
project's own loader, and then the recipe goes through what a user runs first, ``dart-trl JOB RECIPE
--check``: the job's own validation, columns included. Published benchmark files are downloaded from a
local HTTP server that serves the shared copies at their pinned paths, so the download, the sha256 check
and the cache are the real ones. A recipe whose column names are not in the real schema fails here.
Sources that ``shared/`` does not hold are listed in ``NOT_IN_SHARED`` with the reason, and skipped
explicitly. (The ``generate --plan`` check of the dars recipes lives with the dars tests.)
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import importlib
import threading
from pathlib import Path

import pytest
import yaml
from benchmark_files import SHARED_COPIES
from conftest import REPO_ROOT, SHARED_DATA, placeholder_overrides

from dart_trl.cli import SUBCOMMANDS
from dart_trl.cli import main as cli_main
from dart_trl.config import parse_recipe
from dart_trl.config.checks import looks_local
from dart_trl.data import MIRROR_ENV, load_table, mirrored
from dart_trl.eval.benchmarks import BENCHMARKS, load_benchmark
from dart_trl.eval.sources import RAW_FILES_URL_ENV, PinnedFile

HUB = SHARED_DATA / "hub"
JOBS = {"sft": "sft", "grpo": "grpo", "eval": "eval", "levels": "levels"}
RECIPES = sorted(p for p in (REPO_ROOT / "recipes").glob("*.yaml") if p.stem.split("_")[0] in JOBS)
CPU_OVERRIDES = {"sft": ["--use_cpu", "true"], "grpo": ["--use_cpu", "true"]}
# Hub sources (id, split) that shared/ does not hold: why, and what the test uses instead (or nothing).
NOT_IN_SHARED = {
    ("a-m-team/AM-Math-Difficulty-RL", "train"): (
        "its column names could not be verified offline, so shared/ has no file for it",
        None,
    ),
    ("openai/gsm8k", "test"): ("not in hub/; ../gsm8k-test.jsonl is its real test file", "gsm8k-test.jsonl"),
    ("DigitalLearningGmbH/MATH-lighteval", "test"): (
        "hub/ has the train split only (same columns: see test_math_fields_exist_in_the_mirrored_split)",
        None,
    ),
}
# The real query-info table of the DART-Math pool: pass rates per query_id, as a query_info file has them.
QUERY_INFO = ("hkust-nlp/dart-math-pool-math-query-info", "train")
POOL = ("hkust-nlp/dart-math-pool-math", "train")


@dataclasses.dataclass
class Plan:
    """How a recipe is checked: overrides for `--check`, the Hub sources it reads (id, split, columns the
    recipe reads from it), and the sources left out with their reasons."""

    overrides: list[str] = dataclasses.field(default_factory=list)
    sources: list[tuple[str, str, list[str]]] = dataclasses.field(default_factory=list)
    left_out: list[str] = dataclasses.field(default_factory=list)
    skip: str | None = None


@pytest.fixture
def hub(monkeypatch):
    """``DART_TRL_DATA_MIRROR`` set to ``../shared/data/hub``; the test is skipped when it is absent."""
    if not HUB.is_dir():
        pytest.skip("../shared/data/hub is not present")
    monkeypatch.setenv(MIRROR_ENV, str(HUB))
    return HUB


@pytest.fixture
def raw_files(hub, tmp_path, monkeypatch):
    """A local HTTP server with the shared copies of the pinned benchmark files at their published paths."""
    copies = {b: f for b, f in SHARED_COPIES.items() if isinstance(BENCHMARKS[b].source, PinnedFile)}
    www = tmp_path / "www"
    for name, copy in copies.items():
        pinned = BENCHMARKS[name].source
        target = www / pinned.repo / pinned.commit / pinned.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((SHARED_DATA / copy).read_bytes())
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # downloads go to 127.0.0.1 only
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(RAW_FILES_URL_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    yield
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def is_hub_id(source) -> bool:
    return isinstance(source, str) and not looks_local(source) and source.count("/") == 1


def needs_local_model(job: str, name: str | None) -> bool:
    """Whether the job loads a model and the recipe's is unset or a local directory that is not here."""
    if job == "levels":
        return False
    return not name or (looks_local(name) and not (Path(name) / "config.json").is_file())


def hub_source(source: str, split: str, columns: list[str], plan: Plan) -> bool:
    """Add a Hub source to the plan if shared/ mirrors it; otherwise record why it is left out."""
    if mirrored(source, split) != source:
        plan.sources.append((source, split, [c for c in columns if c]))
        return True
    assert (source, split) in NOT_IN_SHARED, f"{source} ({split}) is neither in {HUB} nor in NOT_IN_SHARED"
    plan.left_out.append(f"{source} ({split}): {NOT_IN_SHARED[(source, split)][0]}")
    return False


def plan_sft(recipe, tmp_path) -> Plan:
    from dart_trl.sft.train import SFTScriptArguments

    script = recipe.get(SFTScriptArguments)
    plan = Plan()
    if not recipe.values.get("dataset_name"):
        return Plan(skip="names no data source (`dart-trl demo` fills it with data it makes)")
    if is_hub_id(script.dataset_name):
        columns = [script.query_column, script.response_column]
        if not hub_source(script.dataset_name, script.dataset_split, columns, plan):
            plan.skip = plan.left_out[-1]
    return plan


def plan_grpo(recipe, tmp_path) -> Plan:
    from dart_trl.grpo.train import StagedGRPOArguments, for_stage

    plan = Plan()
    for stage in recipe.get(StagedGRPOArguments).stages:
        args = for_stage(StagedGRPOArguments, recipe, stage)
        if not args.dataset:
            return Plan(skip="names no data source (`dart-trl demo` fills it with data it makes)")
        columns = [args.query_column, args.answer_column, args.level_column if stage.levels else None]
        if is_hub_id(args.dataset) and not hub_source(args.dataset, args.split, columns, plan):
            plan.skip = plan.left_out[-1]
    return plan


def plan_eval(recipe, tmp_path) -> Plan:
    from dart_trl.eval.evaluate import EvalArguments, resolve_benchmarks

    args = recipe.get(EvalArguments)
    if any(
        not isinstance(b, str) and str(b.data_files).startswith("benchmark-data/") for b in args.benchmarks
    ):
        return Plan(skip="reads benchmark-data/ (test_readme_commands.py fills it with the published copies)")
    runs = resolve_benchmarks(args)
    if not runs:
        return Plan(skip="names no data source (`dart-trl demo` passes its own benchmark)")
    plan, entries = Plan(), []
    for run in runs:
        b = run.benchmark
        if run.data_files or isinstance(b.source, PinnedFile):  # local files, or served by raw_files
            entries.append({"name": b.name, "data_files": run.data_files} if run.data_files else b.name)
        elif hub_source(b.source, b.split, b.required_fields, plan):
            entries.append(b.name)
        elif NOT_IN_SHARED[(b.source, b.split)][1]:
            entries.append(
                {"name": b.name, "data_files": str(SHARED_DATA / NOT_IN_SHARED[(b.source, b.split)][1])}
            )
    benchmarks = yaml.safe_dump(entries, default_flow_style=True, width=10_000).strip()
    plan.overrides = ["--benchmarks", benchmarks, "--cache_dir", str(tmp_path / "cache")]
    return plan


def plan_levels(recipe, tmp_path) -> Plan:
    from dart_trl.grpo.levels import MODELS, LevelsArguments

    args = recipe.get(LevelsArguments)
    plan = Plan()
    # The query_info files are outputs of `dart-trl generate` runs; the DART-Math pool's published
    # query-info table (query_id, pass_rate, ...) stands in for them, and that pool is the pool.
    hub_source(*QUERY_INFO, ["query_id", "pass_rate"], plan)
    query_info = tmp_path / "query_info.parquet"
    load_table(*QUERY_INFO).to_parquet(query_info)
    for model in MODELS:
        if getattr(args, f"{model}_query_info"):
            plan.overrides += [f"--{model}_query_info", str(query_info)]
    pool = args.pool or POOL[0]
    if is_hub_id(pool):
        hub_source(pool, args.pool_split, [args.query_id_column], plan)
    plan.overrides += ["--pool", pool, "--output_dir", str(tmp_path / "levels")]
    return plan


PLANNERS = {"sft": plan_sft, "grpo": plan_grpo, "eval": plan_eval, "levels": plan_levels}


def check(job: str, path: Path, overrides: list[str], capsys) -> tuple[int, str]:
    """``dart-trl JOB RECIPE --check OVERRIDES``, in this process; the exit code and stdout + stderr."""
    capsys.readouterr()
    code = cli_main([job, str(path), "--check", *CPU_OVERRIDES.get(job, []), *overrides])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_recipe_reads_real_schemas_and_passes_its_check(
    path, hub, raw_files, request, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(REPO_ROOT)  # recipes name local files relative to the repository root
    job = JOBS[path.stem.split("_")[0]]
    module = importlib.import_module(SUBCOMMANDS[job][0])
    placeholders = placeholder_overrides(module.JOB, path)
    recipe, _ = parse_recipe([str(path), *CPU_OVERRIDES.get(job, []), *placeholders], module.JOB)
    for key in placeholders[::2]:  # plan from the recipe as written
        recipe.values.pop(key.removeprefix("--"))
    plan = PLANNERS[job](recipe, tmp_path)
    if plan.skip:
        pytest.skip(f"{path.name}: {plan.skip}")
    for source, split, columns in plan.sources:  # the project's loader, on the real schema
        table = load_table(source, split=split)
        assert Path(mirrored(source, split)).parent == HUB and len(table) > 0
        missing = [c for c in columns if c not in table.column_names]
        assert not missing, f"{path.name} reads {missing} from {source}, which has {table.column_names}"
    if needs_local_model(job, yaml.safe_load(path.read_text()).get("model_name_or_path")):
        plan.overrides += ["--model_name_or_path", str(request.getfixturevalue("tiny_model"))]
    code, output = check(job, path, plan.overrides, capsys)
    assert code == 0, f"{path.name}: {output.strip().splitlines()[-1]} (left out: {plan.left_out})"
    assert f"{path} is valid" in output or f"{path.name} is valid" in output


def test_not_in_shared_lists_only_what_shared_lacks_and_recipes_name():
    if not HUB.is_dir():
        pytest.skip("../shared/data/hub is not present")
    named = "\n".join(p.read_text() for p in RECIPES) + "\n".join(
        b.source for b in BENCHMARKS.values() if isinstance(b.source, str)
    )
    for source, split in NOT_IN_SHARED:
        stem = f"{source.replace('/', '--')}--{split}"
        assert not list(HUB.glob(f"{stem}.*")), f"{stem} is in shared/ now: remove it from NOT_IN_SHARED"
        assert source in named, f"no recipe or benchmark names {source}"


def test_math_fields_exist_in_the_mirrored_split(hub):
    # MATH's test split is not mirrored; its train split has the same columns (hub/README.md).
    train = str(HUB / "DigitalLearningGmbH--MATH-lighteval--train.jsonl")
    loaded = load_benchmark(BENCHMARKS["math"], [train])
    assert loaded.items and all(item.gold for item in loaded.items)


BAD_COLUMNS = {
    "sft": (
        "sft_prop2diff.yaml",
        ["--query_column", "problem"],
        "missing column(s) ['problem']; columns found",
    ),
    "eval": (
        "eval.yaml",
        ["--benchmarks", "[{name: math500, answer_field: final_answer}]"],
        "benchmark 'math500': missing column(s) ['final_answer']",
    ),
    "levels": (
        "levels_from_pass_rates.yaml",
        ["--query_id_column", "id"],
        "has no column 'id' (query_id_column)",
    ),
    "grpo": (
        "grpo_tiny_cpu.yaml",
        ["--dataset", "HuggingFaceH4/MATH-500", "--split", "test", "--output_dir", "OUT"],
        "has no column 'query' (query_column); its columns are ['problem', 'solution', 'answer', 'subject', "
        "'level', 'unique_id']; set query_column",
    ),
}


@pytest.mark.parametrize("job", sorted(BAD_COLUMNS))
def test_a_column_the_real_schema_lacks_fails_the_check(job, hub, request, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    name, overrides, expected = BAD_COLUMNS[job]
    path = REPO_ROOT / "recipes" / name
    module = importlib.import_module(SUBCOMMANDS[job][0])
    placeholders = placeholder_overrides(module.JOB, path)
    recipe, _ = parse_recipe([str(path), *CPU_OVERRIDES.get(job, []), *placeholders], module.JOB)
    base = PLANNERS[job](recipe, tmp_path).overrides if job == "levels" else []
    overrides = [str(tmp_path / "out") if o == "OUT" else o for o in overrides]
    if needs_local_model(job, yaml.safe_load(path.read_text()).get("model_name_or_path")):
        base += ["--model_name_or_path", str(request.getfixturevalue("tiny_model"))]
    code, output = check(job, path, [*base, *overrides], capsys)
    assert code == 2 and expected in output, output
    # ... and with the right column named, the same recipe passes (grpo: MATH-500's query column is 'problem').
    if job == "grpo":
        code, output = check(job, path, [*base, *overrides, "--query_column", "problem"], capsys)
        assert code == 0, output
