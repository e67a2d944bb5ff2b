"""The result store: one JSON record per finished cell, written atomically.

Layout: ``<results>/<suite>/<dataset>/<method>/shots<k>-seed<s>-<key>.json`` where ``key`` hashes
everything that determines the result (method name, version and config; dataset hash; shots;
seed; classifier config; test cap). Re-running a suite skips cells whose ``ok`` record exists;
failed records are retried. A record is written to a temporary file in the same folder and renamed
into place, so a reader never sees half a record and an interrupted run loses only the cell in
flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.schema import RecordError, validate_record


def stable_hash(obj: Any, n: int = 16) -> str:
    """sha256 of canonical JSON (sorted keys), ``n`` hex digits."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def readable_mode(fd: int) -> None:
    """Give a temporary file (mkstemp makes it 0600) the mode a plain open() would: 0666 & ~umask,
    so records and artefacts written atomically are as readable as any other output."""
    os.fchmod(fd, 0o666 & ~_umask())


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        readable_mode(fd)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def check_writable(self) -> None:
        """Fail early, with one line, if records could not be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BenchError(
                f"results dir {self.root} is not writable ({exc.strerror}); pass --results-dir DIR "
                "with a folder you can write to"
            ) from None

    def path_for(self, suite: str, dataset: str, method: str, shots: int, seed: int, key: str) -> Path:
        return self.root / suite / dataset / method / f"shots{shots}-seed{seed}-{key}.json"

    def load(self, path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_done(self, path: Path) -> bool:
        rec = self.load(path)
        return rec is not None and rec.get("status") == "ok"

    def write(self, path: Path, record: dict[str, Any]) -> None:
        validate_record(record)
        atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True, default=_json_default) + "\n")

    def records(self, suite: str | None = None) -> Iterator[dict[str, Any]]:
        """Every readable, valid record under the suite folder (or the whole root)."""
        base = self.root / suite if suite else self.root
        for path in sorted(base.rglob("*.json")):
            rec = self.load(path)
            if rec is None:
                continue
            try:
                validate_record(rec)
            except RecordError:
                continue
            rec["_path"] = str(path)
            yield rec


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
