#!/usr/bin/env python3
"""Install torch at the version a lock pins, from the configured indexes, else from PyTorch's own index.

``python tools/install_torch.py LOCK [--dry-run]`` (``make install`` runs it with the new venv's Python,
so it uses the standard library only). pip first tries the indexes it is configured with (PyPI, a mirror,
local find-links): where the wheel is found there, or torch is already installed at the pin, this is the
whole cost. Only when pip reports no matching distribution, and the pin names a build (``2.13.0+cpu``,
which PyPI does not carry), it retries once with PyTorch's index for that build
(https://download.pytorch.org/whl/cpu) added. ``--dry-run`` passes pip's own ``--dry-run``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

PYTORCH_INDEX = "https://download.pytorch.org/whl/{build}"
# pip's two ways of saying the pinned torch is on none of its indexes (with and without a constraints file).
NOT_FOUND = re.compile(
    r"No matching distribution found for torch\b"
    r"|no matching distributions available for your environment:\n(?:[ \t]+\S+\n)*?[ \t]+torch\n"
)


def torch_pin(lock: str) -> str:
    """The ``torch==X`` line of a lock file."""
    with open(lock, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if re.fullmatch(r"torch\s*==\s*\S+", line):
                return line.replace(" ", "")
    sys.exit(f"{lock}: no torch==VERSION line")


def fallback_index(pin: str) -> str | None:
    """PyTorch's index for the build a pin names (``torch==2.13.0+cpu`` -> .../whl/cpu), or None."""
    _, _, build = pin.partition("+")
    return PYTORCH_INDEX.format(build=build) if build else None


def pip_install(lock: str, extra: list[str], dry_run: bool) -> list[str]:
    """The pip command that installs torch under ``lock`` (plus ``extra`` options)."""
    command = [sys.executable, "-m", "pip", "install", "-c", lock, *extra, "torch"]
    return command + ["--dry-run"] if dry_run else command


def main(argv: list[str] | None = None) -> int:
    """Install torch: the configured indexes first, PyTorch's index for the pinned build when they lack it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lock", help="a constraints file pinning torch, e.g. constraints/cpu.txt")
    parser.add_argument("--dry-run", action="store_true", help="resolve only (pip install --dry-run)")
    args = parser.parse_args(argv)
    pin = torch_pin(args.lock)
    print(f"installing {pin} from the configured package indexes", flush=True)
    first = subprocess.run(pip_install(args.lock, [], args.dry_run), capture_output=True, text=True)
    index = fallback_index(pin)
    if first.returncode == 0:
        return 0
    if index is None or not NOT_FOUND.search(first.stdout + first.stderr):
        sys.stdout.write(first.stdout[-6000:])
        sys.stderr.write(first.stderr[-6000:])
        return first.returncode
    print(f"{pin} is not on the configured package indexes; trying PyTorch's index {index}", flush=True)
    second = subprocess.run(pip_install(args.lock, ["--extra-index-url", index], args.dry_run))
    if second.returncode != 0:
        print(f"{pin} was found neither on the configured indexes nor on {index}", file=sys.stderr)
    return second.returncode


if __name__ == "__main__":
    sys.exit(main())
