"""Files shipped inside the package: the recipes (``recipes/``) and accelerate configs (``launch/accelerate/``).

In a checkout, ``dart_trl/recipes`` and ``dart_trl/accelerate`` are links to those top-level folders; a
wheel carries copies, so an installed ``dart-trl`` finds them without the repository.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from dart_trl.config.errors import RecipeError


def shipped_dir(kind: str) -> Path:
    """The folder of shipped ``recipes`` or ``accelerate`` configs."""
    return Path(str(files("dart_trl") / kind))


def shipped_names(kind: str) -> list[str]:
    """Names (without ``.yaml``) of the shipped files of ``kind``."""
    return sorted(p.stem for p in shipped_dir(kind).glob("*.yaml"))


def find_shipped(kind: str, name: str) -> Path | None:
    """A shipped file by name, with or without ``.yaml``; None when there is none."""
    if "/" in name or not name:
        return None
    for candidate in (name, f"{name}.yaml"):
        path = shipped_dir(kind) / candidate
        if path.is_file():
            return path
    return None


def resolve_accelerate_config(name: str) -> Path:
    """An accelerate config: a path to a file, or the name of a shipped one (``zero3``, ``zero3.yaml``)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = find_shipped("accelerate", name)
    if shipped is None:
        raise RecipeError(
            f"accelerate_config '{name}' not found: not a file, nor one of {shipped_names('accelerate')}"
        )
    return shipped
