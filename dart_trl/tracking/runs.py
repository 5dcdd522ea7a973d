"""Weights & Biases runs that carry the resolved recipe and the code version, for side-by-side comparison.

A job's run keeps one id across restarts (``wandb_run.json`` in its output directory) and never costs the
job: an unreachable or broken server makes it log offline in the output directory instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dart_trl
from dart_trl.config import RESOLVED_RECIPE_NAME, Recipe, WandbArguments, to_plain
from dart_trl.files import write_atomic

DEFAULT_PROJECT = "dart-trl"
RUN_ID_FILE = "wandb_run.json"
SERVICE_ENV = "WANDB_SERVICE"  # how wandb hands its service to child processes
PROBE_TIMEOUT = 5.0  # seconds the W&B server has to answer at all before the run goes offline
INIT_TIMEOUT = 10.0  # seconds wandb.init may take online before the run goes offline (~15 s in all)
IN_USE_WAIT = 15.0  # seconds a restarted job waits for a killed one's W&B service to free the run id
FINISH_TIMEOUT = 60.0  # seconds the end of an online run may spend uploading

PACKAGE_DIR = Path(dart_trl.__file__).resolve().parent
VERSIONED = ("torch", "transformers", "trl", "vllm", "datasets", "accelerate", "wandb")

_unreachable: dict[str, str] = {}  # "reason": why W&B's server was given up on; later runs go offline at once


def run_config(recipe: Recipe, **extra: Any) -> dict[str, Any]:
    """The W&B config of a job: every key of the recipe with the value the job uses (our sections'
    defaults, then the file and command line; TRL's sections add only the keys the recipe sets, TRL's
    W&B callback logs the rest), the recipe file, :func:`code_config` and ``extra`` values."""
    config: dict[str, Any] = {}
    for section in recipe.configs:
        if type(section).__module__.startswith("dart_trl.") and dataclasses.is_dataclass(section):
            config.update(to_plain(section))
    config.update(to_plain(dict(recipe.values)))
    if isinstance(config.get("report_to"), str):  # one type in every run: TRL's list
        config["report_to"] = [config["report_to"]]
    config.update(recipe_file=str(recipe.path), **code_config(), **to_plain(extra))
    return config


def code_config() -> dict[str, Any]:
    """The code a run ran: the commit of the dart-trl checkout this code runs from and whether its tracked
    files differ from it (None outside a checkout), dart-trl's version and those of the libraries a
    run's numbers depend on (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": git("rev-parse", "HEAD") or None,
        "git_dirty": None if status is None else bool(status),
        "dart_trl_version": dart_trl.__version__,
        "versions": {name: installed(name) for name in VERSIONED},
    }


def _job_dir(path: str | os.PathLike, marker: str) -> Path | None:
    """The directory holding ``marker`` among ``path`` and its two parents (a model's ``final/``, a
    dataset's ``dataset/train.parquet`` belong to the job directory above them), or None."""
    start = Path(path)
    return next((d for d in [start, *start.parents][:3] if (d / marker).is_file()), None)


def dars_strategy(path: str | os.PathLike, hops: int = 4) -> str | None:
    """The DARS strategy whose data ``path`` (a model or data set) comes from, following the resolved
    recipes of the jobs that made it (data set, then base model) up to ``hops`` jobs back; None if unknown."""
    import yaml

    directory = _job_dir(path, RESOLVED_RECIPE_NAME)
    try:
        recipe = yaml.safe_load((directory / RESOLVED_RECIPE_NAME).read_text()) if directory else {}
    except (OSError, yaml.YAMLError):
        recipe = {}
    if not isinstance(recipe, dict):
        return None
    if isinstance(recipe.get("strategy"), str) and "pools" in recipe:
        return recipe["strategy"]
    inputs = (
        [recipe.get(key) for key in ("dataset_name", "dataset", "model_name_or_path")] if hops > 1 else []
    )
    upstream = (dars_strategy(p, hops - 1) for p in inputs if isinstance(p, str) and p != str(path))
    return next(filter(None, upstream), None)


def producers(**paths: str | None) -> dict[str, Any]:
    """W&B config linking a job to the runs that made its inputs: ``<name>_run_id`` for each path in
    ``paths`` written by a dart-trl job with a W&B run, and ``dars_strategy`` when one of them comes
    from a DARS data set."""
    config: dict[str, Any] = {}
    for name, path in paths.items():
        directory = _job_dir(path, RUN_ID_FILE) if path else None
        if directory and (run_id := _saved_run_id(directory)):
            config[f"{name}_run_id"] = run_id
    strategy = next(filter(None, (dars_strategy(path) for path in paths.values() if path)), None)
    return config | ({"dars_strategy": strategy} if strategy else {})


def run_group(group: str | None, default: str | None = None) -> str | None:
    """The W&B group of a job's run, by one rule for every job: the recipe's ``wandb_group``, else
    ``$WANDB_RUN_GROUP``, else the job's default (``grpo``: its output directory's name; others: none)."""
    return group or os.environ.get("WANDB_RUN_GROUP") or default


def start_run(
    recipe: Recipe,
    *,
    job_type: str,
    name: str | None,
    output_dir: str | os.PathLike,
    report_to: Any = "wandb",
    default_group: str | None = None,
    **extra: Any,
):
    """Start (or resume) a job's W&B run: the one way every job starts its run.

    None when ``report_to`` leaves W&B out or W&B is disabled. The config is :func:`run_config` with
    ``extra``; project, group and tags come from the recipe's :class:`WandbArguments` (the group by
    :func:`run_group`, the project else ``$WANDB_PROJECT``, else ``dart-trl``).
    """
    if not wandb_enabled(report_to):
        return None
    where = recipe.get(WandbArguments)
    return init_wandb(
        name=name,
        job_type=job_type,
        config=run_config(recipe, **extra),
        output_dir=output_dir,
        group=run_group(where.wandb_group, default_group),
        project=where.wandb_project,
        tags=where.wandb_tags,
    )


def wandb_enabled(report_to: Any = "wandb") -> bool:
    """Whether a job should log to W&B: ``report_to`` names it (or is ``all``) and W&B is not disabled."""
    if os.environ.get("WANDB_MODE") == "disabled" or os.environ.get("WANDB_DISABLED", "").lower() == "true":
        return False
    targets = [report_to] if isinstance(report_to, str) else list(report_to or [])
    return "wandb" in targets or "all" in targets


def stable_run_id(output_dir: str | os.PathLike) -> str:
    """The W&B run id of the job writing ``output_dir``: read from ``wandb_run.json`` there, or made and saved.

    A job started again on the same directory (a resume after a kill) keeps logging to the same run.
    """
    run_id = _saved_run_id(Path(output_dir))
    if run_id is None:  # W&B's id alphabet; its generator is not public API (wandb.sdk.lib.runid)
        run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        write_atomic(Path(output_dir) / RUN_ID_FILE, json.dumps({"id": run_id}) + "\n")
    return run_id


def _saved_run_id(directory: Path) -> str | None:
    try:
        run_id = json.loads((directory / RUN_ID_FILE).read_text())["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run_id if isinstance(run_id, str) and run_id else None


def server_problem(base_url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when the W&B server at ``base_url`` answers HTTP within ``timeout`` seconds, else why not."""
    import ssl
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(base_url, timeout=timeout).close()
    except urllib.error.HTTPError as err:  # it answered; whether the answer is good is wandb's to judge,
        if err.code in (502, 503, 504):  # unless a proxy or load balancer cannot reach the server
            return f"{base_url} is unavailable (HTTP {err.code})"
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, ssl.SSLError):
            return None  # there is a server; its certificate is wandb's to judge
        if isinstance(reason, TimeoutError):
            return f"{base_url} did not answer within {timeout:.0f} s"
        return f"{base_url} did not answer: {_one_line(reason)}"
    return None


def _one_line(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def init_wandb(
    *,
    name: str | None,
    job_type: str,
    config: dict[str, Any],
    output_dir: str | os.PathLike,
    group: str | None = None,
    project: str | None = None,
    tags: list[str] | None = None,
):
    """Start (or resume) the W&B run of the job writing ``output_dir`` and return it; never fails the job.

    The run id is kept in ``output_dir/wandb_run.json``, so a job started again resumes its run. The run
    goes to ``WANDB_PROJECT`` (default ``dart-trl``) and ``WANDB_DIR``. When W&B should log online but
    its server does not answer (unreachable, refusing, hanging, rejecting the key), the run logs offline
    under ``output_dir/wandb`` instead, after one warning line with the ``wandb sync`` command that
    uploads it later; the wait is bounded (:data:`PROBE_TIMEOUT`, :data:`INIT_TIMEOUT`). Returns None,
    with a warning, only when even the offline run cannot start.
    TRL's W&B callback reuses this run and adds the trainer's arguments to its config.
    """
    import wandb

    common = dict(
        project=project or os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT),
        name=name,
        group=group,
        job_type=job_type,
        tags=list(tags) if tags else None,
        config=config,
        id=stable_run_id(output_dir),
        resume="allow",
        reinit="finish_previous",
    )
    started = time.monotonic()
    # A W&B service shared through WANDB_SERVICE ties a job's run to another process: a killed job's run id
    # stays "in use" in its parent's service. Each job starts its own and does not hand it to its children.
    os.environ.pop(SERVICE_ENV, None)
    try:
        problem = _unreachable.get("reason")
        if problem is None:
            settings = wandb.setup().settings
            if settings.mode in ("offline", "dryrun", "disabled"):
                # WANDB_DIR as it is now: wandb reads it once, at its first setup in this process
                return _start(wandb, common, problem=None, dir=os.environ.get("WANDB_DIR"))
            problem = server_problem(settings.base_url, min(PROBE_TIMEOUT, settings.init_timeout))
            if problem is None:
                # An online run's timeouts, unless WANDB_INIT_TIMEOUT / WANDB_FINISH_TIMEOUT set them.
                timeouts = {"init_timeout": INIT_TIMEOUT, "finish_timeout": FINISH_TIMEOUT}
                timeouts = {k: v for k, v in timeouts.items() if f"WANDB_{k.upper()}" not in os.environ}
                try:
                    return wandb.init(
                        **common, dir=os.environ.get("WANDB_DIR"), settings=wandb.Settings(**timeouts)
                    )
                except Exception as err:  # CommError, AuthenticationError, UsageError, timeouts: never fatal
                    problem = (
                        f"{type(err).__name__}: {_one_line(str(err).splitlines()[0] if str(err) else err)}"
                    )
                    wandb.teardown()  # the failed run's id stays taken in wandb's service until it ends
        # The rest of this process logs offline: no more waiting on the server, in this job or at exit.
        _unreachable["reason"] = problem
        wandb.setup(settings=wandb.Settings(mode="offline"))
        run = _start(wandb, common, problem=problem, dir=str(output_dir), mode="offline")
    finally:
        os.environ.pop(SERVICE_ENV, None)
    if run is not None:
        run_dir = Path(run.dir).parent
        print(
            f"dart-trl: warning: W&B cannot log online ({problem}); after {time.monotonic() - started:.1f} s, "
            f"logging offline to {run_dir}; upload it later with: wandb sync {run_dir}",
            file=sys.stderr,
            flush=True,
        )
    return run


def _start(wandb, common: dict[str, Any], problem: str | None, **kwargs):
    """``wandb.init`` that never fails the job: returns the run, or None after one warning line.

    A killed job's W&B service can hold its run id for a few seconds after the job died ("run ID ... is
    in use"); the restarted job waits up to :data:`IN_USE_WAIT` s for it, then logs to a new run.
    """
    deadline = time.monotonic() + IN_USE_WAIT
    while True:
        try:
            run = wandb.init(**common, **kwargs)
            break
        except Exception as err:
            if "in use" not in str(err) or common["id"] is None:
                why = "the W&B run could not start"
                if problem:
                    why = f"W&B cannot log online ({problem}) and an offline run could not start either"
                print(f"dart-trl: warning: {why} ({_one_line(err)}); this job runs without W&B logging",
                      file=sys.stderr)  # fmt: skip
                return None
        if time.monotonic() < deadline:
            time.sleep(1.0)
        else:
            held, common = common["id"], {**common, "id": None, "resume": None}
    if common["id"] is None:
        print(f"dart-trl: warning: W&B run {held} is still held by an earlier process of this job; "
              f"logging to a new run {run.id}", file=sys.stderr)  # fmt: skip
    return run


def finish_wandb(run) -> None:
    """Finish a W&B run (None: nothing to do) without letting W&B hang or fail the job.

    Online runs give up uploading after ``finish_timeout`` (:data:`FINISH_TIMEOUT` s unless
    ``WANDB_FINISH_TIMEOUT`` says otherwise); what was not uploaded stays on disk for ``wandb sync``.
    """
    if run is None:
        return
    try:
        run.finish()
    except Exception as err:
        print(f"dart-trl: warning: finishing the W&B run failed ({_one_line(err)}); the job's outputs are saved",
              file=sys.stderr)  # fmt: skip
