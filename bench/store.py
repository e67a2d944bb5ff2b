"""The result store: one JSON record per finished cell, written atomically.

Layout: ``<results>/<suite>/<dataset>/<method>/shots<k>-seed<s>-<key>.json`` where ``key`` hashes
everything that determines the result (method name, version and config; dataset hash; shots;
seed; classifier config; test cap). Re-running a suite skips cells whose ``ok`` or ``diverged``
record exists; failed records are retried. A record is written to a temporary file in the same
folder and renamed into place, so a reader never sees half a record and an interrupted run loses
only the cell in flight.

Faults, and what happens (issue 14):

* A record file that fails :func:`bench.schema.read_record` (not UTF-8, not JSON, a required field
  missing) is never "done": ``bench run`` moves it aside to ``<file>.corrupt`` (bytes kept), says so
  in one line, and reruns the cell; ``bench report`` skips it and names it (:attr:`ResultStore.skipped`).
* Temporary files carry the writer's pid (``.<name>.<pid>.XXXX.tmp``); a run removes those of
  writers that are no longer alive (and pid-less ones older than an hour) before it starts.
* A cell being computed is *claimed*: an exclusive ``flock`` on ``<record>.lock`` (the kernel
  releases it when the process dies, so a killed run's claims are free again). A second run that
  finds a cell claimed skips it and says so, so no cell is ever computed twice at once.
* A write that fails (disk full, read-only) raises :class:`bench.errors.WriteError`: one line
  naming the path and the free space; records written before are intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.errors import BenchError, write_error
from bench.schema import RecordError, read_record, strict_json, validate_record

DONE = ("ok", "diverged")  # statuses a rerun skips (failed cells are retried)
TMP_RE = re.compile(r"^\.(?P<name>.+?)\.(?:p(?P<pid>\d+)\.)?[^.]+\.tmp$")
STALE_TMP_S = 3600.0  # a pid-less temp file (older augbench) this old is a leftover


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


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write(tmp)`` make the file at a temporary path in ``path``'s folder, then rename it into
    place, so a reader (another run writing the same report, a browser) sees the old file or the
    new one, never half of one. ``write`` must not infer the format from the name: the temporary
    file ends in ``.tmp``. An OSError (disk full, read-only, permissions) becomes one-line
    :class:`~bench.errors.WriteError`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.p{os.getpid()}.", suffix=".tmp", dir=path.parent)
        readable_mode(fd)
        os.close(fd)
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # never leave the temporary file behind
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`: a temporary file, fsync and a
    rename; an OSError (disk full, read-only, permissions) becomes one-line
    :class:`~bench.errors.WriteError`."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def stale_temp_files(base: Path, now: float | None = None) -> list[Path]:
    """Temporary files under ``base`` left by writers that died mid-write (see the module doc)."""
    now = time.time() if now is None else now
    out = []
    for p in Path(base).rglob(".*.tmp"):
        m = TMP_RE.match(p.name)
        if not m:
            continue
        try:
            if m["pid"] is not None:
                stale = int(m["pid"]) != os.getpid() and not _pid_alive(int(m["pid"]))
            else:
                stale = now - p.stat().st_mtime > STALE_TMP_S
        except OSError:
            continue
        if stale:
            out.append(p)
    return out


class Claim:
    """An exclusive, non-blocking claim on one cell: ``flock`` on ``<record>.lock``, holding our pid.

    ``Claim.take(path)`` returns the claim, or None when another live process holds it. The kernel
    drops the lock when its process dies, so a killed run's claims are free at once. The lock file
    is removed on release; a taker checks that the file it locked is still the one at the path
    (same inode), so a release racing with a take never yields two holders.
    """

    def __init__(self, lock_path: Path, fd: int) -> None:
        self.lock_path, self.fd = lock_path, fd

    @staticmethod
    def lock_path(path: Path) -> Path:
        return Path(path).with_name(Path(path).name + ".lock")

    @classmethod
    def take(cls, path: Path) -> Claim | None:
        import fcntl

        lock = cls.lock_path(path)
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return cls(lock, fd)
            os.close(fd)  # the holder released and removed it between our open and lock: retry

    @staticmethod
    def holder(path: Path) -> str:
        """The pid written in a claim's lock file ("?" if unreadable)."""
        try:
            return Claim.lock_path(path).read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            self.lock_path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self.fd)  # closing drops the flock
        self.fd = -1

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def warn_stderr(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def check_writable(folder: Path, what: str, flag: str) -> None:
    """Fail early, with one line, if files could not be written into ``folder`` (created if need be)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BenchError(f"{what} {folder} is not writable ({exc.strerror}); pass {flag} DIR "
                         "with a folder you can write to") from None


class ResultStore:
    def __init__(self, root: str | os.PathLike, warn: Callable[[str], None] = warn_stderr) -> None:
        self.root = Path(root)
        self.warn = warn
        self.skipped: list[tuple[Path, str]] = []  # (file, reason) that records() left out

    def check_writable(self) -> None:
        """Fail early, with one line, if records could not be written."""
        check_writable(self.root, "results dir", "--results-dir")

    def invalid_files(self, suite: str | None = None) -> list[tuple[Path, str]]:
        """``(file, reason)`` for every ``*.json`` under the suite that is not a valid record."""
        for _ in self.records(suite):
            pass
        return list(self.skipped)

    def path_for(self, suite: str, dataset: str, method: str, shots: int, seed: int, key: str) -> Path:
        return self.root / suite / dataset / method / f"shots{shots}-seed{seed}-{key}.json"

    def load(self, path: Path) -> dict[str, Any] | None:
        """The valid record at ``path``, or None (missing, unreadable or invalid; left in place)."""
        try:
            return read_record(path)
        except (OSError, RecordError):
            return None

    def is_done(self, path: Path) -> bool:
        rec = self.load(path)
        return rec is not None and rec.get("status") in DONE

    def lookup(self, path: Path) -> dict[str, Any] | None:
        """The valid record at ``path``, or None. A file there that is not a valid record is moved
        aside to ``<file>.corrupt`` (bytes kept) with one warning line, so the cell reruns."""
        try:
            return read_record(path)
        except FileNotFoundError:
            return None
        except (OSError, RecordError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            aside = self.quarantine(path)
            self.warn(f"record {path} is unreadable ({reason}); moved it to {aside.name} and will rerun the cell")
            return None

    def quarantine(self, path: Path) -> Path:
        aside = path.with_name(path.name + ".corrupt")
        i = 1
        while aside.exists():
            i += 1
            aside = path.with_name(f"{path.name}.corrupt{i}")
        try:
            os.replace(path, aside)
        except OSError as exc:
            raise write_error(aside, exc, "move an unreadable record aside to") from None
        return aside

    def clean_temp_files(self, base: Path | None = None) -> list[Path]:
        """Remove temporary files of writers that died mid-write (a kill during a record write)."""
        removed = []
        for p in stale_temp_files(base or self.root):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
        for lock in Path(base or self.root).rglob("*.json.lock"):  # claims of killed runs: free, so take and drop
            claim = Claim.take(lock.with_name(lock.name[:-len(".lock")]))
            if claim is not None:
                claim.release()
        return removed

    def write(self, path: Path, record: dict[str, Any]) -> None:
        """Write ``record`` atomically as strict JSON: NaN/±inf become null, their paths listed in
        ``nonfinite``."""
        validate_record(record)
        plain = json.loads(json.dumps(record, default=_json_default))  # numpy/torch/Path -> JSON types
        clean, bad = strict_json(plain)
        if bad:
            clean["nonfinite"] = sorted(set(clean.get("nonfinite") or []) | set(bad))
        atomic_write_text(path, json.dumps(clean, indent=1, sort_keys=True, allow_nan=False) + "\n")

    def records(self, suite: str | None = None) -> Iterator[dict[str, Any]]:
        """Every valid record under the suite folder (or the whole root); files that are not valid
        records are left out and listed in :attr:`skipped` with the reason."""
        base = self.root / suite if suite else self.root
        self.skipped = []
        for path in sorted(base.rglob("*.json")):
            try:
                rec = read_record(path)
            except (OSError, RecordError) as exc:
                self.skipped.append((path, exc.strerror if isinstance(exc, OSError) else str(exc)))
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
