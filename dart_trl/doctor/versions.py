"""The locked dependency sets (``constraints/cpu.txt``, ``constraints/gpu.txt``, shipped with the package)
and how this environment differs from them; ``tools/versions.py`` writes the locks with these helpers."""

from __future__ import annotations

import importlib.metadata
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from dart_trl.config.resources import shipped_dir

# Never pinned: pip belongs to the environment, the project is the checkout itself.
UNPINNED = {"pip", "dart-trl"}

Pins = dict[str, tuple[str, str]]  # canonical name -> (name as published, version)


def shipped_lock(set_name: str) -> Path:
    """The lock file of a set (``cpu`` or ``gpu``) as the package ships it."""
    return shipped_dir("constraints") / f"{set_name}.txt"


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


def check_installed(
    lock: Lock, exact: bool, allow_unpinned: bool, absent: tuple[str, ...], installed: Pins | None = None
) -> list[str]:
    """How ``installed`` (default: this environment) differs from ``lock``, one line each (empty when it
    is the locked set).

    Every installed distribution the lock pins must be at the pinned version; one it does not pin is a
    difference unless ``allow_unpinned``; ``absent`` must not be installed; with ``exact`` every pinned
    distribution must be installed.
    """
    installed = installed_distributions() if installed is None else installed
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
