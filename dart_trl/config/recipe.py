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
from dart_trl.config.schema import LazySection, real_section

RESOLVED_RECIPE_NAME = "recipe.resolved.yaml"
# Set by `dart-trl sft/grpo` for the processes it launches: the recipe file it already checked.
CHECKED_RECIPE_ENV = "DART_TRL_CHECKED_RECIPE"


@dataclasses.dataclass
class Recipe:
    """A loaded recipe: the source file, the checked values (file, then command line), the sections."""

    path: Path
    values: dict[str, Any]
    configs: list[Any]

    @classmethod
    def build(cls, path: Path, values: dict[str, Any], sections: Sequence[type]) -> Recipe:
        """Fill each section with the values of its keys; a ``__post_init__`` error names the file."""
        configs = [_instantiate(section, values, path) for section in sections]
        return cls(path=path, values=values, configs=configs)

    def get(self, cls: type | LazySection) -> Any:
        """The config of type ``cls``. A section checked against a shadow (TRL's configs) is built as
        the real class on first request, which imports it; its own checks run then. Asked for by its
        :class:`LazySection`, it is returned as it is now (the shadow until then), importing nothing."""
        if isinstance(cls, LazySection):
            for config in self.configs:
                if real_section(type(config)) == cls or type(config).__name__ == cls.name:
                    return config
            raise KeyError(f"recipe has no section {cls.qualname}")
        for config in self.configs:
            if isinstance(config, cls):
                return config
        for i, config in enumerate(self.configs):
            section = real_section(type(config))
            if section is not None and section.name == cls.__name__ and section.load() is cls:
                self.configs[i] = _instantiate(cls, self.values, self.path)
                return self.configs[i]
        raise KeyError(f"recipe has no config of type {cls.__name__}")

    @property
    def checked_by_launcher(self) -> bool:
        """Whether ``dart-trl`` already checked this recipe before launching this process."""
        return os.environ.get(CHECKED_RECIPE_ENV) == str(self.path.resolve())

    def materialize(self) -> None:
        """Build the real class of every shadowed section now (imports them; runs their checks)."""
        for config in list(self.configs):
            section = real_section(type(config))
            if section is not None:
                self.get(section.load())


def _instantiate(cls: type, values: Mapping[str, Any], path: Path) -> Any:
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    try:
        return cls(**{k: v for k, v in values.items() if k in names})
    except (ValueError, TypeError) as err:
        raise RecipeError(f"{path}: invalid value for {cls.__name__}: {' '.join(str(err).split())}") from None


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
    """Convert dataclasses, enums, paths and tuples in a config value into YAML/JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
