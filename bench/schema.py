"""The written schema of a result record (one JSON file per finished cell).

``SCHEMA_VERSION`` is bumped whenever a field changes meaning. ``validate_record`` checks the
fields every consumer relies on; the store refuses to write a record that fails it.

Record fields
-------------
schema_version  int     this file's SCHEMA_VERSION
key             str     16 hex digits: hash of everything that determines the result (below)
status          str     "ok" or "failed"
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
"""

from __future__ import annotations

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
    if rec["status"] not in ("ok", "failed"):
        raise RecordError(f"record status must be 'ok' or 'failed', got {rec['status']!r}")
    if rec["status"] == "ok" and "accuracy" not in rec["metrics"]:
        raise RecordError("an ok record must carry metrics.accuracy")
    if rec["status"] == "failed" and not rec.get("error"):
        raise RecordError("a failed record must carry error")
    for field in ("name", "version", "config_hash"):
        if field not in rec["method"]:
            raise RecordError(f"record method lacks {field!r}")
    for field in ("shots", "seed"):
        if field not in rec["task"]:
            raise RecordError(f"record task lacks {field!r}")
    return rec
