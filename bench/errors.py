"""User-facing errors: one line that says what is wrong and what to do.

The CLI prints ``str(error)`` after ``error:`` and exits with ``exit_code``; no traceback is shown
for these, because they describe bad input, not a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """Bad input or a missing resource. The message is one line and says what to do."""

    exit_code = 2


class DatasetNotFound(BenchError):
    """A dataset's files are not where we looked; the message says how to get them."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for close matches of ``name``, else a list of the valid names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; choose from: " + ", ".join(choices) if choices else ""


class WriteError(BenchError):
    """A file could not be written (disk full, read-only, permissions); names the path and the free
    space. Records finished before it are intact: rerunning resumes."""


class Diverged(RuntimeError):
    """Training produced non-finite losses, weights or samples. ``run_cell`` records the cell as
    ``status: "diverged"`` with this message as the reason; its numbers never enter a table."""


def free_space(path) -> str:
    """Free space on the filesystem holding ``path`` (or its nearest existing parent), e.g. ``"1.2 GiB"``."""
    import os
    import shutil
    from pathlib import Path

    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if free < 1024 or unit == "TiB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1024
    return os.fspath(p)  # unreachable


def write_error(path, exc: OSError, what: str = "write") -> WriteError:
    """One line for an OSError while writing ``path``: what failed, the free space, what to do."""
    reason = exc.strerror or str(exc)
    return WriteError(f"cannot {what} {path}: {reason} ({free_space(path)} free there); finished records are "
                      "kept: free some space or fix the permissions, then rerun the same command to resume")
