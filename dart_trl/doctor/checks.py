"""The doctor's checks: which apply to a node, the ``dart-trl`` command of each, and what it must leave.

Every check runs a real job on the tiny model of :mod:`dart_trl.doctor.workspace`: ``generate``, SFT with
packing through each launch config the node supports, two GRPO stages of two steps, ``eval`` on the
items. On CUDA the jobs train in bf16 (flash-attn when installed) and sample with vLLM when installed.
W&B is off: it is the same on every node, and its service would add seconds to each check.
A check that does not apply is a :class:`Skipped` with its reason.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from dart_trl.config.resources import shipped_dir
from dart_trl.doctor.node import Node
from dart_trl.doctor.workspace import ITEMS, Workspace

RECIPES = shipped_dir("recipes")
SFT_STEPS = 3
GRPO_STAGES = [{"name": "level1", "levels": [1], "max_steps": 2}, {"name": "level2", "levels": [2], "max_steps": 2}]  # fmt: skip
GPU_MEMORY = 0.3  # share of a GPU's memory a check's vLLM engine may take


@dataclass(frozen=True)
class Check:
    """One check: a command, the device it runs on, its output directory, and ``verify(out) -> problem or
    None`` of what it must leave there."""

    name: str
    device: str
    command: list[str]
    out: Path
    verify: Callable[[Path], str | None]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A check that does not apply to this node, and why."""

    name: str
    reason: str


def dart_trl(subcommand: str, recipe: str, **overrides) -> list[str]:
    """``dart-trl SUBCOMMAND recipes/RECIPE --key value ...`` as an argv (lists and dicts as YAML)."""
    command = [sys.executable, "-m", "dart_trl.cli", subcommand, str(RECIPES / recipe)]
    for key, value in overrides.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return command


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a multi-process launch)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- what a check must leave -------------------------------------------------------------------------
def saved_model(out: Path) -> str | None:
    """A model directory with its config and safetensors weights."""
    if not (out / "config.json").is_file() or not list(out.glob("*.safetensors")):
        return f"no saved model (config.json and *.safetensors) in {out}"
    return None


def grpo_final(out: Path) -> str | None:
    """Both GRPO stages done: the last stage's ``final`` model."""
    return saved_model(out / GRPO_STAGES[-1]["name"] / "final")


def generated(out: Path) -> str | None:
    """DARS sampled every item: one row per query in ``query_info.parquet``, and a dataset file."""
    info, dataset = out / "query_info.parquet", out / "dataset" / "train.parquet"
    if not info.is_file() or not dataset.is_file():
        return f"no {info.name} or dataset/{dataset.name} in {out}"
    rows = pq.read_metadata(info).num_rows
    return None if rows == ITEMS else f"query_info.parquet has {rows} queries, expected {ITEMS}"


def evaluated(out: Path) -> str | None:
    """``eval`` graded every item of the benchmark."""
    results = out / "results.json"
    if not results.is_file():
        return f"no results.json in {out}"
    total = json.loads(results.read_text())["benchmarks"]["doctor"]["total"]
    return None if total == ITEMS else f"results.json grades {total} items, expected {ITEMS}"


# -- the plan ----------------------------------------------------------------------------------------
def precision(node: Node) -> dict:
    """Recipe keys for the node's training precision: bf16 on CUDA (flash-attn when installed), fp32 on CPU."""
    if not node.gpus:
        return {}
    keys = {"use_cpu": "false", "bf16": "true", "dtype": "bfloat16"}
    if node.flash_attn:
        keys["attn_implementation"] = "flash_attention_2"
    return keys


def device_label(node: Node, processes: int = 1, training: bool = False) -> str:
    """The device column: ``cpu``, or the GPUs used with their precision (and flash-attn when training)."""
    if not node.gpus:
        return "cpu" if processes == 1 else f"cpu x {processes} processes"
    gpus = "1 GPU" if processes == 1 else f"{processes} GPUs"
    return f"{gpus} bf16" + (" flash-attn" if training and node.flash_attn else "")


def sampling_keys(node: Node, cpu_vllm: bool) -> dict:
    """Sampling backend keys: vLLM when installed (bf16, a share of the GPU on CUDA), else transformers;
    on CPU vLLM only when ``cpu_vllm``."""
    if not node.vllm or not (node.gpus or cpu_vllm):
        return {"backend": "transformers"}
    keys = {"backend": "vllm"}
    if node.gpus:
        keys.update(dtype="bfloat16", gpu_memory_utilization=str(GPU_MEMORY))
    return keys


def sft_launches(node: Node, quick: bool) -> list[tuple[str, dict, int] | Skipped]:
    """(name, launch keys, processes) of each SFT launch config, or why it is skipped here."""
    gpus = len(node.gpus)
    launches: list[tuple[str, dict, int] | Skipped] = [
        ("sft single", {"accelerate_config": "single_gpu"} if gpus else {}, 1)
    ]
    quick_reason = "--quick runs the single-process launch only"
    if not gpus:
        launches.append(
            Skipped("sft ddp", quick_reason) if quick else ("sft ddp", {"accelerate_config": "cpu_ddp"}, 2)
        )
        launches += [Skipped(f"sft {name}", "needs CUDA GPUs") for name in ("zero2", "zero3", "fsdp2")]
        return launches
    for name in ("ddp", "zero2", "zero3", "fsdp2"):
        if quick:
            launches.append(Skipped(f"sft {name}", quick_reason))
        elif name == "ddp" and gpus < 2:
            launches.append(Skipped("sft ddp", "1 GPU: DDP needs 2 or more"))
        elif name.startswith("zero") and not node.deepspeed:
            launches.append(Skipped(f"sft {name}", "deepspeed is not installed"))
        else:
            launches.append((f"sft {name}", {"accelerate_config": name}, gpus))
    return launches


def sft_check(node: Node, work: Workspace, name: str, launch: dict, processes: int) -> Check:
    """SFT with packing for a few steps through one launch config."""
    keys = {**launch, **precision(node), "num_processes": str(processes)}
    env = {}
    if processes > 1:
        keys.update(main_process_port=str(free_port()), ddp_timeout="120")
        env = {} if node.gpus else {"OMP_NUM_THREADS": "1"}  # two CPU ranks on a small machine
    out = work.out(name)
    command = dart_trl(
        "sft", "sft_tiny_cpu.yaml", model_name_or_path=str(work.model), dataset_name=str(work.data),
        output_dir=str(out), max_steps=str(SFT_STEPS), report_to="none", **keys,
    )  # fmt: skip
    return Check(name, device_label(node, processes, training=True), command, out, saved_model, env)


def generate_check(node: Node, work: Workspace) -> Check:
    """DARS (VRT, 4 samples per query) on the items: vLLM when installed, else transformers."""
    keys = sampling_keys(node, cpu_vllm=True)
    name, out = f"generate ({keys['backend']})", work.out("generate")
    pool = {"source": str(work.data), "id": "id", "query": "query", "answer": "answer", "level": "level"}
    command = dart_trl(
        "generate", "dars_tiny_cpu.yaml", model_name_or_path=str(work.model), pools=[pool],
        output_dir=str(out), strategy="vrt", max_trials="4", report_to="none", **keys,
    )  # fmt: skip
    return Check(name, device_label(node), command, out, generated)


def grpo_check(node: Node, work: Workspace) -> Check:
    """Two GRPO stages of two steps; on CUDA with vLLM installed, generation by vLLM colocated."""
    keys, generation = precision(node), "transformers"
    if node.gpus and node.vllm:
        generation = "vllm colocate"
        keys.update(use_vllm="true", vllm_mode="colocate", vllm_gpu_memory_utilization=str(GPU_MEMORY))
    out = work.out("grpo")
    command = dart_trl(
        "grpo", "grpo_tiny_cpu.yaml", model_name_or_path=str(work.model), dataset=str(work.data),
        output_dir=str(out), stages=GRPO_STAGES, save_steps="2", report_to="[]", **keys,
    )  # fmt: skip
    return Check(
        f"grpo 2 stages x 2 steps ({generation})", device_label(node, training=True), command, out, grpo_final
    )


def eval_check(node: Node, work: Workspace) -> Check:
    """``eval`` on the items. On CPU with transformers: its ten greedy answers are done before a vLLM
    engine has started (``generate`` checks vLLM)."""
    keys = sampling_keys(node, cpu_vllm=False)
    out = work.out("eval")
    benchmark = {
        "name": "doctor",
        "data_files": str(work.data),
        "query_field": "query",
        "answer_field": "answer",
    }
    command = dart_trl(
        "eval", "eval_tiny_cpu.yaml", model_name_or_path=str(work.model), benchmarks=[benchmark],
        output_dir=str(out), report_to="none", **keys,
    )  # fmt: skip
    return Check(f"eval {ITEMS} items ({keys['backend']})", device_label(node), command, out, evaluated)


def plan(node: Node, work: Workspace, quick: bool) -> list[Check | Skipped]:
    """The checks for ``node``, in the order they run (the workspace's model is built before them)."""
    checks: list[Check | Skipped] = [generate_check(node, work)]
    for launch in sft_launches(node, quick):
        checks.append(launch if isinstance(launch, Skipped) else sft_check(node, work, *launch))
    return [*checks, grpo_check(node, work), eval_check(node, work)]
