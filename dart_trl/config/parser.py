"""The one strict recipe loader: a YAML file, then ``--key value`` overrides, onto a job's sections.

Every key of every section is a ``--key`` option (``--key-name`` too), listed with its type, default and
help by ``dart-trl JOB --help``. A value, from the file or the command line, is checked against the key's
type by one routine (:func:`dart_trl.config.values.check_value`); a command-line value is read as YAML
first (``--env '{A: 1}'``, ``--report_to '[wandb, tensorboard]'``, ``--max_steps 20``), and as the text
it is when that does not fit (``--run_name 123`` is a name). A list key also takes words
(``--label_names a b``). Any problem is one line naming the file and the key, with the closest valid key
for a typo; the job stops with exit code 2. The key check uses the sections' cached key tables
(:mod:`dart_trl.config.keys`), so a bad key is rejected before TRL is imported; then the real config
classes are built, and their own checks run, before any model or dataset loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dart_trl.config.errors import RecipeError
from dart_trl.config.job import Job
from dart_trl.config.keys import Key, section_doc, section_keys, section_name, section_types
from dart_trl.config.recipe import Recipe, export_env
from dart_trl.config.resources import find_shipped, shipped_names
from dart_trl.config.values import check_value, closest_key, parse_yaml_text, read_recipe_file, type_label

NULLS = {"null", "~", ""}  # YAML's spellings of null ("none" is a value: report_to: none)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one :class:`RecipeError` line."""

    where = "command line"

    def error(self, message: str):
        raise RecipeError(f"{self.where}: {message}")


def _words(tp: Any) -> bool:
    """Whether a type is written as words on the command line: a scalar, a choice, or a list of them."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list or origin in (typing.Union, types.UnionType):
        return all(_words(a) for a in args)
    return tp in (bool, int, float, str, type(None)) or origin is typing.Literal


def _add_keys(parser: argparse.ArgumentParser, title: str, keys: dict[str, Key]) -> None:
    group = parser.add_argument_group(title)
    for key in keys.values():
        text = f"{key.help.strip()} [{type_label(key.type)}; default: {key.default!r}]".replace("%", "%%")
        if key.positional:
            group.add_argument(key.name, nargs="*", metavar=key.positional, help=text)
            continue
        flags = [f"--{key.name}"] + ([f"--{key.name.replace('_', '-')}"] if "_" in key.name else [])
        if bool in (key.type, *typing.get_args(key.type)):
            kind = {"nargs": "?", "const": "true", "metavar": "BOOL"}  # a bare --flag is true
        elif not _words(key.type):
            kind = {"metavar": "YAML"}  # a mapping, or a list of mappings: one YAML value
        elif "list" in str(key.type):
            kind = {"nargs": "*", "metavar": "VALUE"}
        else:
            kind = {"metavar": "VALUE"}
        group.add_argument(*flags, dest=key.name, default=argparse.SUPPRESS, help=text, **kind)


def _nested_help(sections: Sequence[Any]) -> str:
    """Help for the entries of list-valued keys (pools, stages, benchmarks), one block per entry type."""
    blocks, seen = [], set()

    def visit(tp: Any) -> None:
        if dataclasses.is_dataclass(tp) and tp not in seen:
            seen.add(tp)
            lines = [f"{tp.__name__} entries: {section_doc(tp)}"]
            for key in section_keys(tp).values():
                if key.name != "overrides":
                    lines.append(
                        f"  {key.name:<22} {key.help} [{type_label(key.type)}; default: {key.default!r}]"
                    )
            if hasattr(tp, "override_help"):
                lines.append(f"  (and {tp.override_help})")
            blocks.append("\n".join(lines))
            for sub in section_types(tp).values():
                visit(sub)
        for arg in typing.get_args(tp):
            visit(arg)

    for section in sections:
        for tp in section_types(section).values():
            visit(tp)
    return "\n\n".join(blocks)


def make_parser(job: Job, summary: str = "") -> tuple[_Parser, dict[str, Key], dict[str, Key]]:
    """The ``dart-trl JOB`` parser, the recipe keys of the job's sections and its command-line options.

    A key several sections share is one option; its value goes to each of them.
    """
    parser = _Parser(
        prog=f"dart-trl {job.name}",
        usage=f"dart-trl {job.name} RECIPE.yaml [--key value ...]" if job.sections else None,
        description=summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_nested_help(job.sections),
        allow_abbrev=False,  # `--learning_rat` is a typo to report, not a prefix of learning_rate
    )
    if job.sections:
        parser.add_argument("recipe", help="recipe file, or the name of a shipped recipe")
    options = section_keys(job.options) if job.options else {}
    if options:
        _add_keys(parser, "command-line options (not recipe keys)", options)
    keys: dict[str, Key] = {}
    for section in job.sections:
        own = {k: v for k, v in section_keys(section).items() if k not in keys and k not in options}
        keys.update(own)
        doc = section_doc(section)
        _add_keys(parser, f"{section_name(section)}: {doc}" if doc else section_name(section), own)
    parser.add_argument("--traceback", action="store_true", help="print the traceback of an error too")
    if job.sections:
        parser.add_argument("--check", action="store_true", help="check the recipe and its files, then stop")
    return parser, keys, options


def _yaml(text: str, name: str, where: str) -> Any:
    """A command-line text read as YAML (``null`` is None; a comment-like text stays text)."""
    try:
        value = parse_yaml_text(text)
    except ValueError as err:
        if text.lstrip()[:1] in "[{":
            raise RecipeError(f"{where}: --{name}: {err}") from None
        return text
    return text if value is None and text.strip() not in NULLS else value


def from_command_line(given: str | list[str], key: Key, where: str) -> Any:
    """A command-line value of ``key``: read as YAML when that fits the key's type, else as text."""
    if isinstance(given, list) and len(given) == 1 and given[0].lstrip().startswith("["):
        given = given[0]  # a YAML list written as one word
    if isinstance(given, list):
        candidates = [[_yaml(t, key.name, where) for t in given], given]
    else:
        candidates = [_yaml(given, key.name, where), given]
    try:
        return check_value(candidates[0], key.type, where, key.name)
    except RecipeError as first:
        try:
            return check_value(candidates[1], key.type, where, key.name)
        except RecipeError:
            raise first from None


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


def _parse(parser: _Parser, argv: list[str], valid: dict[str, Key], where: str) -> dict[str, Any]:
    """The command line's values, converted; an unknown option names the closest valid one."""
    namespace, unknown = parser.parse_known_args(argv)
    if unknown and not unknown[0].startswith("-"):
        raise RecipeError(f"{where}: unexpected argument '{unknown[0]}'; overrides are written --key value")
    if unknown:
        name = unknown[0].lstrip("-").split("=", 1)[0].replace("-", "_")
        raise RecipeError(f"{where}: unknown key '{name}' on the command line{closest_key(name, valid)}")
    return vars(namespace)


def _options(job: Job, given: dict[str, Any], options: dict[str, Key], where: str) -> Any:
    """The job's command-line options dataclass (None when it has none)."""
    if job.options is None:
        return None
    values = {k: from_command_line(v, options[k], where) for k, v in given.items() if k in options}
    try:
        return job.options(**values)
    except ValueError as err:
        raise RecipeError(f"{where}: {' '.join(str(err).split())}") from None


def parse_recipe(argv: Sequence[str] | None, job: Job) -> tuple[Recipe, Any]:
    """Parse ``RECIPE [--key value ...] [job options]`` into a :class:`Recipe` and the job's options.

    Keys and types are checked first, then the job's required keys, then the sections are built (their
    own checks run). The recipe's ``env`` is exported. ``--help`` prints every key and exits.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, keys, options = make_parser(job)
    if {"-h", "--help"} & set(argv):
        parser.print_help()
        raise SystemExit(0)
    if not argv or argv[0].startswith("-"):
        raise RecipeError(
            f"usage: dart-trl {job.name} RECIPE.yaml [--key value ...]: the recipe path comes first"
        )
    path = resolve_recipe_path(argv[0])
    where = parser.where = str(path)
    given = _parse(parser, argv, {**keys, **options}, where)
    values: dict[str, Any] = {}
    for key, value in read_recipe_file(path).items():
        if key not in keys:
            raise RecipeError(f"{where}: unknown key '{key}'{closest_key(key, keys)}")
        values[key] = check_value(value, keys[key].type, where, key)
    for key, value in given.items():
        if key in keys:
            values[key] = from_command_line(value, keys[key], f"{where}: command line")
    for key in job.required:
        if values.get(key) in (None, "", []):
            raise RecipeError(f"{where}: key '{key}' is required: {keys[key].help.strip()}")
    recipe = Recipe.build(path, values, job.sections)
    export_env(recipe)
    return recipe, _options(job, given, options, where)


def parse_options(argv: Sequence[str] | None, job: Job, summary: str = "") -> Any:
    """Parse a job that takes no recipe (``compare``, ``demo``): its options dataclass from the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, _, options = make_parser(job, summary)
    if {"-h", "--help"} & set(argv):
        parser.print_help()
        raise SystemExit(0)
    given = _parse(parser, argv, options, "command line")
    return _options(job, given, options, "command line")
