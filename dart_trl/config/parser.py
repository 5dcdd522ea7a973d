"""The one strict recipe loader: a YAML file, then ``--key value`` overrides, onto a job's sections.

``RecipeParser`` extends transformers' ``HfArgumentParser`` (what TRL's ``TrlParser`` builds on):
every key of every section becomes an argparse option with its type, choices and help, so command-line
overrides are converted by argparse and ``dart-trl JOB --help`` lists every key, grouped by section.
YAML values are typed already; they are checked against the same type hints
(:func:`dart_trl.config.values.check_value`). Either way a problem is one line naming the file and the
key, with the closest valid key for a typo, and the job stops with exit code 2 before any model or
dataset loads. Sections that are slow to import (TRL's configs) are checked against their shadows
(:mod:`dart_trl.config.schema`), so even ``sft`` and ``grpo`` reject a bad key in about a second.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union

from dart_trl.config.errors import RecipeError
from dart_trl.config.recipe import Recipe, export_env
from dart_trl.config.resources import find_shipped, shipped_names
from dart_trl.config.schema import LazySection
from dart_trl.config.values import (
    check_value,
    closest_key,
    field_types,
    parse_yaml_text,
    read_recipe_file,
    type_label,
)

Section = type | LazySection
NULLS = {"null", "~"}  # YAML's spellings of null ("none" is a value: report_to: none)


def _hf_argument_parser() -> type:
    """transformers' ``HfArgumentParser``, without importing the whole of transformers when possible.

    ``transformers/hf_argparser.py`` needs only the standard library and PyYAML, but importing it as
    ``transformers.hf_argparser`` runs the package's ``__init__``, which scans every installed package's
    metadata (1.5 s and more on a small machine, most of the time a bad recipe takes to be rejected).
    So the same file is loaded on its own; if that ever fails (the file gained package imports), the
    ordinary import is used.
    """
    if "transformers" in sys.modules:
        from transformers import HfArgumentParser

        return HfArgumentParser
    try:
        package = importlib.util.find_spec("transformers")
        path = Path(package.origin).with_name("hf_argparser.py")
        spec = importlib.util.spec_from_file_location("dart_trl.config._hf_argparser", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.HfArgumentParser
    except Exception:  # noqa: BLE001 - any failure of the shortcut falls back to the ordinary import
        from transformers import HfArgumentParser

        return HfArgumentParser


def _is_simple(tp: Any) -> bool:
    """Whether argparse can convert a command-line string into this type by itself."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        return (
            len(members) == 1 and _is_simple(members[0]) or (str in members and all(map(_is_simple, members)))
        )
    if origin is list:
        return bool(args) and typing.get_origin(args[0]) is not list and _is_simple(args[0])
    return tp in (bool, int, float, str) or origin is Literal


def _yaml_list_or(func):
    """Wrap a list item's argparse type function so that a YAML list (``[1.0, 0.5]``) passes through as
    text; :func:`_yaml_list` reads it after parsing."""

    def convert(text: str):
        return text if text.lstrip().startswith("[") else func(text)

    convert.__name__ = getattr(func, "__name__", "value")
    return convert


def _nullable(func):
    """Wrap an argparse type function so that ``null`` or ``~`` on the command line give None."""

    def convert(text: str):
        return None if text.strip().lower() in NULLS else func(text)

    convert.__name__ = getattr(func, "__name__", "value")
    return convert


def _metavar(tp: Any) -> str:
    """A short placeholder for a key's value in ``--help``: INT, FLOAT, STR, BOOL, CHOICE, LIST."""
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (Union, types.UnionType) and len(members) == 1:
        tp = members[0]
    if typing.get_origin(tp) is Literal:
        return "CHOICE"
    if typing.get_origin(tp) is list:
        return "VALUE [VALUE ...]"
    return getattr(tp, "__name__", "VALUE").upper()


def make_parser(job: str, sections: Sequence[Section], options: type | None = None, summary: str = ""):
    """An ``HfArgumentParser`` for ``dart-trl JOB``: a recipe path, every key of ``sections`` as an
    override, and the job's command-line ``options`` (a dataclass of flags that are not recipe keys).

    The class is made here because importing transformers takes over a second; a job imports it only
    when it parses its command line.
    """
    base = _hf_argument_parser()

    class RecipeParser(base):
        """``HfArgumentParser`` (its field-to-option translation) with YAML-valued keys, ``null``
        overrides, keys shared by sections, help with types and defaults, and one-line errors."""

        def __init__(self) -> None:
            self.resolved = [s.shadow() if isinstance(s, LazySection) else s for s in sections]
            self.key_types: dict[str, Any] = {}
            self.option_names: set[str] = set()
            argparse.ArgumentParser.__init__(
                self,
                prog=f"dart-trl {job}",
                usage=f"dart-trl {job} RECIPE.yaml [--key value ...]" if sections else None,
                description=summary,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog=_nested_help(self.resolved),
                allow_abbrev=False,  # `--learning_rat` is a typo to report, not a prefix of learning_rate
            )
            self.where = "command line"
            if sections:
                self.add_argument("recipe", help="recipe file, or the name of a shipped recipe")
            if options is not None:
                self._add_fields(options, "command-line options (not recipe keys)", is_option=True)
            for cls in self.resolved:
                doc = (cls.__doc__ or "").strip().split("\n")[0].rstrip(".")
                self._add_fields(cls, f"{cls.__name__}: {doc}" if doc else cls.__name__)
            self.add_argument("--traceback", action="store_true", help="print the traceback of an error too")
            if sections:
                self.add_argument(
                    "--check", action="store_true", help="check the recipe and its files, then stop"
                )

        def _add_fields(self, cls: type, title: str, is_option: bool = False) -> None:
            group = self.add_argument_group(title)
            for field in dataclasses.fields(cls):
                if not field.init or field.name in self.key_types or field.name in self.option_names:
                    continue  # a key several sections share is one option; its value goes to each
                tp = _effective_type(field, field_types(cls)[field.name])
                if is_option:
                    self.option_names.add(field.name)
                else:
                    self.key_types[field.name] = tp
                default = _default_of(field)
                help_text = (field.metadata.get("help") or "").strip()
                help_text += f" [{type_label(tp)}; default: {default!r}]"
                if field.metadata.get("positional"):
                    group.add_argument(
                        field.name, nargs="*", metavar=field.metadata["positional"], help=help_text
                    )
                elif _is_simple(tp) and "nargs" not in field.metadata:
                    field = copy.copy(field)  # HfArgumentParser reads the help and type from the field
                    field.metadata = types.MappingProxyType({**field.metadata, "help": help_text})
                    field.type = tp
                    before = len(self._actions)
                    self._parse_dataclass_field(group, field)
                    for action in self._actions[before:]:
                        action.metavar = action.metavar or _metavar(tp)
                        if action.type is not None and type(None) in typing.get_args(tp):
                            action.type = _nullable(action.type)
                        if action.nargs == "+" and action.type is not None:
                            action.type = _yaml_list_or(action.type)
                else:
                    group.add_argument(
                        f"--{field.name}",
                        type=None if "nargs" in field.metadata else _yaml_type,
                        nargs=field.metadata.get("nargs"),
                        metavar="YAML" if "nargs" not in field.metadata else "VALUE",
                        help=help_text,
                    )
            for action in self._actions:
                if action.dest in self.key_types or action.dest in self.option_names:
                    action.default, action.required = argparse.SUPPRESS, False

        def error(self, message: str):
            raise RecipeError(f"{self.where}: {message}")

    return RecipeParser()


def _yaml_list(value: Any, tp: Any, key: str, where: str) -> Any:
    """A list written YAML-style on the command line (``--report_to '[wandb, tensorboard]'``) as a list;
    argparse-style words (``--label_names a b``) stay as they are."""
    text = value[0] if isinstance(value, list) and len(value) == 1 else value
    if not (isinstance(text, str) and text.lstrip()[:1] == "[" and "list" in str(tp)):
        return value
    try:
        return parse_yaml_text(text)
    except ValueError as err:
        raise RecipeError(f"{where}: --{key}: {err}") from None


def _yaml_type(text: str) -> Any:
    return parse_yaml_text(text)


_yaml_type.__name__ = "YAML"


def _effective_type(field: dataclasses.Field, tp: Any) -> Any:
    """A field's type, with a ``choices`` list in its metadata (TRL's way) turned into a ``Literal``."""
    choices = field.metadata.get("choices")
    if not choices:
        return tp
    literal = Literal[tuple(choices)]
    return literal | None if type(None) in typing.get_args(tp) else literal


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _nested_types(sections: Sequence[type]) -> list[type]:
    found: list[type] = []

    def visit(tp: Any) -> None:
        if dataclasses.is_dataclass(tp) and tp not in found:
            found.append(tp)
            for sub in field_types(tp).values():
                visit(sub)
        for arg in typing.get_args(tp):
            visit(arg)

    for cls in sections:
        for tp in field_types(cls).values():
            visit(tp)
    return found


def _nested_help(sections: Sequence[type]) -> str:
    """Help for the entries of list-valued keys (pools, stages, benchmarks), one block per entry type."""
    blocks = []
    for cls in _nested_types(sections):
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        lines = [f"{cls.__name__} entries: {doc}"]
        for field in dataclasses.fields(cls):
            if not field.init or field.name == "overrides":
                continue
            tp = _effective_type(field, field_types(cls)[field.name])
            default = (
                "required"
                if _default_of(field) is None and field.default is dataclasses.MISSING
                else (f"default: {_default_of(field)!r}")
            )
            lines.append(f"  {field.name:<22} {field.metadata.get('help', '')} [{type_label(tp)}; {default}]")
        if hasattr(cls, "override_keys"):
            lines.append(f"  (and {cls.override_help})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def resolve_recipe_path(text: str) -> Path:
    """The recipe file: a path, or the name of a shipped recipe (``sft_prop2diff``)."""
    path = Path(text).expanduser()
    if path.exists():
        return path
    shipped = find_shipped("recipes", text)
    if shipped is not None:
        return shipped
    if "/" not in text and not text.endswith((".yaml", ".yml")):
        raise RecipeError(
            f"recipe '{text}' not found: not a file, nor a shipped recipe ({shipped_names('recipes')})"
        )
    return path


def parse_recipe(
    argv: Sequence[str] | None,
    job: str,
    sections: Sequence[Section],
    options: type | None = None,
) -> tuple[Recipe, Any]:
    """Parse ``RECIPE [--key value ...] [job options]`` into a :class:`Recipe` and the options dataclass.

    The recipe's ``env`` is exported. ``--help`` prints every key and exits.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser(job, sections, options)
    if {"-h", "--help"} & set(argv):
        parser.print_help()
        raise SystemExit(0)
    if not argv or argv[0].startswith("-"):
        raise RecipeError(f"usage: dart-trl {job} RECIPE.yaml [--key value ...]: the recipe path comes first")
    path = resolve_recipe_path(argv[0])
    parser.where = f"{path}: command line"
    namespace, unknown = parser.parse_known_args(argv)
    where = str(path)
    if unknown and not unknown[0].startswith("-"):
        raise RecipeError(f"{where}: unexpected argument '{unknown[0]}'; overrides are written --key value")
    if unknown:
        key = unknown[0].lstrip("-").split("=", 1)[0].replace("-", "_")
        raise RecipeError(
            f"{where}: unknown key '{key}' on the command line{closest_key(key, parser.key_types)}"
        )
    values: dict[str, Any] = {}
    for key, value in read_recipe_file(path).items():
        if key not in parser.key_types:
            raise RecipeError(f"{where}: unknown key '{key}'{closest_key(key, parser.key_types)}")
        values[key] = check_value(value, parser.key_types[key], where, key)
    for key, value in vars(namespace).items():
        if key in parser.key_types:
            tp = parser.key_types[key]
            values[key] = check_value(_yaml_list(value, tp, key, where), tp, f"{where}: command line", key)
    recipe = Recipe.build(path, values, parser.resolved)
    export_env(recipe)
    return recipe, _options(options, namespace, parser, where)


def _options(options: type | None, namespace: argparse.Namespace, parser, where: str) -> Any:
    if options is None:
        return None
    given = {k: v for k, v in vars(namespace).items() if k in parser.option_names}
    try:
        return options(**given)
    except ValueError as err:
        raise RecipeError(f"{where}: {' '.join(str(err).split())}") from None


def parse_options(argv: Sequence[str] | None, job: str, options: type, summary: str = "") -> Any:
    """Parse a job that takes no recipe (``compare``, ``demo``): its options dataclass from the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser(job, (), options, summary)
    if {"-h", "--help"} & set(argv):
        parser.print_help()
        raise SystemExit(0)
    namespace, unknown = parser.parse_known_args(argv)
    if unknown:
        key = unknown[0].lstrip("-").split("=", 1)[0].replace("-", "_")
        raise RecipeError(f"unknown option '{unknown[0]}'{closest_key(key, parser.option_names)}")
    return _options(options, namespace, parser, "command line")
