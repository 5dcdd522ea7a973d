"""Cheap checks of the files a recipe names, run before anything heavy is imported or loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dart_trl.config.errors import RecipeError


def looks_local(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a Hub id (``org/name``): it starts with ``.``,
    ``/`` or ``~``, has more than one ``/``, or it (or its first part, ``outputs`` of ``outputs/x``) exists here."""
    path = Path(name).expanduser()
    first_part_exists = bool(path.parts) and Path(path.parts[0]).exists()
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or path.exists() or first_part_exists


def check_model(name: str | None, where: str, key: str = "model_name_or_path") -> None:
    """A model is given, and a local one is a directory with a ``config.json``."""
    if not name:
        raise RecipeError(f"{where}: key '{key}' is required (a Hub id or a local model directory)")
    path = Path(name).expanduser()
    if looks_local(name) and not (path / "config.json").is_file():
        what = "has no config.json" if path.is_dir() else "does not exist"
        raise RecipeError(f"{where}: key '{key}': model directory {name} {what}")


def check_file(name: str | None, where: str, key: str, required: bool = False) -> None:
    """A local file or directory named by ``key`` exists (Hub ids are left to the loader); with
    ``required``, the key must be set."""
    if required and not name:
        raise RecipeError(f"{where}: key '{key}' is required (a Hub id or a local file or directory)")
    if name and looks_local(name) and not Path(name).expanduser().exists():
        raise RecipeError(f"{where}: key '{key}': no such file or directory: {name}")


def check_attention(attn_implementation: str | None, where: str) -> None:
    """``attn_implementation: flash_attention_2`` needs the flash-attn package installed."""
    if attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise RecipeError(
            f"{where}: attn_implementation flash_attention_2 needs flash-attn, which is not installed "
            "(install it, or set attn_implementation: sdpa)"
        )
