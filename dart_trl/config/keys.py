"""The keys of a recipe section (name, type, default, help), read once per section.

A section is a dataclass, or a :class:`LazySection` naming one that is slow to import: TRL's
``SFTConfig``, ``GRPOConfig`` and ``ModelConfig`` import torch and transformers (5 s and more on a small
machine). Their keys are kept in a small JSON file per installed (trl, transformers, accelerate) version
in the cache directory, so a misspelt key or a wrong type is rejected before they are imported
(``benchmarks/time_to_error.py``). An ``Enum | str`` key (``lr_scheduler_type``, ``optim``, ...) is kept as
a choice of the enum's values, which is what the real class accepts.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import importlib.metadata
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

from dart_trl.files import cache_dir, write_atomic

TABLE_FORMAT = 2
_VERSIONED_PACKAGES = ("trl", "transformers", "accelerate")


@dataclass(frozen=True)
class LazySection:
    """A recipe section given by import location, e.g. ``LazySection("trl", "SFTConfig")``."""

    module: str
    name: str

    def load(self) -> type:
        """Import and return the real class."""
        return getattr(importlib.import_module(self.module), self.name)


@dataclass(frozen=True)
class Key:
    """One recipe key: its type hint, default, help, and (for command-line options) a positional name."""

    name: str
    type: Any
    default: Any = None
    help: str = ""
    positional: str | None = None


def section_name(section: type | LazySection) -> str:
    """The class name of a section, as errors and ``--help`` show it."""
    return section.name if isinstance(section, LazySection) else section.__name__


def section_doc(section: type | LazySection) -> str:
    """The first line of a section's docstring."""
    doc = _table(section)["doc"] if isinstance(section, LazySection) else section.__doc__
    return (doc or "").strip().split("\n")[0].rstrip(".")


@functools.cache
def section_keys(section: type | LazySection) -> dict[str, Key]:
    """Every ``init`` field of a section as a :class:`Key` (a lazy section's from its cached table).

    Read once per process: the parser, ``--help`` and every nested entry (a pool, a stage) ask again.
    Callers must not change the mapping."""
    if isinstance(section, LazySection):
        return {f["name"]: Key(f["name"], decode_type(f["type"]), f["default"], f["help"] or "")
                for f in _table(section)["fields"]}  # fmt: skip
    hints = typing.get_type_hints(section)
    return {
        f.name: Key(f.name, _with_choices(f, hints[f.name]), default_of(f), f.metadata.get("help", ""),
                    f.metadata.get("positional"))
        for f in dataclasses.fields(section) if f.init
    }  # fmt: skip


def section_types(section: type | LazySection) -> dict[str, Any]:
    """Each key of a section and its type hint."""
    return {name: key.type for name, key in section_keys(section).items()}


def default_of(field: dataclasses.Field) -> Any:
    """A field's default value (its factory called), or None when it has none."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _with_choices(field: dataclasses.Field, tp: Any) -> Any:
    """A field's type, with a ``choices`` list in its metadata (TRL's way) turned into a ``Literal``."""
    choices = field.metadata.get("choices")
    if not choices:
        return tp
    literal = Literal[tuple(choices)]
    return literal | None if type(None) in typing.get_args(tp) else literal


def _versions() -> str:
    parts = []
    for name in _VERSIONED_PACKAGES:
        try:
            parts.append(f"{name}{importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name}-none")
    return "-".join(parts)


@functools.cache
def _table(section: LazySection) -> dict[str, Any]:
    """The cached key table of a lazy section; built (importing the class) when missing."""
    path = cache_dir() / "keys" / f"{section.module}.{section.name}-{_versions()}-v{TABLE_FORMAT}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    cls = section.load()
    fields = [
        {"name": k.name, "type": encode_type(k.type), "default": k.default, "help": k.help}
        for k in section_keys(cls).values()
    ]
    # JSON (an enum by its value, an object default such as a callable as null), as it is read back.
    table = json.loads(json.dumps({"doc": cls.__doc__ or "", "fields": fields}, default=_json_value))
    try:
        write_atomic(path, json.dumps(table))
    except OSError:
        pass  # a read-only cache only costs speed
    return table


def _json_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else None


_SCALARS: dict[str, Any] = {"bool": bool, "int": int, "float": float, "str": str}


def encode_type(tp: Any) -> dict[str, Any]:
    """A type hint as a JSON tree (see :func:`decode_type`)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return {"k": "none"}
    if tp in _SCALARS.values():
        return {"k": tp.__name__}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"k": "literal", "v": [m.value for m in tp]}
    if origin is Literal:
        return {"k": "literal", "v": list(args)}
    if origin is Union or origin is types.UnionType:
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and str in args:  # the real class turns the text into the enum in __post_init__
            rest = [a for a in args if a is not str and a not in enums]
            values = [m.value for e in enums for m in e]
            return {"k": "union", "of": [{"k": "literal", "v": values}, *map(encode_type, rest)]}
        return {"k": "union", "of": [encode_type(a) for a in args]}
    if origin in (list, tuple) or tp in (list, tuple):
        item = args[0] if args and args[0] is not Ellipsis else Any
        return {"k": "list", "item": encode_type(item)}
    if origin is dict or tp is dict:
        return {"k": "dict", "value": encode_type(args[1] if len(args) == 2 else Any)}
    return {"k": "any"}


def decode_type(tree: dict[str, Any]) -> Any:
    """The type hint a JSON tree of :func:`encode_type` stands for."""
    kind = tree["k"]
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "none":
        return type(None)
    if kind == "literal":
        return Literal[tuple(tree["v"])]
    if kind == "union":
        return Union[tuple(decode_type(t) for t in tree["of"])]  # noqa: UP007 - built from a tuple
    if kind == "list":
        return list[decode_type(tree["item"])]
    if kind == "dict":
        return dict[str, decode_type(tree["value"])]
    return Any
