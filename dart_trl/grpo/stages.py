"""The ``stages:`` list of a GRPO recipe: parsing, stage datasets, and what is on disk for each stage.

A stage is a mapping with a ``name``, its data (``dataset`` and optional ``dataset_config``,
``split``, ``query_column``, ``answer_column``, ``level_column``, ``levels``, ``max_samples``),
curriculum settings (``drop_uniform_prompts``, ``drop_patience``, ``advance_reward_threshold``,
``advance_window``) and any ``GRPOConfig`` field as an override (``max_steps``,
``num_train_epochs``, ``learning_rate``, ...). Stage ``name`` writes to ``<output_dir>/<name>``:
``checkpoint-*`` while it trains, ``final/`` (weights, tokenizer and ``stage_done.json``) when done.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dart_trl.config.recipe import RecipeError, coerce_value
from dart_trl.grpo.curriculum import PROMPT_ID, CurriculumOptions

FINAL_DIR = "final"
DONE_FILE = "stage_done.json"
START_FILE = "start_weights.json"
DATA_KEYS = {
    "name": str,
    "dataset": str,
    "dataset_config": str | None,
    "split": str,
    "query_column": str,
    "answer_column": str,
    "level_column": str | None,
    "levels": list | None,
    "max_samples": int | None,
}
CURRICULUM_KEYS = {f.name: f.type for f in dataclasses.fields(CurriculumOptions)}
# Keys the job sets itself for every stage.
RESERVED_KEYS = ("output_dir", "run_name", "resume_from_checkpoint")


@dataclass
class Stage:
    """One stage of a staged GRPO run."""

    name: str
    dataset: str
    split: str
    query_column: str
    answer_column: str
    dataset_config: str | None = None
    level_column: str | None = None
    levels: list | None = None
    max_samples: int | None = None
    curriculum: CurriculumOptions = field(default_factory=CurriculumOptions)
    overrides: dict[str, Any] = field(default_factory=dict)

    def output_dir(self, root: str | os.PathLike) -> Path:
        """Where this stage writes its checkpoints."""
        return Path(root) / self.name

    def final_dir(self, root: str | os.PathLike) -> Path:
        """Where this stage's final weights go (the next stage starts from them)."""
        return self.output_dir(root) / FINAL_DIR

    def is_done(self, root: str | os.PathLike) -> bool:
        """Whether the stage finished in an earlier run (its ``stage_done.json`` marker exists)."""
        return (self.final_dir(root) / DONE_FILE).is_file()

    def last_checkpoint(self, root: str | os.PathLike) -> str | None:
        """The stage's newest complete ``checkpoint-*`` directory, to resume from, or None.

        A checkpoint is complete once its ``trainer_state.json`` (written last) exists, so one torn by
        a kill mid-save is passed over.
        """
        steps = []
        for path in self.output_dir(root).glob("checkpoint-*"):
            match = re.fullmatch(r"checkpoint-(\d+)", path.name)
            if match and (path / "trainer_state.json").is_file():
                steps.append((int(match.group(1)), path))
        return str(max(steps)[1]) if steps else None


def parse_stages(
    raw: Any, defaults: dict[str, Any], curriculum: CurriculumOptions, grpo_types: dict[str, Any], where: str
) -> list[Stage]:
    """Turn the recipe's ``stages`` value into :class:`Stage` objects, checking every key and value.

    ``defaults`` gives the recipe-wide column names; ``grpo_types`` maps ``GRPOConfig`` field names
    to their types (valid override keys). Errors name the stage and the key.
    """
    if not isinstance(raw, list) or not raw:
        raise RecipeError(f"{where}: 'stages' must be a non-empty list of stage mappings")
    stages: list[Stage] = []
    valid_keys = sorted({*DATA_KEYS, *CURRICULUM_KEYS, *grpo_types})
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict):
            raise RecipeError(f"{where}: stage {i + 1} must be a mapping, got {type(spec).__name__}")
        label = f"{where}: stage '{spec.get('name', i + 1)}'"
        name = spec.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
            raise RecipeError(f"{label}: 'name' must be a simple directory name (letters, digits, _ . -)")
        if any(s.name == name for s in stages):
            raise RecipeError(f"{label}: two stages are named '{name}'")
        values: dict[str, Any] = {**defaults}
        options = dataclasses.asdict(curriculum)
        overrides: dict[str, Any] = {}
        for key, value in spec.items():
            if key in RESERVED_KEYS:
                raise RecipeError(f"{label}: key '{key}' is set by the job for each stage; remove it")
            if key in DATA_KEYS:
                values[key] = coerce_value(value, DATA_KEYS[key], f"{label} key '{key}'")
            elif key in CURRICULUM_KEYS:
                options[key] = coerce_value(value, CURRICULUM_KEYS[key], f"{label} key '{key}'")
            elif key in grpo_types:
                overrides[key] = coerce_value(value, grpo_types[key], f"{label} key '{key}'")
            else:
                close = difflib.get_close_matches(key, valid_keys, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise RecipeError(f"{label}: unknown key '{key}'{hint}")
        if not values.get("dataset"):
            raise RecipeError(f"{label}: 'dataset' is required (a Hub id, a file or a directory)")
        if values.get("levels") is not None and not values.get("level_column"):
            raise RecipeError(f"{label}: 'levels' needs a 'level_column'")
        stages.append(Stage(curriculum=CurriculumOptions(**options), overrides=overrides, **values))
    return stages


def _level_matches(value: Any, wanted: set[str]) -> bool:
    if isinstance(value, (list, tuple)):
        return any(str(v) in wanted for v in value)
    return str(value) in wanted


def load_stage_dataset(stage: Stage, where: str):
    """Load, check and filter a stage's data: columns ``query``, ``answer`` and ``prompt_id``.

    Raises :class:`RecipeError` naming the stage when a column is missing or the level filter
    leaves no rows. Prompts are rendered later, with the tokenizer (:func:`render_prompts`).
    """
    from dart_trl.data import load_table, require_columns

    label = f"{where}: stage '{stage.name}'"
    try:
        table = load_table(stage.dataset, split=stage.split, config=stage.dataset_config)
    except RecipeError as err:
        raise RecipeError(f"{label}: {err}") from None
    columns = [stage.query_column, stage.answer_column, stage.level_column]
    try:
        require_columns(table, columns, f"stage '{stage.name}' dataset {stage.dataset}")
    except RecipeError as err:
        raise RecipeError(f"{where}: {err}") from None
    if stage.levels is not None:
        wanted = {str(v) for v in stage.levels}
        table = table.filter(lambda v: _level_matches(v, wanted), input_columns=stage.level_column)
        if len(table) == 0:
            raise RecipeError(
                f"{label}: no rows of {stage.dataset} have {stage.level_column} in {stage.levels} (empty level)"
            )
    if stage.max_samples is not None:
        table = table.select(range(min(stage.max_samples, len(table))))
    table = table.select_columns([stage.query_column, stage.answer_column])
    table = table.rename_columns(
        {k: v for k, v in {stage.query_column: "query", stage.answer_column: "answer"}.items() if k != v}
    )
    if len(table) == 0:
        raise RecipeError(f"{label}: dataset {stage.dataset} has no rows")
    return table.add_column(PROMPT_ID, list(range(len(table))))


def render_prompts(table, template: str, tokenizer):
    """Add the ``prompt`` column: each query filled into the recipe's prompt template."""
    from dart_trl.templates import format_prompt

    return table.map(
        lambda row: {"prompt": format_prompt(template, str(row["query"]), tokenizer)},
        desc="prompts",
    )


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write ``payload`` as JSON via a temporary file and a rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
