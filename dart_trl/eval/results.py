"""The results file of an evaluation run, shared by ``dart-trl eval`` (writes it) and ``compare`` (reads it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dart_trl.files import write_atomic

RESULTS_NAME = "results.json"


def write_results(out: Path, results: dict[str, Any]) -> Path:
    """Write ``results`` to ``out/results.json``, whole or not at all."""
    return write_atomic(out / RESULTS_NAME, json.dumps(results, indent=2))
