"""Every command block of the README runs as written from a fresh clone, and the walk-through's steps chain.

Each ```bash block runs under bash in an empty directory holding only the clone's `recipes/` and `launch/`,
with the commands that need a GPU node or an account replaced by recorders: `dart-trl` (its arguments are
recorded), `make` (`make -n`: the target exists), `sbatch` (`bash -n` on the script), `hf` and `wandb`
(`--help` of the same subcommand). The recorded `dart-trl` calls are then run in order, each as it can run
here: `--plan`, `--check` or `--help` as written, a real run as its `--check`, `compare` as `--help`. After a
run's check, a stand-in of what it writes (a dataset, a model directory) is put at the output directory the
run's recipe resolves to, so the next step's check fails unless it reads exactly that directory.
Hub datasets come from the real schemas in ../shared/data (made-up rows), benchmark files from their
published copies there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from benchmark_files import SHARED_COPIES
from conftest import REPO_ROOT

from dart_trl import cli
from dart_trl.config import parse_recipe
from dart_trl.data import GENERATED_DATASET_DIR
from dart_trl.eval.benchmarks import BENCHMARKS
from dart_trl.eval.sources import PinnedFile

README = (REPO_ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```bash\n(.*?)^```", README, re.S | re.M)
SEP = "\x1f"
# bash stand-ins for what needs a GPU node, a cluster or an account; every other command runs for real.
PRELUDE = f"""
set -euo pipefail
# one write per call: the README starts shards in the background, and two writes per call interleave
record() {{ local line; line=$(printf '%s{SEP}' "$@"); printf '%s\\n' "$line" >> "$CALLS"; }}
dart-trl() {{ record dart-trl "$@"; }}
make() {{ record make "$@"; command make -n -C "$REPO" "$@" > /dev/null; }}
sbatch() {{
  record sbatch "$@"
  local arg; for arg in "$@"; do case $arg in *.sh) bash -n "$arg";; esac; done
}}
hf() {{ record hf "$@"; command hf "$@" --help > /dev/null; }}
wandb() {{ record wandb "$@"; command wandb "$@" --help > /dev/null; }}
source() {{ record source "$@"; [ "$1" = .venv/bin/activate ]; }}
"""
# The published copies of the pinned benchmark files in ../shared/data.
PINNED_COPIES = {b: f for b, f in SHARED_COPIES.items() if isinstance(BENCHMARKS[b].source, PinnedFile)}
CPU = ["--use_cpu", "true"]  # the recipes are written for GPUs (bf16)
# AM-Math-Difficulty-RL is not in ../shared/data/hub: a stand-in with the columns grpo_staged.yaml maps
# (query, answer, level); its real columns are unverified (the README says so).
AM_ROWS = [{"query": f"What is {i} + {i}?", "answer": str(2 * i), "level": 1 + i % 3} for i in range(9)]


def test_readme_has_the_walk_through_blocks():
    joined = "\n".join(BLOCKS)
    for fragment in ("make demo", "--plan", "--shard $i/8", "--merge", "dart-trl sft", "dart-trl eval",
                     "dart-trl grpo", "vllm_mode colocate", "grpo_vllm_server.sh", "dart-trl compare"):  # fmt: skip
        assert fragment in joined, fragment


@pytest.fixture
def fresh_clone(tmp_path, shared_data, tiny_model, monkeypatch):
    """An empty working directory with the clone's recipes and launch scripts, offline, and the data mirrors."""
    work = tmp_path / "clone"
    work.mkdir()
    for name in ("recipes", "launch"):
        (work / name).symlink_to(REPO_ROOT / name)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for path in (shared_data / "hub").glob("*--*"):
        (mirror / path.name).symlink_to(path)
    (mirror / "openai--gsm8k--test.jsonl").symlink_to(shared_data / "gsm8k-test.jsonl")
    # MATH's test split is not in shared/; its train split has the same columns.
    (mirror / "DigitalLearningGmbH--MATH-lighteval--test.jsonl").symlink_to(
        shared_data / "hub" / "DigitalLearningGmbH--MATH-lighteval--train.jsonl"
    )
    pd.DataFrame(AM_ROWS).to_json(
        mirror / "a-m-team--AM-Math-Difficulty-RL--train.jsonl", orient="records", lines=True
    )
    cache = tmp_path / "cache"
    for name, copy in PINNED_COPIES.items():
        source = BENCHMARKS[name].source
        assert isinstance(source, PinnedFile)
        target = source.cache_path(cache)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / copy, target)
    monkeypatch.chdir(work)
    for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "DART_TRL_DATA_MIRROR": str(mirror),
                       "DART_TRL_CACHE": str(tmp_path / "dart-trl-cache"), "WANDB_MODE": "offline"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    return work, cache


def recorded_calls(work, block: str) -> list[list[str]]:
    """Run one README block with the recorders; the calls it made, in order."""
    calls = work.parent / "calls"
    calls.write_text("")
    path = os.pathsep.join(
        [os.path.dirname(sys.executable), os.environ.get("PATH", "")]
    )  # hf, wandb of this venv
    env = dict(os.environ, CALLS=str(calls), REPO=str(REPO_ROOT), PATH=path)
    done = subprocess.run(
        ["bash", "-c", PRELUDE + block], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"README block failed:\n{block}\n{done.stderr[-3000:]}"
    return [line.split(SEP)[:-1] for line in calls.read_text().splitlines()]


def as_checked_here(args: list[str], cache) -> list[str]:
    """The command line that checks a README `dart-trl` call on this machine (see the module docstring)."""
    job, rest = args[0], args[1:]
    if job in {"compare", "demo", "grade"} or {"-h", "--help"} & set(rest):
        return [job, *rest, "--help"]
    extra = [] if "--plan" in rest or "--check" in rest else ["--check"]
    if job in {"sft", "grpo"}:
        extra += CPU
    if job == "grpo":
        extra += ["--attn_implementation", "sdpa"]  # flash-attn is not installed here (README: the check)
    if job == "eval":
        extra += ["--cache_dir", str(cache)]
    return [job, *rest, *extra]


def run_dart_trl(argv: list[str], capsys) -> tuple[int, str]:
    """``dart-trl ARGV`` in this process: its exit code and output."""
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # --help
        code = stop.code or 0
    out = capsys.readouterr()
    return code, out.out + out.err


def put_stand_in(args: list[str], tiny_model) -> None:
    """After a real run's check: what the run writes, at the output directory its recipe resolves to."""
    job, rest = args[0], args[1:]
    if job not in {"generate", "sft", "grpo"} or {"--plan", "--check", "--shard"} & set(rest):
        return
    module = __import__(cli.SUBCOMMANDS[job][0], fromlist=["JOB"])
    cpu = CPU if job in {"sft", "grpo"} else []  # TRL's configs are built as the recipe is parsed
    recipe, _ = parse_recipe([*rest, *cpu], module.JOB)
    out = recipe.values["output_dir"]
    if job == "generate":
        dataset = os.path.join(out, GENERATED_DATASET_DIR)
        os.makedirs(dataset, exist_ok=True)
        rows = [{"query": "What is 1 + 1?", "response": "1 + 1 = 2. The answer is $\\boxed{2}$."}]
        pd.DataFrame(rows).to_parquet(os.path.join(dataset, "train.parquet"))
    elif job == "sft":
        shutil.copytree(tiny_model, out, dirs_exist_ok=True)
    else:
        shutil.copytree(
            tiny_model, os.path.join(out, recipe.values["stages"][-1].name, "final"), dirs_exist_ok=True
        )


def test_every_readme_command_runs_from_a_fresh_clone(fresh_clone, tiny_model, capsys):
    work, cache = fresh_clone
    checked = []
    for block in BLOCKS:
        for call in recorded_calls(work, block):
            if call[0] == "sbatch":  # the Slurm script checks `dart-trl grpo RECIPE ARGS --check` first
                script = next(i for i, a in enumerate(call) if a.endswith(".sh"))
                assert call[script].endswith("grpo_vllm_server.sh"), call
                call = ["dart-trl", "grpo", *call[script + 1 :]]
            if call[0] != "dart-trl":
                continue
            argv = as_checked_here(call[1:], cache)
            if (
                argv not in checked
            ):  # a run is checked as its --check, which the README may have run before it
                code, output = run_dart_trl(argv, capsys)
                assert code == 0, (
                    f"README: dart-trl {' '.join(call[1:])}\nchecked as: {' '.join(argv)}\n{output[-3000:]}"
                )
                checked.append(argv)
            put_stand_in(call[1:], tiny_model)
    jobs = [argv[0] for argv in checked]
    assert {"generate", "sft", "eval", "grpo", "compare"} <= set(jobs), jobs
    # The chain: every step's output exists where the next one read it.
    for path in ("outputs/dars-prop2diff-published/dataset/train.parquet", "outputs/sft-llama3-8b-prop2diff/config.json",
                 "outputs/grpo-llama3-8b-prop2diff/level3/final/config.json"):  # fmt: skip
        assert (work / path).is_file(), path


def test_eval_local_reads_its_benchmark_data_folder(fresh_clone, shared_data, tiny_model, capsys):
    work, _ = fresh_clone
    recipe = yaml.safe_load((REPO_ROOT / "recipes" / "eval_local.yaml").read_text())
    for entry in recipe["benchmarks"]:
        assert entry["data_files"].startswith("benchmark-data/"), entry
        (work / "benchmark-data").mkdir(exist_ok=True)
        (work / entry["data_files"]).symlink_to(shared_data / SHARED_COPIES[entry["name"]])
    argv = ["eval", "recipes/eval_local.yaml", "--model_name_or_path", str(tiny_model), "--check"]
    code, output = run_dart_trl(argv, capsys)
    assert code == 0, output
    assert "differ from the pinned" not in output  # the published files, byte for byte
