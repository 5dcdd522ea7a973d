"""Reading recipe files strictly, and checking a value against the type of the key it fills.

This is the one place types are inspected: a YAML value, or a command-line value read as YAML
(:mod:`dart_trl.config.parser`), is checked here. An ``int`` key takes an integer (not a bool, not 2.5),
a ``float`` key an integer, a float or float text (YAML 1.1 reads ``1e-5`` as text), and a nested entry
(a pool, a stage, a benchmark) a mapping that builds its dataclass strictly.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from dart_trl.config.errors import RecipeError
from dart_trl.config.keys import section_types


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """Read a recipe file into a mapping; every problem is one :class:`RecipeError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise RecipeError(f"{path} is a directory; give a recipe file (.yaml)")
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RecipeError(f"{path}: line {line} is not UTF-8 text (byte {raw[err.start]:#04x})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RecipeError(f"{path}:{where} is not valid YAML: {problem}") from None
    if data is None:
        raise RecipeError(f"{path}: empty recipe (no keys); see `dart-trl JOB --help` for the keys")
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: a recipe must be a YAML mapping of keys to values, got {type(data).__name__}"
        )
    for key in data:
        if not isinstance(key, str):
            raise RecipeError(f"{path}: recipe keys must be strings, got {key!r}")
    return data


def parse_yaml_text(text: str) -> Any:
    """A command-line value written as YAML (a list or mapping such as ``[a, b]`` or ``{k: v}``)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        raise ValueError(f"not valid YAML: {text!r}") from None


def type_label(tp: Any) -> str:
    """A short readable name of a type hint: ``int``, ``str | None``, ``list[str]``, ``one of [...]``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return f"one of {list(args)}"
    if origin is Union or origin is types.UnionType:
        return " | ".join(type_label(a) for a in args)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {[m.value for m in tp]}"
    if dataclasses.is_dataclass(tp):
        return f"{tp.__name__} mapping"
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_label(a) for a in args)}]"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


class Mismatch(Exception):
    """A value does not fit a type (internal: :func:`check_value` turns it into a :class:`RecipeError`)."""

    def __init__(self, key: str, tp: Any, value: Any) -> None:
        super().__init__(key)
        self.key, self.tp, self.value = key, tp, value


def check_value(value: Any, tp: Any, where: str, key: str) -> Any:
    """Return ``value`` of recipe key ``key`` checked against type hint ``tp`` (float text becomes a float;
    a mapping for a dataclass becomes that dataclass), or raise :class:`RecipeError` naming ``where`` (the
    file), the key (``pools[0].limit`` inside nested entries) and the type."""
    try:
        return _check(value, tp, where, key)
    except Mismatch as bad:
        shown = f"{bad.value!r} ({type(bad.value).__name__})" if bad.value is not None else "null"
        raise RecipeError(f"{where}: key '{bad.key}' expects {type_label(bad.tp)}, got {shown}") from None


def _check(value: Any, tp: Any, where: str, key: str) -> Any:  # noqa: C901 - one branch per kind of type
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.TypeVar):
        return value
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        for member in sorted(args, key=lambda a: a is str):  # text is the last resort ("1e-5" -> float)
            try:
                return _check(value, member, where, key)
            except Mismatch as bad:
                if bad.key != key:  # a nested entry of this member was wrong: report that
                    raise
        raise Mismatch(key, tp, value)
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return build_dataclass(tp, value, where, key)
    if isinstance(value, (list, tuple)) and (origin in (list, tuple) or tp in (list, tuple)):
        item = args[0] if args and args[0] is not Ellipsis else Any
        return [_check(v, item, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping) and (origin in (dict, Mapping) or tp is dict):
        item = args[1] if len(args) == 2 else Any
        return {k: _check(v, item, where, f"{key}.{k}") for k, v in value.items()}
    if _scalar_fits(value, tp, origin, args):
        return float(value) if tp is float else int(value) if tp is int else value
    raise Mismatch(key, tp, value)


def _scalar_fits(value: Any, tp: Any, origin: Any, args: tuple) -> bool:
    """Whether a scalar fits: exact types (an int is not a bool), a float key also takes an int or float
    text (YAML 1.1 reads ``1e-5`` as text), an int key a whole float, a choice one of its values."""
    if tp is type(None):
        return value is None
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return value in {m.value for m in tp}
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return not isinstance(value, bool) and (
            isinstance(value, int) or isinstance(value, float) and value.is_integer()
        )
    if tp is float:
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
            return True
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(tp, type) and not dataclasses.is_dataclass(tp) and tp not in (list, tuple, dict):
        return isinstance(value, tp)
    return False


def closest_key(key: str, valid: list[str] | set[str]) -> str:
    """``"; did you mean 'x'?"`` for the valid key closest to ``key``, or an empty string."""
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def build_dataclass(cls: type, mapping: Mapping[str, Any], where: str, key: str) -> Any:
    """Build a nested recipe entry (a pool, a stage, a benchmark) from a mapping, strictly.

    An unknown key names the closest valid one; a value is checked against its field's type; a
    ``ValueError`` from the class's ``__post_init__`` becomes a :class:`RecipeError` naming ``where``
    (the file) and ``key`` (the entry, e.g. ``pools[0]``).
    A class may also take the keys of another section, collected into its ``overrides`` field: its
    ``override_keys()`` classmethod maps them to their types (see :class:`dart_trl.grpo.train.StageSpec`).
    """
    if isinstance(mapping.get("name"), str):
        key = f"{key} '{mapping['name']}'"  # stages[1] 'level2': the entry as its author knows it
    own = {k: v for k, v in section_types(cls).items() if k != "overrides"}
    other: dict[str, Any] = cls.override_keys() if hasattr(cls, "override_keys") else {}
    kwargs: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for name, value in mapping.items():
        name = str(name)
        if name in own:
            kwargs[name] = _check(value, own[name], where, f"{key}.{name}")
        elif name in other:
            overrides[name] = _check(value, other[name], where, f"{key}.{name}")
        else:
            raise RecipeError(
                f"{where}: {key}: unknown key '{name}'{closest_key(name, set(own) | set(other))}"
            )
    if other:
        kwargs["overrides"] = overrides
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.name not in kwargs
        and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]  # fmt: skip
    if missing:
        raise RecipeError(f"{where}: {key}: key '{missing[0]}' is required")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise RecipeError(f"{where}: {key}: {' '.join(str(err).split())}") from None
