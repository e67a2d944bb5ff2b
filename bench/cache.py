"""Shared expensive artefacts (reference classifiers, real-data statistics, source-pretrained
models), built once and reused by every cell and every worker.

``cached(cache_dir, kind, key, build)`` returns the object stored under ``<cache_dir>/<kind>/
<hash(key)>.pt``; if it is missing, it takes a file lock, checks again (another worker may have
built it meanwhile), builds it, and writes it to a temporary file that is renamed into place — so
two workers never both build it and nobody reads half a file.

The lock is a ``filelock`` lock file beside the artefact, so it holds across processes (the
process pool, Ray tasks on one node) and across nodes only where the cache folder is on a shared
filesystem whose locks work. Every call returns its own object (just built, or loaded from disk),
never one shared between cells: a cell may fine-tune a cached source model without changing the
next cell's copy.

A build is announced on stderr with one line ("building the digits reference classifier (one
time, cached in …)" and its time when done) and logged in :data:`BUILDS`, so the driver can
report one-time build time apart from cell times (:mod:`bench.artefacts` builds what the cells
will need before the first one starts) and a cell that still builds one can record it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from filelock import FileLock

from bench.registry import check_name
from bench.store import atomic_write, stable_hash

T = TypeVar("T")


def artifact_path(cache_dir: Path, kind: str, key: dict[str, Any]) -> Path:
    check_name(kind, "artefact kind")
    return Path(cache_dir) / kind / f"{stable_hash(key)}.pt"


#: Every build in this process: {"kind", "what", "path", "seconds"}, in order.
BUILDS: list[dict[str, Any]] = []

_LABEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("augbench_artefact_label", default=None)


@contextlib.contextmanager
def label(what: str) -> Iterator[None]:
    """Name the artefacts built inside this block in progress lines (unless ``cached`` gets ``what``)."""
    token = _LABEL.set(what)
    try:
        yield
    finally:
        _LABEL.reset(token)


def say(line: str) -> None:
    """One progress line on stderr that does not break a progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def cached(cache_dir: Path, kind: str, key: dict[str, Any], build: Callable[[], T], what: str | None = None) -> T:
    """Load the artefact for ``key`` or build it once (under a file lock) and store it.

    ``what`` names it in the progress line ("the digits reference classifier"); default: the
    enclosing :func:`label`, else ``kind``."""
    path = artifact_path(cache_dir, kind, key)
    if path.is_file():
        return torch.load(path, weights_only=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return torch.load(path, weights_only=False)
        what = what or _LABEL.get() or f"a {kind} artefact"
        say(f"building {what} (one time, cached in {path.parent})")
        t0 = time.perf_counter()
        obj = build()
        seconds = time.perf_counter() - t0
        BUILDS.append({"kind": kind, "what": what, "path": str(path), "seconds": round(seconds, 2)})
        say(f"built {what} in {seconds:.1f} s")
        atomic_write(path, functools.partial(_save, obj))  # fsynced before the rename makes it visible
        return obj


def _save(obj: Any, tmp: Path) -> None:
    # through a file object, not the path: given a path, torch.save names the archive's inner folder
    # after the (random) temporary file, so the same artefact would come out as different bytes
    with open(tmp, "wb") as f:
        torch.save(obj, f)
