"""Weights & Biases runs that carry the resolved recipe and the code version, for side-by-side comparison."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import dart_trl
from dart_trl.config import Recipe, to_plain

DEFAULT_PROJECT = "dart-trl"


def git_commit() -> str | None:
    """The commit of the dart-trl checkout this code runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(dart_trl.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_config(recipe: Recipe, **extra: Any) -> dict[str, Any]:
    """The W&B config of a job: the resolved recipe, its file, the git commit and ``extra`` values."""
    config = to_plain(dict(recipe.values))
    config.update(
        recipe_file=str(recipe.path),
        git_commit=git_commit(),
        dart_trl_version=dart_trl.__version__,
        **to_plain(extra),
    )
    return config


def wandb_enabled(report_to: Any = "wandb") -> bool:
    """Whether a job should log to W&B: ``report_to`` names it (or is ``all``) and W&B is not disabled."""
    if os.environ.get("WANDB_MODE") == "disabled" or os.environ.get("WANDB_DISABLED", "").lower() == "true":
        return False
    targets = [report_to] if isinstance(report_to, str) else list(report_to or [])
    return "wandb" in targets or "all" in targets


def init_wandb(
    *,
    name: str | None,
    job_type: str,
    config: dict[str, Any],
    group: str | None = None,
    project: str | None = None,
    run_dir: str | os.PathLike | None = None,
):
    """Start a W&B run (project from ``WANDB_PROJECT`` or ``dart-trl``) and return it.

    TRL's W&B callback reuses this run and adds the trainer's arguments to its config.
    """
    import wandb

    return wandb.init(
        project=project or os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT),
        name=name,
        group=group,
        job_type=job_type,
        config=config,
        dir=str(run_dir) if run_dir else os.environ.get("WANDB_DIR"),
        reinit="finish_previous",
    )
