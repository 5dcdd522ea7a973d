"""Bad input as one line: the error every check raises, and the guard that prints it with exit code 2."""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable, Sequence

# A file system that refuses a write: full, over quota, read-only, not ours, or a file too large.
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


class RecipeError(ValueError):
    """A recipe, a command-line override or an input file is malformed. The message is one readable line."""


def run_guarded(name: str, func: Callable[[list[str]], int | None], argv: Sequence[str]) -> int:
    """Call ``func(argv)``, turning a :class:`RecipeError` into one line on stderr and exit code 2.

    A refused write (a full disk, a read-only output directory) is one line too: the jobs write their
    results append-only, so everything written before it is kept and a rerun continues from there. The
    traceback is printed too when ``--traceback`` is among the arguments.
    """
    try:
        return int(func(list(argv)) or 0)
    except RecipeError as err:
        return _fail(name, str(err), argv)
    except OSError as err:
        if err.errno not in WRITE_ERRORS:
            raise
        where = f" {err.filename}" if err.filename else ""
        return _fail(name, f"cannot write{where}: {err.strerror}; what was written before is kept", argv)
    except KeyboardInterrupt:
        return 130


def _fail(name: str, message: str, argv: Sequence[str]) -> int:
    if "--traceback" in argv:
        traceback.print_exc()
    print(f"dart-trl {name}: error: {message}", file=sys.stderr)
    return 2
