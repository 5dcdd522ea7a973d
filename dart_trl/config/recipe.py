"""Strict YAML recipes.

A recipe is a flat YAML mapping whose keys are field names of the job's config dataclasses: TRL's
own (``SFTConfig``, ``GRPOConfig``, ``ModelConfig``) plus dart-trl's (for example ``LaunchArguments``
below). A key that several dataclasses share goes to each of them, as in ``trl``'s ``TrlParser``.

Everything is checked before any model or dataset is touched: an unknown key names the closest
valid one, a value of the wrong type names the key, the expected type and the value it got.
Errors are raised as :class:`RecipeError`, which the command line prints as one line (exit 2).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from dart_trl.config.errors import RecipeError

RESOLVED_RECIPE_NAME = "recipe.resolved.yaml"


@dataclasses.dataclass
class LaunchArguments:
    """Recipe keys read by the launcher rather than by the job itself."""

    accelerate_config: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Accelerate config: a file name in launch/accelerate/ (e.g. 'zero3' or 'zero3.yaml') "
            "or a path. Only used by training jobs (sft, grpo)."
        },
    )
    num_processes: int | None = dataclasses.field(
        default=None,
        metadata={"help": "Processes for `accelerate launch` (overrides the accelerate config's value)."},
    )
    main_process_port: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "Rendezvous port for `accelerate launch` with several processes (default 29500); give each "
            "concurrent multi-process job on one machine its own port."
        },
    )
    env: dict[str, Any] = dataclasses.field(
        default_factory=dict,
        metadata={
            "help": "Environment variables exported before the job starts, e.g. {WANDB_PROJECT: dart}."
        },
    )


@dataclasses.dataclass
class Recipe:
    """A loaded recipe: the source file, the resolved flat mapping, and one instance per dataclass."""

    path: Path
    values: dict[str, Any]
    configs: tuple[Any, ...]

    def get(self, cls: type) -> Any:
        """Return the config instance of dataclass type ``cls``."""
        for config in self.configs:
            if isinstance(config, cls):
                return config
        raise KeyError(f"recipe has no config of type {cls.__name__}")


def read_recipe_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a recipe file into a mapping, raising :class:`RecipeError` for a missing or non-mapping file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RecipeError(f"{path}:{where} is not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: a recipe must be a YAML mapping of keys to values, got {type(data).__name__}"
        )
    for key in data:
        if not isinstance(key, str):
            raise RecipeError(f"{path}: recipe keys must be strings, got {key!r}")
    return data


def parse_overrides(argv: Sequence[str]) -> dict[str, str]:
    """Turn ``--key value`` / ``--key=value`` / bare ``--flag`` (meaning true) into a mapping of raw strings."""
    overrides: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or token == "--":
            raise RecipeError(f"expected an override like --key value, got {token!r}")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            else:
                value = "true"
        overrides[key.replace("-", "_")] = value
        i += 1
    return overrides


def load_recipe(
    path: str | os.PathLike,
    dataclass_types: Sequence[type],
    overrides: Mapping[str, Any] | None = None,
) -> Recipe:
    """Load ``path``, apply ``overrides`` and build one instance of each of ``dataclass_types``.

    Raises :class:`RecipeError` naming the file and key for an unknown key (with the closest valid
    key), a value of the wrong type, or a value a dataclass rejects in ``__post_init__``.
    """
    path = Path(path)
    values = read_recipe_file(path)
    values.update(overrides or {})
    fields_by_key: dict[str, list[tuple[type, dataclasses.Field, Any]]] = {}
    for cls in dataclass_types:
        hints = _type_hints(cls)
        for field in dataclasses.fields(cls):
            if field.init:
                fields_by_key.setdefault(field.name, []).append(
                    (cls, field, hints.get(field.name, field.type))
                )

    kwargs: dict[type, dict[str, Any]] = {cls: {} for cls in dataclass_types}
    for key, value in values.items():
        if key not in fields_by_key:
            close = difflib.get_close_matches(key, list(fields_by_key), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise RecipeError(f"{path}: unknown key '{key}'{hint}")
        for cls, field, hint_type in fields_by_key[key]:
            value = coerce_value(value, hint_type, f"{path}: key '{key}'")
            choices = field.metadata.get("choices")
            if choices and value not in choices:
                raise RecipeError(f"{path}: key '{key}' must be one of {list(choices)}, got {value!r}")
            kwargs[cls][key] = value
        values[key] = value

    configs = []
    for cls in dataclass_types:
        try:
            configs.append(cls(**kwargs[cls]))
        except (ValueError, TypeError) as err:
            message = " ".join(str(err).split())
            raise RecipeError(f"{path}: invalid value for {cls.__name__}: {message}") from None
    return Recipe(path=path, values=values, configs=tuple(configs))


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
    """Convert enums, paths and tuples in a config value into YAML/JSON-friendly plain values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def parse_job_argv(
    argv: Sequence[str] | None, dataclass_types: Sequence[type], flags: Mapping[str, bool] | None = None
) -> tuple[Recipe, dict[str, Any]]:
    """Parse ``RECIPE [--key value ...]`` for a job's ``main()``.

    ``flags`` names job options that are not recipe keys (name -> whether it takes a value); they are
    returned in the second element. ``--debug`` is always accepted. The recipe's ``env`` is exported.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = dict(flags or {})
    flags.setdefault("debug", False)
    if not argv or argv[0].startswith("-"):
        raise RecipeError("usage: RECIPE.yaml [--key value ...]: the recipe path comes first")
    recipe_path, rest = argv[0], argv[1:]
    options: dict[str, Any] = {}
    remaining: list[str] = []
    i = 0
    while i < len(rest):
        name = rest[i][2:].split("=", 1)[0].replace("-", "_") if rest[i].startswith("--") else None
        if name in flags:
            if flags[name]:
                if "=" in rest[i]:
                    options[name] = rest[i].split("=", 1)[1]
                elif i + 1 < len(rest):
                    options[name] = rest[i + 1]
                    i += 1
                else:
                    raise RecipeError(f"option --{name} needs a value")
            else:
                options[name] = True
        else:
            remaining.append(rest[i])
        i += 1
    recipe = load_recipe(recipe_path, dataclass_types, parse_overrides(remaining))
    export_env(recipe)
    return recipe, options


# ----------------------------------------------------------------------------------------------
# Type checking and coercion of recipe values
# ----------------------------------------------------------------------------------------------

_YAML_NULLS = {"null", "Null", "NULL", "~"}  # how a command-line override spells None
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def coerce_value(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against type ``tp``, converting strings from YAML quirks or the command line.

    ``where`` prefixes the error message (file and key). Unknown or ``Any`` types accept anything.
    """
    try:
        return _coerce(value, tp)
    except _Mismatch:
        raise RecipeError(
            f"{where} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})"
        ) from None


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any) -> Any:  # noqa: C901 - one branch per kind of type is the clearest
    if tp is Any or tp is None or isinstance(tp, (str, typing.TypeVar)):
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        if type(None) in args and (value is None or (isinstance(value, str) and value in _YAML_NULLS)):
            return None
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{") and any(map(_is_collection, args)):
            value = _yaml_scalar(value)  # a list or mapping written on the command line
        # Try exact-type members first so that "5" stays a str for Union[str, int] and so on.
        members = sorted((a for a in args if a is not type(None)), key=lambda a: not _is_instance(value, a))
        for member in members:
            try:
                return _coerce(value, member)
            except _Mismatch:
                continue
        raise _Mismatch
    if tp is type(None):
        if value is None or (isinstance(value, str) and value.lower() in {"null", "none"}):
            return None
        raise _Mismatch
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise _Mismatch
    if isinstance(value, str) and value.lower() in {"null", "none"} and tp is not str:
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    as_float = float(value)
                except ValueError:
                    raise _Mismatch from None
                if as_float.is_integer():
                    return int(as_float)
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value == member.value or value == member or value == member.name:
                return member
        raise _Mismatch
    if origin in (list, Sequence, tuple) or tp in (list, tuple):
        if isinstance(value, str):
            value = _yaml_scalar(value)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        item_tp = args[0] if args and args[0] is not Ellipsis else Any
        return [_coerce(v, item_tp) for v in value]
    if origin in (dict, Mapping) or tp is dict:
        if isinstance(value, str):
            value = _yaml_scalar(value)
        if not isinstance(value, dict):
            raise _Mismatch
        value_tp = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, value_tp) for k, v in value.items()}
    return value


def _is_instance(value: Any, tp: Any) -> bool:
    base = typing.get_origin(tp) or tp
    return (
        isinstance(base, type) and isinstance(value, base) and not (base is int and isinstance(value, bool))
    )


def _is_collection(tp: Any) -> bool:
    base = typing.get_origin(tp) or tp
    return base in (list, tuple, dict, Sequence, Mapping)


def _yaml_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise _Mismatch from None
