"""Recipe sections whose classes are slow to import: TRL's ``SFTConfig``, ``GRPOConfig``, ``ModelConfig``.

Importing ``trl.SFTConfig`` imports torch and transformers (5 s and more on a small machine). To
reject a malformed recipe before that, a job names such a section as ``LazySection("trl", "SFTConfig")``
and the recipe is first checked against a *shadow*: a plain dataclass with the same keys, types,
defaults and help, written once per installed (trl, transformers, accelerate) version to a small JSON
file in the cache directory (``$DART_TRL_CACHE``, else ``$XDG_CACHE_HOME/dart-trl``, else
``~/.cache/dart-trl``). The real class is built from the checked values when the job asks for it
(:meth:`dart_trl.config.Recipe.get`), so its own ``__post_init__`` checks still run before any model loads.

Types are stored as a small JSON tree; an ``Enum | str`` key (``lr_scheduler_type``, ``optim``, ...)
becomes a choice of the enum's values, which is what the real class accepts.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import importlib.metadata
import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

SCHEMA_FORMAT = 1
_VERSIONED_PACKAGES = ("trl", "transformers", "accelerate")


@dataclass(frozen=True)
class LazySection:
    """A recipe section given by import location, e.g. ``LazySection("trl", "SFTConfig")``."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        """``module.name``, as the section is known in errors and caches."""
        return f"{self.module}.{self.name}"

    def load(self) -> type:
        """Import and return the real class (slow: this is what the shadow avoids)."""
        return getattr(importlib.import_module(self.module), self.name)

    def shadow(self) -> type:
        """A plain dataclass with the real class's keys, types, defaults and help."""
        return _shadow(self)


def real_section(shadow_or_class: type) -> LazySection | None:
    """The :class:`LazySection` a shadow dataclass stands for, or None for an ordinary class."""
    return getattr(shadow_or_class, "__lazy_section__", None)


def cache_dir() -> Path:
    """Where shadows are cached (see the module docstring)."""
    if os.environ.get("DART_TRL_CACHE"):
        return Path(os.environ["DART_TRL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dart-trl"


def _versions() -> str:
    parts = []
    for name in _VERSIONED_PACKAGES:
        try:
            parts.append(f"{name}{importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name}-none")
    return "-".join(parts)


@functools.cache
def _shadow(section: LazySection) -> type:
    path = cache_dir() / "schemas" / f"{section.qualname}-{_versions()}-v{SCHEMA_FORMAT}.json"
    try:
        described = json.loads(path.read_text())
    except (OSError, ValueError):
        described = describe(section.load())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(described))
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs speed
    shadow = dataclasses.make_dataclass(
        section.name,
        [(f["name"], decode_type(f["type"]), _shadow_field(f)) for f in described["fields"]],
    )
    shadow.__doc__ = described.get("doc") or section.qualname
    shadow.__lazy_section__ = section
    return shadow


def _shadow_field(described: dict[str, Any]) -> dataclasses.Field:
    metadata = {k: described[k] for k in ("help", "choices") if described.get(k) is not None}
    default = described["default"]
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: json.loads(json.dumps(default)), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def describe(cls: type) -> dict[str, Any]:
    """A JSON-able description of dataclass ``cls``: each init field's name, type, default, help, choices."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        fields.append(
            {
                "name": f.name,
                "type": encode_type(hints[f.name]),
                "default": _plain_default(default),
                "help": f.metadata.get("help"),
                "choices": _plain_default(list(f.metadata["choices"])) if "choices" in f.metadata else None,
            }
        )
    return {"doc": (cls.__doc__ or "").strip().split("\n")[0], "fields": fields}


def _plain_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain_default(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain_default(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return None  # an object default (a config instance, a callable): unset in the shadow


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
        return {"k": "literal", "v": [_plain_default(a) for a in args]}
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
