"""Reading one field of a table row: a column, or a dotted path into a nested column.

Hub datasets nest metadata (``query_metadata: {level: 3}``), and some store the nested dict as text
(``"{'level': 3}"``, a Python dict literal). :class:`FieldPath` reads both: a nested value that is text
is parsed as JSON or with ``ast.literal_eval`` (literals only; nothing is ever evaluated).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING = object()  # what FieldPath.read returns when the column or a nested key is absent
MAX_LITERAL_CHARS = 100_000  # longer text is not parsed as a nested dict


def parse_mapping(value: Any) -> dict | None:
    """``value`` as a dict: a mapping as it is, text holding a JSON object or a Python dict literal
    parsed (``json.loads``, then ``ast.literal_eval``); anything else None."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or len(value) > MAX_LITERAL_CHARS or not value.lstrip().startswith("{"):
        return None
    text = value.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


@dataclass(frozen=True)
class FieldPath:
    """A column of a table, and the keys leading into its nested value (none for a plain column)."""

    column: str
    keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, columns: list[str]) -> FieldPath:
        """The path that ``name`` means in a table with ``columns``: a column of that exact name, else a
        dotted path ``column.key[.key...]``."""
        if name in columns or "." not in name:
            return cls(name)
        column, *keys = name.split(".")
        return cls(column, tuple(keys))

    @property
    def name(self) -> str:
        """The path as written in a recipe."""
        return ".".join((self.column, *self.keys))

    def read(self, row: Mapping[str, Any]) -> Any:
        """The value at this path in ``row``, or :data:`MISSING` when the column or a key is absent."""
        value = row.get(self.column, MISSING)
        for key in self.keys:
            mapping = None if value is MISSING else parse_mapping(value)
            if mapping is None or key not in mapping:
                return MISSING
            value = mapping[key]
        return value

    def missing_reason(self, rows: list[Mapping[str, Any]]) -> str | None:
        """Why this nested path matches none of ``rows`` (the keys found instead), or None if it matches one."""
        if not self.keys or not rows or any(self.read(r) is not MISSING for r in rows):
            return None
        for depth in range(len(self.keys)):
            prefix = FieldPath(self.column, self.keys[:depth])
            mappings = [m for m in (parse_mapping(prefix.read(r)) for r in rows) if m is not None]
            if not mappings:
                first = prefix.read(rows[0])
                shown = "absent" if first is MISSING else repr(first)[:60]
                return f"'{prefix.name}' holds no mapping (first row: {shown})"
            if not any(self.keys[depth] in m for m in mappings):
                keys = sorted({str(k) for m in mappings for k in m})
                return f"'{prefix.name}' has no key '{self.keys[depth]}'; keys found: {keys}"
        return f"'{self.name}' is absent from every row checked"
