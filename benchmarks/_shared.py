"""Shared helpers for the grader benchmarks: where ``../shared/data`` is, and how to read it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# benchmarks/ sits in the repository root; the shared data is ../shared/data from that root.
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def data_path(name: str) -> Path:
    """Path of a shared data file; exits with a message when it is missing."""
    path = DATA_DIR / name
    if not path.exists():
        sys.exit(f"missing shared data file: {path}")
    return path


def read_rows(name: str) -> list[dict]:
    """Rows of a shared ``.jsonl`` or ``.json`` (list) file."""
    path = data_path(name)
    if path.suffix == ".jsonl":
        with path.open() as f:
            return [json.loads(line) for line in f if line.strip()]
    return json.loads(path.read_text())
