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
