"""Plans a run before any work starts: every dataset and cell is loaded and checked (bad input
fails fast, settings errors point at the suite file's line), and each cell is mapped to its record
file. The record key (:func:`cell_key`) hashes everything that determines a cell's result, so a
rerun finds the cells already done; :mod:`bench.runner` runs what the :class:`Plan` lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.context import RunOptions
from bench.datasets import ImageDataset, load_dataset
from bench.errors import BenchError
from bench.method import METHODS, key_config
from bench.schema import SCHEMA_VERSION
from bench.store import ResultStore, stable_hash
from bench.suite import Cell, Suite, split_variant
from bench.training import classifier_config, classifier_key


def precision(amp: bool) -> str:
    return "bf16-autocast" if amp else "fp32"


def cell_key(cell: Cell, ds: ImageDataset, amp: bool = False) -> tuple[str, dict[str, Any]]:
    """The record key: a hash of everything that determines the cell's result. A variant
    (``method@label``) keys as its method plus ``variant``: plain methods' keys are unchanged."""
    base, label = split_variant(cell.method)
    cls = METHODS.get(base)
    config = key_config(cls.make_config(cell.preset, cell.method_overrides))
    clf = classifier_key(classifier_config(cell.classifier, cell.classifier_overrides))
    parts = {
        "method": base, "method_version": cls.version, "method_config": config,
        "dataset_hash": ds.hash, "shots": cell.shots, "seed": cell.seed,
        "classifier": None if cls.capabilities.own_classifier else clf, "test_cap": cell.test_cap,
        "schema": SCHEMA_VERSION,
    }
    if amp:  # only when on, so full-precision keys (and existing records) are unchanged
        parts["precision"] = precision(amp)
    if label is not None:
        parts["variant"] = label
    return stable_hash(parts), parts


def record_path(store: ResultStore, cell: Cell, ds: ImageDataset, amp: bool = False) -> Path:
    return store.path_for(cell.suite, ds.name, cell.method, cell.shots, cell.seed, cell_key(cell, ds, amp)[0])


def check_sources(cells: list[Cell], ds: ImageDataset, options: RunOptions) -> None:
    """Every method (or variant) with a transfer ``source`` setting has one for ``ds`` that exists
    and is allowed."""
    from bench.sources import check_source

    seen = set()
    for cell in cells:
        job = (cell.method, cell.preset, repr(sorted(cell.method_overrides.items())))
        if job in seen:
            continue
        seen.add(job)
        cls = METHODS.get(split_variant(cell.method)[0])
        check_source(cls, cls.make_config(cell.preset, cell.method_overrides), ds, options.data_root, options.download)


def _settings_error(suite: Suite, cell: Cell, exc: BenchError) -> BenchError:
    """``exc`` prefixed with ``FILE:LINE:`` of the offending setting when the suite file holds it
    (a setting from a preset or the command line has no line to point at)."""
    owner, setting = getattr(exc, "owner", ""), getattr(exc, "setting", "")
    base, label = split_variant(cell.method)
    if owner == "classifier":
        section = "classifier_overrides"
    elif label is not None and setting in suite.variants.get(cell.method, {}):
        section = f'variants."{cell.method}"'
    else:
        section = f"method_overrides.{base}"
    where = suite.where(section, setting) if setting else ""
    return BenchError(f"{where}{exc}" if re.match(r".*:\d+: $", where) else str(exc))


class Plan(list):
    """The ``(cell, record path)`` jobs of a run, de-duplicated; ``duplicates`` counts the dropped."""

    def __init__(self, jobs: Iterable[tuple[Cell, Path]] = (), duplicates: int = 0) -> None:
        super().__init__(jobs)
        self.duplicates = duplicates


def plan(suite: Suite, options: RunOptions, store: ResultStore) -> Plan:
    """Load and check every dataset and cell before any work starts (bad input fails fast): seeds,
    shots, and every cell's method and classifier settings (types and ranges). Cells that map to
    the same record file (``--seeds 0,0``) appear once; ``Plan.duplicates`` counts the rest. A
    suite reporting on seeds a preset was tuned on is refused (:func:`bench.suite.check_tuned_seeds`)."""
    from bench.suite import check_tuned_seeds
    from bench.tasks import check_seed, check_shots

    check_tuned_seeds(suite)
    for s in suite.seeds:
        check_seed(s)
    out: dict[Path, Cell] = {}
    datasets = [load_dataset(name, options.data_root, options.download) for name in suite.datasets]
    for ds in datasets:
        for k in suite.shots:
            check_shots(ds, k)
    cells = suite.cells()
    for cell in cells:  # settings first: their errors point at the suite file's line
        try:
            METHODS.get(split_variant(cell.method)[0]).make_config(cell.preset, cell.method_overrides)
            classifier_config(cell.classifier, cell.classifier_overrides)
        except BenchError as exc:
            raise _settings_error(suite, cell, exc) from None
    for name, ds in zip(suite.datasets, datasets, strict=True):
        check_sources([c for c in cells if c.dataset == name], ds, options)
    for cell in cells:
        ds = load_dataset(cell.dataset, options.data_root, options.download)
        out.setdefault(record_path(store, cell, ds, options.amp), cell)
    return Plan([(cell, path) for path, cell in out.items()], duplicates=len(cells) - len(out))
