"""The ``dart-trl`` command line: one subcommand per job.

Training jobs (``sft``, ``grpo``) are validated here, then run under ``accelerate launch`` as
``python -m dart_trl.<job> RECIPE [overrides]``; the recipe keys ``accelerate_config`` and
``num_processes`` become launch arguments. Other jobs run in this process.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dart_trl.recipe import LaunchArguments, RecipeError, export_env, load_recipe, parse_overrides

ACCELERATE_CONFIG_DIR = Path(__file__).resolve().parent.parent / "launch" / "accelerate"


@dataclass(frozen=True)
class Subcommand:
    """A ``dart-trl`` subcommand: the module whose ``main(argv)`` runs it and whether it is launched."""

    module: str
    summary: str
    launched: bool = False


SUBCOMMANDS: dict[str, Subcommand] = {
    "generate": Subcommand(
        "dart_trl.generate", "DARS data synthesis (VRT, Uniform, Prop2Diff) from a recipe"
    ),
    "sft": Subcommand(
        "dart_trl.sft", "supervised fine-tuning with TRL's SFTTrainer (accelerate launch)", True
    ),
    "grpo": Subcommand(
        "dart_trl.grpo", "difficulty-staged GRPO with a verifiable math reward (accelerate launch)", True
    ),
    "levels": Subcommand(
        "dart_trl.levels", "label a query pool with difficulty levels from model pass rates"
    ),
    "eval": Subcommand("dart_trl.evaluate", "score a model on math benchmarks with the project's grader"),
    "compare": Subcommand("dart_trl.compare", "compare evaluation runs in a paper-style table"),
    "grade": Subcommand(
        "dart_trl.grading.cli", "grade a JSONL/Parquet file of completions against gold answers"
    ),
    "demo": Subcommand("dart_trl.demo", "the whole pipeline on tiny local models, on CPU"),
}


def usage() -> str:
    """Return the top-level help text listing the subcommands."""
    lines = [
        "usage: dart-trl SUBCOMMAND RECIPE.yaml [--key value ...] [--debug]",
        "",
        "Difficulty-aware math training on Hugging Face TRL.",
        "",
        "subcommands:",
    ]
    lines += [f"  {name:<9} {sub.summary}" for name, sub in SUBCOMMANDS.items()]
    lines += ["", "Run `dart-trl SUBCOMMAND --help` for a subcommand's options."]
    return "\n".join(lines)


def resolve_accelerate_config(name: str) -> Path:
    """Find an accelerate config: a path, or a name (with or without ``.yaml``) in ``launch/accelerate/``.

    ``launch/accelerate/`` is looked up in the current directory, then next to the package source.
    """
    dirs = [Path.cwd() / "launch" / "accelerate", ACCELERATE_CONFIG_DIR]
    candidates = [Path(name)] + [d / f for d in dirs for f in (name, f"{name}.yaml")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in dirs for p in d.glob("*.yaml")})
    raise RecipeError(
        f"accelerate_config '{name}' not found: not a file, nor one of {known} in launch/accelerate/"
    )


# Per-process state of a distributed job, or handles to another process's services: a new launch must
# not inherit them (a LOCAL_WORLD_SIZE or WANDB_SERVICE left by an in-process engine confuses it).
_INHERITED_JOB_STATE = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                        "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "WANDB_SERVICE")  # fmt: skip


def launch_env() -> dict[str, str]:
    """The environment for ``accelerate launch``: ours, less another job's per-process state."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _INHERITED_JOB_STATE and not key.startswith("TORCHELASTIC_")
    }


def accelerate_command(job: ModuleType, argv: Sequence[str]) -> list[str]:
    """Validate a training recipe and return the ``accelerate launch`` command that runs ``job`` on it.

    The recipe is loaded with the job's full set of dataclasses (``job.RECIPE_TYPES``) and checked by
    ``job.validate``, so a bad key or value fails here, before ``accelerate`` starts any process.
    """
    if not argv or argv[0].startswith("-"):
        raise RecipeError("usage: dart-trl JOB RECIPE.yaml [--key value ...]: the recipe path comes first")
    overrides = parse_overrides([a for a in argv[1:] if a != "--debug"])
    recipe = load_recipe(argv[0], job.RECIPE_TYPES, overrides)
    job.validate(recipe)
    export_env(recipe)
    launch = recipe.get(LaunchArguments)
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if launch.accelerate_config:
        command += ["--config_file", str(resolve_accelerate_config(launch.accelerate_config))]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    num_processes = launch.num_processes or (None if launch.accelerate_config else 1)
    if num_processes:
        command += ["--num_processes", str(num_processes)]
    if launch.main_process_port:
        command += ["--main_process_port", str(launch.main_process_port)]
    return command + ["-m", job.__name__, *argv]


def run_subcommand(name: str, argv: Sequence[str]) -> int:
    """Run subcommand ``name`` with its arguments and return the exit code."""
    sub = SUBCOMMANDS[name]
    job = importlib.import_module(sub.module)
    if sub.launched and not {"-h", "--help"} & set(argv):
        return subprocess.call(accelerate_command(job, argv), env=launch_env())
    return int(job.main(list(argv)) or 0)


def run_guarded(name: str, func: Callable[[list[str]], int | None], argv: Sequence[str]) -> int:
    """Call ``func(argv)``, turning a :class:`RecipeError` into one line on stderr and exit code 2.

    The traceback is printed too when ``--debug`` is among the arguments.
    """
    try:
        return int(func(list(argv)) or 0)
    except RecipeError as err:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"dart-trl {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dart-trl`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"dart-trl: unknown subcommand '{name}'; choose from {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    return run_guarded(name, lambda args: run_subcommand(name, args), rest)


if __name__ == "__main__":
    sys.exit(main())
