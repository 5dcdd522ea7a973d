"""``dart-trl doctor``: run the whole pipeline on a tiny local model on this node, and say what works.

It builds a tiny model (no network), then runs each check of :mod:`dart_trl.doctor.checks` as a real
``dart-trl`` job under a deadline: ``generate``, SFT through each launch config that applies, two GRPO
stages, ``eval``. It prints a table of check, device, seconds and result (pass, FAIL with a one-line
reason, or skipped with why), and exits 1 when a check fails. A check past its deadline is stopped with
everything it started; nothing outlives the doctor.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dart_trl.config import Job, RecipeError, parse_options, run_guarded
from dart_trl.doctor.checks import Check, Skipped, plan
from dart_trl.doctor.node import Node, detect_node
from dart_trl.doctor.workspace import Workspace
from dart_trl.processes import Finished, package_env, run_bounded, watched

REASON_CHARS = 160
# The line that names an error: ours (`dart-trl JOB: ...`), or Python's last traceback line, possibly
# prefixed by torchrun's `[rankN]:`. accelerate's own `CalledProcessError` only says a rank failed.
ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?(?:dart-trl [\w-]+: |[\w.]*(?:Error|Exception|Interrupt)\b)")


@dataclass
class DoctorArguments:
    """Options of ``dart-trl doctor``."""

    quick: bool = field(
        default=False,
        metadata={"help": "Single-process SFT launch only (no DDP, ZeRO or FSDP): what CI runs."},
    )
    deadline: float = field(
        default=300.0,
        metadata={
            "help": "Seconds each check may take; past it, the check and everything it started are "
            "stopped and it fails."
        },
    )
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "An empty or new directory for the tiny model, each check's outputs and logs "
            "(default: a temporary one, removed when every check passes)."
        },
    )

    def __post_init__(self):
        if self.deadline <= 0:
            raise ValueError(f"deadline must be positive, got {self.deadline}")


@dataclass
class Result:
    """How a check ended: ``pass``, ``FAIL`` or ``skipped``, with a one-line reason."""

    name: str
    device: str
    status: str
    reason: str = ""
    seconds: float | None = None


def error_line(text: str) -> str | None:
    """The last line of ``text`` that names an error, or None."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if ERROR_LINE.match(line) and "CalledProcessError" not in line:
            return line
    return None


def one_line(text: str) -> str:
    """``text`` cut to :data:`REASON_CHARS` characters."""
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def outcome(check: Check, done: Finished, deadline: float) -> Result:
    """The result of a check from how its command ended and what it left in its output directory."""
    seconds = done.seconds
    if done.timed_out:
        return Result(check.name, check.device, "FAIL", f"no result within its {deadline:.0f} s deadline: stopped", seconds)  # fmt: skip
    if done.returncode != 0:
        line = error_line(done.stderr) or error_line(done.stdout) or "no error message"
        return Result(
            check.name, check.device, "FAIL", one_line(f"exit code {done.returncode}: {line}"), seconds
        )
    if done.leftovers:
        names = ", ".join(done.leftovers)
        return Result(check.name, check.device, "FAIL", one_line(f"processes outlived it: {names}"), seconds)
    problem = check.verify(check.out)
    if problem:
        return Result(check.name, check.device, "FAIL", one_line(problem), seconds)
    return Result(check.name, check.device, "pass", "", seconds)


def check_env(node: Node, work: Workspace) -> dict[str, str]:
    """The checks' environment: offline (hub and W&B, runs in the workspace); on CPU, vLLM set up as the
    demo sets it (a small KV cache, the engine in the job's process)."""
    env = package_env()
    env.update(
        HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(work.root), TOKENIZERS_PARALLELISM="false",
    )  # fmt: skip
    if not node.gpus:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    return env


def run_check(check: Check, env: dict[str, str], work: Workspace, deadline: float) -> Result:
    """Run one check under its deadline; its output goes to the workspace's log of it."""
    done = run_bounded(check.command, deadline, dump_seconds=10.0, env={**env, **check.env})
    work.logs.mkdir(parents=True, exist_ok=True)
    work.log(check.name).write_text(f"$ {' '.join(check.command)}\n{done.stdout}\n--- stderr\n{done.stderr}")
    return outcome(check, done, deadline)


def table(results: list[Result]) -> str:
    """The results as a Markdown table: check, device, seconds, result."""
    lines = ["| check | device | seconds | result |", "|---|---|---:|---|"]
    for r in results:
        seconds = "" if r.seconds is None else f"{r.seconds:.0f}"
        result = r.status if not r.reason else f"{r.status}: {r.reason}"
        lines.append(f"| {r.name} | {r.device} | {seconds} | {result.replace('|', '/')} |")
    return "\n".join(lines)


def workspace_root(output_dir: str | None) -> tuple[Path, bool]:
    """The workspace directory and whether the doctor made it (a temporary one)."""
    if output_dir is None:
        return Path(tempfile.mkdtemp(prefix="dart-trl-doctor-")), True
    root = Path(output_dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise RecipeError(f"output_dir {root} is not an empty directory: the doctor needs a fresh one")
    return root, False


def doctor(node: Node, work: Workspace, quick: bool, deadline: float) -> list[Result]:
    """Build the workspace, then run every check that applies; print each result as it comes."""
    env = check_env(node, work)
    build = Check(
        "tiny model and items", "cpu", [sys.executable, "-m", "dart_trl.doctor.workspace", str(work.root)],
        work.model, lambda _: None if (work.model / "config.json").is_file() else f"no model in {work.model}",
    )  # fmt: skip
    results = []
    for check in [build, *plan(node, work, quick)]:
        if isinstance(check, Skipped):
            result = Result(check.name, "", "skipped", check.reason)
        elif results and results[0].status != "pass":
            result = Result(check.name, check.device, "skipped", "the tiny model was not built")
        else:
            result = run_check(check, env, work, deadline)
        results.append(result)
        took = "" if result.seconds is None else f" ({result.seconds:.0f} s)"
        print(f"dart-trl doctor: {result.name}: {result.status}{took} {result.reason}".rstrip(), flush=True)
    return results


@watched
def main(argv: list[str] | None = None) -> int:
    """Run the doctor, print its table, and return 1 if a check failed."""
    args = parse_options(argv, JOB, summary=__doc__.split("\n\n")[0])
    root, temporary = workspace_root(args.output_dir)
    start = time.monotonic()
    node = detect_node()
    print(f"dart-trl doctor: {node.device}; vLLM {node.vllm or 'not installed'}, DeepSpeed "
          f"{node.deepspeed or 'not installed'}, flash-attn {node.flash_attn or 'not installed'}; "
          f"{'quick, ' if args.quick else ''}deadline {args.deadline:.0f} s per check; workspace {root}", flush=True)  # fmt: skip
    results = doctor(node, Workspace(root), args.quick, args.deadline)
    failed = [r for r in results if r.status == "FAIL"]
    counts = {status: sum(r.status == status for r in results) for status in ("pass", "FAIL", "skipped")}
    print(f"\n{table(results)}\n")
    print(f"{counts['pass']} passed, {counts['FAIL']} failed, {counts['skipped']} skipped in "
          f"{time.monotonic() - start:.0f} s")  # fmt: skip
    if failed:
        print(f"logs of each check: {Workspace(root).logs}")
    elif temporary:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


JOB = Job("doctor", main, options=DoctorArguments)

if __name__ == "__main__":
    sys.exit(run_guarded("doctor", main, sys.argv[1:]))
