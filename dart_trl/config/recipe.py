"""A loaded recipe: the file, its checked values, one config instance per section; and what jobs do with it.

A key that several sections share goes to each of them, as in TRL's ``TrlParser``. The resolved recipe
(file values plus command-line overrides, after checks) is written to the job's output directory as
``recipe.resolved.yaml`` and goes into the W&B run config.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dart_trl.config.errors import RecipeError
from dart_trl.config.keys import LazySection

RESOLVED_RECIPE_NAME = "recipe.resolved.yaml"
# Set by `dart-trl sft/grpo` for the processes it launches: the recipe file it already checked.
CHECKED_RECIPE_ENV = "DART_TRL_CHECKED_RECIPE"


@dataclasses.dataclass
class Recipe:
    """A loaded recipe: the source file, the checked values (file, then command line), and one built
    config per section (``sections[i]`` is what ``configs[i]`` was built from)."""

    path: Path
    values: dict[str, Any]
    sections: list[type | LazySection]
    configs: list[Any]

    @classmethod
    def build(cls, path: Path, values: dict[str, Any], sections: Sequence[type | LazySection]) -> Recipe:
        """Build each section (importing a lazy one) from the values of its keys; an error of its own
        checks (``__post_init__``) is one :class:`RecipeError` naming the file."""
        configs = []
        for section in sections:
            real = section.load() if isinstance(section, LazySection) else section
            names = {f.name for f in dataclasses.fields(real) if f.init}
            try:
                configs.append(real(**{k: v for k, v in values.items() if k in names}))
            except (ValueError, TypeError) as err:
                message = " ".join(str(err).split())
                raise RecipeError(f"{path}: invalid value for {real.__name__}: {message}") from None
        return cls(path=path, values=values, sections=list(sections), configs=configs)

    def get(self, section: type | LazySection) -> Any:
        """The config built from ``section`` (a class, or the :class:`LazySection` that named it)."""
        for declared, config in zip(self.sections, self.configs, strict=True):
            if declared == section or isinstance(section, type) and isinstance(config, section):
                return config
        raise KeyError(f"recipe has no section {section}")

    @property
    def checked_by_launcher(self) -> bool:
        """Whether ``dart-trl`` already checked this recipe before launching this process."""
        return os.environ.get(CHECKED_RECIPE_ENV) == str(self.path.resolve())


def export_env(recipe: Recipe) -> None:
    """Export the recipe's ``env:`` mapping into ``os.environ``."""
    for key, value in (recipe.values.get("env") or {}).items():
        os.environ[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)


def write_resolved_recipe(recipe: Recipe, output_dir: str | os.PathLike) -> Path:
    """Write the resolved recipe (file values plus overrides) to ``output_dir/recipe.resolved.yaml``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / RESOLVED_RECIPE_NAME
    target.write_text(yaml.safe_dump(to_plain(recipe.values), sort_keys=False))
    return target


def to_plain(value: Any) -> Any:
    """Convert dataclasses (a nested entry's ``overrides`` as keys of its own), enums, paths and tuples in a
    config value into YAML/JSON-friendly values: a resolved recipe loads again as it was written."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # an entry's overrides: its own keys
        plain = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        overrides = plain.pop("overrides", {})
        return to_plain({**plain, **overrides})
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
