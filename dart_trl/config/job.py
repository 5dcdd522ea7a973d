"""What a ``dart-trl`` subcommand is: adding a job means filling in a :class:`Job` in its module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    """A ``dart-trl`` job. Its module defines ``JOB = Job(...)``; ``dart-trl NAME`` runs ``main``.

    ``sections`` are the recipe's config dataclasses (a job without them takes no recipe, only
    ``options``); ``required`` the recipe keys that must be set; ``validate(recipe, options)`` the checks
    run before any model or data loads (also alone, by ``--check``); a training job names the module
    ``accelerate launch -m`` runs on each process (``launch_as``), after ``validate`` ran once here.
    """

    name: str
    main: Callable[[list[str]], int]
    sections: Sequence[Any] = ()
    options: type | None = None
    required: Sequence[str] = ()
    validate: Callable[[Any, Any], None] | None = None
    launch_as: str | None = None
