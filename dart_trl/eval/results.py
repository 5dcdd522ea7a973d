"""The results file of an evaluation run, shared by ``dart-trl eval`` (writes it) and ``compare`` (reads it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_NAME = "results.json"


def write_results(out: Path, results: dict[str, Any]) -> Path:
    """Write ``results`` to ``out/results.json`` through a temporary file (never a half-written file)."""
    tmp = out / f"{RESULTS_NAME}.tmp"
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, out / RESULTS_NAME)
    return out / RESULTS_NAME
