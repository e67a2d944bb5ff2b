"""The written schema of a result record (one JSON file per finished cell).

``SCHEMA_VERSION`` is bumped whenever a field changes meaning. ``validate_record`` checks the
fields every consumer relies on; the store refuses to write a record that fails it.

Record fields
-------------
schema_version  int     this file's SCHEMA_VERSION
key             str     16 hex digits: hash of everything that determines the result (below)
status          str     "ok", "failed" (an exception; retried on rerun) or "diverged" (non-finite losses, weights
                        or samples; deterministic, so not retried without --force; never enters a table)
suite           str     suite name (the results sub-folder)
suite_info      dict    description (what the suite is) and derived_from: for an ad-hoc run (``bench run``
                        with other datasets, methods, shots, seeds, preset or source than its suite) the
                        suite it started from, else null; optional (older records lack it)
method          dict    name, version, preset, config (resolved dataclass), config_hash, capabilities
dataset         dict    name, spec, hash, source, image_shape, num_classes, classes (class names in label
                        order: folder names for folder:PATH), n_train, n_pool, n_test, test_cap
task            dict    shots, seed, labelled_fingerprint (equal for every method of a cell)
classifier      dict    preset, config, config_hash; null for methods with their own classifier
metrics         dict    accuracy, per_class_accuracy, n_test, plus method/metric extras; generating methods
                        add fid_/kid_/kid_norm_x1e3_/is_/precision_/recall_/density_/coverage_<extractor>,
                        memorisation_ratio and cas (bench.metrics.generation)
details         dict    what the method reports about itself (resolved policy, parameter counts, …);
                        ``generation``: n_gen and, per extractor, dims, n_real, … or {"skipped": reason}
timings         dict    seconds: fit_s, generate_s, train_s, eval_s, metrics_s, total_s
memory          dict    peak_rss_mb, rss_start_mb, cuda_peak_mb (null on CPU)
cost            dict    classifier_trainable_params (downstream classifier after any freezing; null
                        for own-classifier methods), method_trainable_params (details' trainable_params:
                        what the method trains itself, e.g. an autoencoder or a source model)
precision       str     "fp32", or "bf16-autocast" with --amp (then also part of the key); optional
environment     dict    python, platform, cpu_model, cpu_count, packages {name: version}, git_commit, git_dirty,
                        device, device_name (the GPU, or the CPU model), threads, host
started_at      str     ISO 8601 UTC
finished_at     str     ISO 8601 UTC
error           dict    type, message, traceback; null when status is "ok"
nonfinite       list    optional: dotted paths of numbers that were NaN/±inf and are written as null (records
                        are strict JSON, ``allow_nan=False``), e.g. ``metrics.per_class_accuracy[3]``

Readers: :func:`read_record` decides whether a file holds a record ("done" depends on it); a file
that is not UTF-8, not JSON or fails :func:`validate_record` raises :class:`RecordError` naming why.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "key": str,
    "status": str,
    "suite": str,
    "method": dict,
    "dataset": dict,
    "task": dict,
    "metrics": dict,
    "details": dict,
    "timings": dict,
    "memory": dict,
    "environment": dict,
    "started_at": str,
    "finished_at": str,
}


STATUSES = ("ok", "failed", "diverged")


class RecordError(ValueError):
    pass


def validate_record(rec: dict[str, Any]) -> dict[str, Any]:
    for field, typ in REQUIRED.items():
        if field not in rec:
            raise RecordError(f"record lacks field {field!r}")
        if not isinstance(rec[field], typ):
            raise RecordError(f"record field {field!r} must be {typ}, got {type(rec[field]).__name__}")
    if rec["schema_version"] != SCHEMA_VERSION:
        raise RecordError(f"record schema_version {rec['schema_version']} != {SCHEMA_VERSION}")
    if rec["status"] not in STATUSES:
        raise RecordError(f"record status must be one of {', '.join(STATUSES)}, got {rec['status']!r}")
    if rec["status"] == "ok":
        acc = rec["metrics"].get("accuracy")
        if isinstance(acc, bool) or not isinstance(acc, int | float) or not 0 <= acc <= 1:
            raise RecordError(f"an ok record must carry metrics.accuracy in [0, 1], got {acc!r}")
    elif not isinstance(rec.get("error"), dict):
        raise RecordError(f"a {rec['status']} record must carry error")
    for field in ("name", "version", "config_hash"):
        if field not in rec["method"]:
            raise RecordError(f"record method lacks {field!r}")
    for field in ("shots", "seed"):
        if field not in rec["task"]:
            raise RecordError(f"record task lacks {field!r}")
    return rec


def read_record(path: Path) -> dict[str, Any]:
    """The valid record in ``path``; :class:`RecordError` (the reason, one line) if the file is not
    UTF-8, not a JSON object or fails :func:`validate_record`. ``OSError`` if it cannot be read."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(rec, dict):
        raise RecordError(f"not a JSON object but {type(rec).__name__}")
    return validate_record(rec)


def strict_json(obj: Any, where: str = "") -> tuple[Any, list[str]]:
    """``obj`` with every non-finite float replaced by None, and the dotted paths replaced, so the
    record can be written with ``allow_nan=False`` (NaN/Infinity are not JSON)."""
    bad: list[str] = []

    def walk(o: Any, at: str) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            bad.append(at)
            return None
        if isinstance(o, dict):
            return {k: walk(v, f"{at}.{k}" if at else str(k)) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [walk(v, f"{at}[{i}]") for i, v in enumerate(o)]
        return o

    return walk(obj, where), bad
