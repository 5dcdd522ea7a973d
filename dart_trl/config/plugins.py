"""Objects named by a dotted import path in a recipe: a strategy, a reward or a sampler of one's own."""

from __future__ import annotations

import importlib
from typing import Any


def is_import_path(name: str) -> bool:
    """Whether ``name`` looks like ``package.module.attribute`` or ``package.module:attribute``."""
    return ":" in name or "." in name


def import_object(path: str) -> Any:
    """Import ``package.module.attribute`` (or ``package.module:attribute``); ValueError names what failed."""
    module_name, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not sep or not module_name or not attr:
        raise ValueError(f"'{path}' is not an import path like 'my_pkg.module.name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"'{path}': cannot import module '{module_name}': {err}") from None
    if not hasattr(module, attr):
        raise ValueError(f"'{path}': module '{module_name}' has no attribute '{attr}'")
    return getattr(module, attr)
