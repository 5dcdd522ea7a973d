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
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dart_trl.config import LazySection, RecipeError
from dart_trl.config.keys import section_types
from dart_trl.grpo.monitor import PROMPT_ID, CurriculumOptions

FINAL_DIR = "final"
DONE_FILE = "stage_done.json"
START_FILE = "start_weights.json"
GRPO_CONFIG = LazySection("trl", "GRPOConfig")
# Keys the job sets itself for every stage.
RESERVED_KEYS = ("output_dir", "run_name", "resume_from_checkpoint")
DATA_KEYS = ("dataset", "dataset_config", "split", "query_column", "answer_column", "level_column")


@dataclass
class StageSpec:
    """One entry of ``stages:``: its name, its data (default: the recipe-wide keys), curriculum settings
    (default: the recipe-wide ones) and GRPOConfig overrides for this stage only."""

    name: str = field(metadata={"help": "Stage name; the stage writes to <output_dir>/<name>."})
    dataset: str | None = field(default=None, metadata={"help": "Dataset of this stage (Hub id, file, dir)."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub config of the dataset."})
    split: str | None = field(default=None, metadata={"help": "Dataset split."})
    query_column: str | None = field(default=None, metadata={"help": "Query column."})
    answer_column: str | None = field(default=None, metadata={"help": "Gold-answer column."})
    level_column: str | None = field(default=None, metadata={"help": "Difficulty-level column."})
    levels: list[int | str] | None = field(
        default=None, metadata={"help": "Keep rows whose level (or one of a list of levels) is one of these."}
    )
    max_samples: int | None = field(default=None, metadata={"help": "Keep the first rows only."})
    drop_uniform_prompts: bool | None = field(
        default=None, metadata={"help": "Curriculum: see the recipe key."}
    )
    drop_patience: int | None = field(default=None, metadata={"help": "Curriculum: see the recipe key."})
    advance_reward_threshold: float | None = field(
        default=None, metadata={"help": "Curriculum: see the recipe key."}
    )
    advance_window: int | None = field(default=None, metadata={"help": "Curriculum: see the recipe key."})
    overrides: dict[str, Any] = field(default_factory=dict)

    override_help = (
        "any GRPOConfig key, for this stage only: max_steps or num_train_epochs, learning_rate, ..."
    )

    @classmethod
    def override_keys(cls) -> dict[str, Any]:
        """GRPOConfig's keys and types: a stage may override any of them."""
        own = {f.name for f in dataclasses.fields(cls)}
        return {k: v for k, v in section_types(GRPO_CONFIG).items() if k not in own}

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.name):
            raise ValueError(
                f"'name' must be a simple directory name (letters, digits, _ . -), got {self.name!r}"
            )
        reserved = sorted(set(self.overrides) & set(RESERVED_KEYS))
        if reserved:
            raise ValueError(f"key '{reserved[0]}' is set by the job for each stage; remove it")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, got {self.max_samples}")
        if self.levels is not None and not self.levels:
            raise ValueError("levels is empty; list the levels this stage trains on")


@dataclass
class Stage:
    """One stage of a staged GRPO run, its spec resolved against the recipe-wide defaults."""

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


def resolve_stages(
    specs: list[StageSpec], defaults: dict[str, Any], curriculum: CurriculumOptions, where: str
) -> list[Stage]:
    """The recipe's stages with the recipe-wide data keys (``defaults``) and ``curriculum`` filled in."""
    if not specs:
        raise RecipeError(f"{where}: 'stages' is empty; list at least one stage")
    stages: list[Stage] = []
    for spec in specs:
        label = f"{where}: stage '{spec.name}'"
        if any(s.name == spec.name for s in stages):
            raise RecipeError(f"{label}: two stages are named '{spec.name}'")
        data = {k: getattr(spec, k) if getattr(spec, k) is not None else defaults.get(k) for k in DATA_KEYS}
        if not data["dataset"]:
            raise RecipeError(f"{label}: 'dataset' is required (a Hub id, a file or a directory)")
        if spec.levels is not None and not data["level_column"]:
            raise RecipeError(f"{label}: 'levels' needs a 'level_column'")
        options = {
            k: getattr(spec, k) if getattr(spec, k) is not None else getattr(curriculum, k)
            for k in (f.name for f in dataclasses.fields(CurriculumOptions))
        }
        stages.append(
            Stage(
                name=spec.name,
                levels=spec.levels,
                max_samples=spec.max_samples,
                curriculum=CurriculumOptions(**options),
                overrides=dict(spec.overrides),
                **data,
            )
        )
    return stages


def _level_matches(value: Any, wanted: set[str]) -> bool:
    if isinstance(value, (list, tuple)):
        return any(str(v) in wanted for v in value)
    return str(value) in wanted


def _level_values(table, column: str, most: int = 10) -> list[str]:
    """Up to ``most`` distinct values (as text) of a level column, list columns flattened, sorted."""
    values: set[str] = set()
    for value in table[column]:
        values.update(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return sorted(values)[:most]


def check_stage_columns(stage: Stage, found: list[str], label: str) -> None:
    """Raise :class:`RecipeError` when a column the stage reads is not in ``found``: the line lists the
    columns the data has and names the recipe key to set (``query_column``, ``answer_column``,
    ``level_column``; recipe-wide or in the stage)."""
    keys = {"query_column": stage.query_column, "answer_column": stage.answer_column}
    if stage.levels is not None:
        keys["level_column"] = stage.level_column
    missing = {key: column for key, column in keys.items() if column not in found}
    if missing:
        what = ", ".join(f"'{column}' ({key})" for key, column in missing.items())
        raise RecipeError(
            f"{label}: {stage.dataset} (split {stage.split}) has no column {what}; its columns are {found}; "
            f"set {' and '.join(missing)} (recipe-wide or in the stage) to the right one"
        )


def load_stage_dataset(stage: Stage, where: str):
    """Load, check and filter a stage's data: columns ``query``, ``answer`` and ``prompt_id``.

    Raises :class:`RecipeError` naming the stage when a column is missing (:func:`check_stage_columns`)
    or the level filter leaves no rows (with the levels the data has). Prompts are rendered later, with
    the tokenizer (:func:`render_prompts`).
    """
    from dart_trl.data import load_table

    label = f"{where}: stage '{stage.name}'"
    try:
        table = load_table(stage.dataset, split=stage.split, config=stage.dataset_config)
    except RecipeError as err:
        raise RecipeError(f"{label}: {err}") from None
    check_stage_columns(stage, table.column_names, label)
    if stage.levels is not None:
        wanted = {str(v) for v in stage.levels}
        present = table
        table = table.filter(lambda v: _level_matches(v, wanted), input_columns=stage.level_column)
        if len(table) == 0:
            raise RecipeError(
                f"{label}: no rows of {stage.dataset} have {stage.level_column} in {stage.levels} (empty "
                f"level); its {stage.level_column} values include {_level_values(present, stage.level_column)}"
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
