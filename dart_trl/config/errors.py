"""Bad input as one line: the error every check raises, and the guard that prints it with exit code 2."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence


class RecipeError(ValueError):
    """A recipe, a command-line override or an input file is malformed. The message is one readable line."""


def run_guarded(name: str, func: Callable[[list[str]], int | None], argv: Sequence[str]) -> int:
    """Call ``func(argv)``, turning a :class:`RecipeError` into one line on stderr and exit code 2.

    The traceback is printed too when ``--traceback`` is among the arguments.
    """
    try:
        return int(func(list(argv)) or 0)
    except RecipeError as err:
        if "--traceback" in argv:
            traceback.print_exc()
        print(f"dart-trl {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
