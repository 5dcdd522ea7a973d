"""The doctor's workspace: a tiny local model and ten arithmetic items that every check reads.

``python -m dart_trl.doctor.workspace ROOT`` builds both (the doctor runs it as its first check).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ITEMS = 10


class Workspace:
    """Where the doctor's model, data, check outputs and logs go, under one root."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.model = self.root / "model"
        self.data = self.root / "items.jsonl"
        self.logs = self.root / "logs"

    def out(self, check: str) -> Path:
        """The output directory of ``check``."""
        return self.root / "runs" / slug(check)

    def log(self, check: str) -> Path:
        """The log file (stdout, then stderr) of ``check``."""
        return self.logs / f"{slug(check)}.log"


def slug(name: str) -> str:
    """A file name for a check's name."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-")


def items() -> list[dict]:
    """:data:`ITEMS` arithmetic questions with a worked response, levels 1 and 2 alternating."""
    rows = []
    for i in range(ITEMS):
        a, b = i + 2, 3 * i + 1
        rows.append(
            {
                "id": f"q{i}",
                "query": f"What is {a} + {b}?",
                "answer": str(a + b),
                "response": f"{a} + {b} = {a + b}. The answer is $\\boxed{{{a + b}}}$.",
                "level": 1 + i % 2,
            }
        )
    return rows


def build(root: str | Path) -> Workspace:
    """Write the items and build the tiny model under ``root``."""
    from dart_trl.demo.tiny import build_tiny_model

    work = Workspace(root)
    work.root.mkdir(parents=True, exist_ok=True)
    work.data.write_text("".join(json.dumps(row) + "\n" for row in items()))
    build_tiny_model(work.model, arch="llama")
    return work


if __name__ == "__main__":
    build(sys.argv[1])
