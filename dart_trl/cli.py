"""The ``dart-trl`` command line: one subcommand per job.

Training jobs (``sft``, ``grpo``) are validated here, then run under ``accelerate launch`` as
``python -m dart_trl.<job> RECIPE [overrides]``; the recipe keys ``accelerate_config`` and
``num_processes`` become launch arguments. Other jobs run in this process.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from dart_trl.config import CHECKED_RECIPE_ENV, Job, LaunchArguments, Recipe, parse_recipe, run_guarded
from dart_trl.config.resources import resolve_accelerate_config
from dart_trl.locking import acquire
from dart_trl.processes import launch

# name: (module defining JOB and main, one-line summary)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("dart_trl.dars.generate", "DARS data synthesis (VRT, Uniform, Prop2Diff) from a recipe"),
    "sft": ("dart_trl.sft.train", "supervised fine-tuning with TRL's SFTTrainer (accelerate launch)"),
    "grpo": (
        "dart_trl.grpo.train",
        "difficulty-staged GRPO with a verifiable math reward (accelerate launch)",
    ),
    "levels": ("dart_trl.grpo.levels", "label a query pool with difficulty levels from model pass rates"),
    "eval": ("dart_trl.eval.evaluate", "score a model on math benchmarks with the project's grader"),
    "compare": ("dart_trl.eval.compare", "compare evaluation runs in a paper-style table"),
    "grade": ("dart_trl.grading.cli", "grade a JSONL/Parquet file of completions against gold answers"),
    "decontaminate": (
        "dart_trl.decontam.job",
        "find training rows that contain benchmark questions; write the data without them",
    ),
    "demo": ("dart_trl.demo.pipeline", "the whole pipeline on tiny local models, on CPU"),
    "env": ("dart_trl.doctor.env", "versions, GPUs and locked-set match, for a bug report"),
    "doctor": ("dart_trl.doctor.run", "run the whole pipeline on a tiny model on this node: what works"),
}


def usage() -> str:
    """Return the top-level help text listing the subcommands."""
    lines = [
        "usage: dart-trl SUBCOMMAND RECIPE.yaml [--key value ...] [--traceback]",
        "",
        "Difficulty-aware math training on Hugging Face TRL.",
        "",
        "subcommands:",
    ]
    lines += [f"  {name:<9} {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    lines += ["", "Run `dart-trl SUBCOMMAND --help` for a subcommand's options."]
    return "\n".join(lines)


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


def accelerate_command(recipe: Recipe, launch_as: str, argv: Sequence[str]) -> list[str]:
    """The arguments of ``accelerate launch`` that run module ``launch_as`` on a checked recipe.

    ``accelerate_config`` and ``num_processes`` (and ``main_process_port``) of the recipe become launch
    arguments; the recipe path and overrides go to every process unchanged.
    """
    settings = recipe.get(LaunchArguments)
    command = []
    if settings.accelerate_config:
        command += ["--config_file", str(resolve_accelerate_config(settings.accelerate_config))]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    num_processes = settings.num_processes or (None if settings.accelerate_config else 1)
    if num_processes:
        command += ["--num_processes", str(num_processes)]
    if settings.main_process_port:
        command += ["--main_process_port", str(settings.main_process_port)]
    return command + ["-m", launch_as, *argv]


def launch_training(job: Job, argv: Sequence[str]) -> int:
    """Check a training recipe here, once (keys, files, data columns, TRL's own checks), then run the job
    under ``accelerate launch`` (:func:`processes.launch`: the exit code is the failed rank's, 2 for bad
    input found there); its processes skip the checks (:data:`CHECKED_RECIPE_ENV`).

    The job is launched while this process holds the lock of its output directory, so a second job on
    the same directory is refused before ``accelerate`` starts; the ranks it starts share the lock.
    """
    recipe, options = parse_recipe(argv, job)
    job.validate(recipe, options)
    output_dir = next((c.output_dir for c in recipe.configs if getattr(c, "output_dir", None)), None)
    lock = acquire(output_dir) if output_dir else None
    try:
        env = {**launch_env(), CHECKED_RECIPE_ENV: str(recipe.path.resolve())}
        return launch(accelerate_command(recipe, job.launch_as, argv), env)
    finally:
        if lock is not None:
            lock.release()


def run_subcommand(name: str, argv: Sequence[str]) -> int:
    """Run subcommand ``name`` with its arguments and return the exit code: ``--check`` runs the job's
    checks only; a training job is checked here and launched; any other job runs in this process."""
    job: Job = importlib.import_module(SUBCOMMANDS[name][0]).JOB
    if {"-h", "--help"} & set(argv):
        return int(job.main(list(argv)) or 0)
    if "--check" in argv and job.validate is not None:
        recipe, options = parse_recipe(argv, job)
        job.validate(recipe, options)
        print(f"dart-trl {name}: {recipe.path} is valid")
        return 0
    if job.launch_as:
        return launch_training(job, argv)
    return int(job.main(list(argv)) or 0)


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
