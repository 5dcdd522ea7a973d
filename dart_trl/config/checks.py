"""Cheap checks of the files a recipe names, run before anything heavy is imported or loaded."""

from __future__ import annotations

from pathlib import Path

from dart_trl.config.errors import RecipeError


def looks_local(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a Hub id (``org/name``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).expanduser().exists()


def check_model(name: str | None, where: str, key: str = "model_name_or_path") -> None:
    """A model is given, and a local one is a directory with a ``config.json``."""
    if not name:
        raise RecipeError(f"{where}: key '{key}' is required (a Hub id or a local model directory)")
    path = Path(name).expanduser()
    if looks_local(name) and not (path / "config.json").is_file():
        what = "has no config.json" if path.is_dir() else "does not exist"
        raise RecipeError(f"{where}: key '{key}': model directory {name} {what}")


def check_file(name: str | None, where: str, key: str) -> None:
    """A local file or directory named by ``key`` exists (Hub ids are left to the loader)."""
    if name and looks_local(name) and not Path(name).expanduser().exists():
        raise RecipeError(f"{where}: key '{key}': no such file or directory: {name}")
