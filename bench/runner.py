"""Runs cells: one cell = draw the few-shot task, let the method work, train the fixed downstream
classifier, evaluate, and return one record (what a cell is given, the run's options and the
method's services, is :mod:`bench.context`). The suite loop skips finished cells, keeps going past
failed ones, and writes each record atomically as soon as it is done; *how* the cells run (in this
process, on a pool of processes, as Ray tasks) is an executor's job (:mod:`bench.executors`).

Mixed precision (``RunOptions.amp``, ``bench run --amp``) is off by default so CPU and GPU records
stay comparable. When on, the whole cell (method hooks, classifier training, evaluation) runs
under ``torch.autocast`` with bfloat16 — bfloat16 rather than float16 because it needs no gradient
scaler in the classifier's or the methods' training loops. It is written in the record
(``precision``) and is part of the cell key, so amp and full-precision records never mix."""

from __future__ import annotations

import random
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.cell_checks import check_classifier_finite, check_generated, check_not_collapsed, pool_label_scorer
from bench.context import MethodContext, RunOptions  # re-exported: callers import both from here
from bench.datasets import load_dataset
from bench.environment import PeakMemory, environment
from bench.errors import Diverged
from bench.executors import Executor
from bench.method import METHODS, FitData, Method, config_dict
from bench.nets import count_parameters
from bench.plan import cell_key, plan, precision
from bench.sample_filter import filter_samples
from bench.schema import SCHEMA_VERSION
from bench.store import DONE, Claim, ResultStore, stable_hash
from bench.suite import Cell, Suite, split_variant
from bench.tasks import derive_seed, draw_task
from bench.training import (
    classifier_config,
    classifier_key,
    evaluate,
    make_classifier,
    model_predictor,
    train_classifier,
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


AMP_DTYPE = torch.bfloat16


def run_cell(cell: Cell, options: RunOptions, path: Path | None = None) -> dict[str, Any]:
    """Run one cell and return its record; an exception inside becomes a ``failed`` record.

    ``path`` is where the record will be written; files that belong to the cell (sample grids)
    are written beside it with the same stem.
    """
    from bench.cache import BUILDS

    started, t_start, builds_before = now(), time.perf_counter(), len(BUILDS)
    ds = load_dataset(cell.dataset, options.data_root, options.download)
    task = draw_task(ds, cell.shots, cell.seed, cell.test_cap)
    base, label = split_variant(cell.method)
    cls: type[Method] = METHODS.get(base)
    config = cls.make_config(cell.preset, cell.method_overrides)
    clf_cfg = classifier_config(cell.classifier, cell.classifier_overrides)
    key, _ = cell_key(cell, ds, options.amp)
    caps = cls.capabilities
    device = options.device
    timings: dict[str, float] = {"fit_s": 0.0, "generate_s": 0.0, "train_s": 0.0, "eval_s": 0.0, "metrics_s": 0.0}
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {}
    cost: dict[str, Any] = {"classifier_trainable_params": None, "method_trainable_params": None}
    error = None
    mem = PeakMemory(device)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        with mem, torch.autocast(device.type, dtype=AMP_DTYPE, enabled=options.amp):
            method_seed = derive_seed("method", ds.hash, cell.shots, cell.seed, base)  # variants share it
            # the classifier's initial weights and batch order: the same for every method of the cell
            clf_seed = derive_seed("classifier", ds.hash, cell.shots, cell.seed)
            batch_seed = derive_seed("batches", ds.hash, cell.shots, cell.seed)
            seed_everything(method_seed)
            ctx = MethodContext(device, method_seed, ds.image_shape, ds.num_classes, clf_cfg, options, ds,
                                score_pool_labels=pool_label_scorer(task) if caps.uses_pool else None)
            method = cls(config, ctx)
            data = FitData(task.x, task.y, ds.classes, ds.image_shape, ds.family,
                           pool_x=task.pool_x if caps.uses_pool else None)
            t = time.perf_counter()
            method.fit(data)
            timings["fit_s"] = time.perf_counter() - t

            extra = None
            if caps.generates:
                t = time.perf_counter()
                extra = method.generate(config.n_per_class)
                check_generated(*extra, task)
                check_not_collapsed(extra[0], caps)
                timings["generate_s"] = time.perf_counter() - t
            used = extra
            if extra is not None and config.filter_confidence > 0:
                t = time.perf_counter()
                used, details["filter"] = filter_samples(
                    *extra, task.x, task.y, ds.num_classes, ds.image_shape, clf_cfg, config.filter_confidence,
                    device=device, init_seed=clf_seed, batch_seed=batch_seed)
                timings["filter_s"] = time.perf_counter() - t

            if caps.own_classifier:
                predict = method.predictor()
            else:
                # Same initial weights and the same batch order for every method of the cell.
                seed_everything(clf_seed)
                model = make_classifier(ds.image_shape, ds.num_classes, clf_cfg)
                method.init_classifier(model)
                t = time.perf_counter()
                trained = train_classifier(
                    model, task.x, task.y, clf_cfg, device=device,
                    seed=batch_seed,
                    augment=method.augment_batch, extra=used,
                    augment_labelled=method.augment_labelled, num_classes=ds.num_classes,
                    real_fraction=config.real_fraction if caps.generates else 1.0,
                    on_step=method.on_classifier_step,
                    probe=(lambda m: evaluate(model_predictor(m, device), task.test_x, task.test_y, ds.num_classes,
                                              clf_cfg.eval_batch_size)["accuracy"]) if clf_cfg.checkpoints else None,
                )
                timings["train_s"] = time.perf_counter() - t
                check_classifier_finite(trained, model)
                cost["classifier_trainable_params"] = count_parameters(model)  # after any freezing
                details["classifier_steps"] = trained["steps"]
                if clf_cfg.checkpoints:  # test accuracy after k steps; the last point is the record's own
                    details["classifier_curve"] = trained["curve"]
                predict = model_predictor(model, device)
            t = time.perf_counter()
            metrics = evaluate(predict, task.test_x, task.test_y, ds.num_classes, clf_cfg.eval_batch_size)
            for name, side in method.extra_predictors().items():
                metrics[f"{name}_accuracy"] = evaluate(side, task.test_x, task.test_y, ds.num_classes,
                                                       clf_cfg.eval_batch_size)["accuracy"]
            timings["eval_s"] = time.perf_counter() - t
            if "classifier_curve" in details:
                details["classifier_curve"].append([details["classifier_steps"], metrics["accuracy"]])
            details = {**method.details(), **details}
            if caps.generates and caps.returns_real_images:
                details["generation"] = {"skipped": "generate() returns real pool images; image-quality metrics "
                                                    "and CAS do not apply"}
            elif caps.generates:  # after the classifier, so the metrics cannot change its result
                from bench.metrics.generation import generation_metrics

                t = time.perf_counter()
                gen = generation_metrics(*extra, task, options, path.with_suffix(".png") if path else None,
                                         classifier_cfg=clf_cfg)
                metrics.update(gen["metrics"])
                details["generation"] = gen["details"]
                timings["metrics_s"] = time.perf_counter() - t
            cost["method_trainable_params"] = details.get("trainable_params")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # recorded, never eaten: the record says what failed and where
        error = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
        diverged = isinstance(exc, Diverged)
    else:
        diverged = False
    finally:
        torch.set_num_threads(threads_before)
    timings["total_s"] = time.perf_counter() - t_start
    # one-time artefacts this cell had to build itself (0 when bench run built them up front)
    timings["artefacts_s"] = sum(b["seconds"] for b in BUILDS[builds_before:])
    return {
        "schema_version": SCHEMA_VERSION,
        "key": key,
        "status": "diverged" if diverged else "failed" if error else "ok",
        "suite": cell.suite,
        "suite_info": dict(cell.suite_info),
        "method": {"name": base, "version": cls.version, "preset": cell.preset,
                   "config": config_dict(config), "config_hash": stable_hash(config_dict(config)),
                   "capabilities": asdict(caps), "tuned_on": cls.tuned_on.get(cell.preset),
                   **({"variant": label, "display": cell.method} if label is not None else {})},
        "dataset": {"name": ds.name, "spec": cell.dataset, "hash": ds.hash, "source": ds.source,
                    "image_shape": list(ds.image_shape), "num_classes": ds.num_classes, "classes": list(ds.classes),
                    "n_train": int(len(ds.train_y)), "n_pool": int(len(task.pool_idx)),
                    "n_test": int(len(task.test_idx)), "test_cap": cell.test_cap},
        "task": {"shots": cell.shots, "seed": cell.seed, "labelled_fingerprint": task.fingerprint()},
        "classifier": None if caps.own_classifier else {
            "preset": cell.classifier, "config": asdict(clf_cfg), "config_hash": stable_hash(classifier_key(clf_cfg))},
        "metrics": metrics,
        "details": details,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "memory": mem.as_dict(),
        "cost": cost,
        "precision": precision(options.amp),
        "environment": environment(device, options.threads),
        "started_at": started,
        "finished_at": now(),
        "error": error,
    }


@dataclass
class RunSummary:
    records: list[dict[str, Any]] = field(default_factory=list)  # this run's cells, new and skipped
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    diverged: int = 0
    busy: int = 0  # cells another live `bench run` was computing: left to it, not run here
    busy_pids: set[str] = field(default_factory=set)  # who held them
    duplicates: int = 0  # cells listed twice in the plan (same record file), run once
    interrupted: bool = False
    wall_s: float = 0.0  # the cells' part of the run (after the one-time artefacts)
    artefacts: list[dict[str, Any]] = field(default_factory=list)  # built before the cells: what, seconds, path
    artefacts_s: float = 0.0  # checking and building them


def run_claimed(cell: Cell, options: RunOptions, path: Path, write: bool = True) -> tuple[dict[str, Any] | None, str]:
    """Run ``cell`` while holding its claim (see :class:`bench.store.Claim`) and, with ``write``,
    write its record. Returns ``(record, how)``: ``how`` is "ran", "done" (another run finished it
    since the plan; its record is returned) or "busy <pid>" (another live run holds the claim;
    record None). Nothing is ever computed twice at once."""
    store = ResultStore(options.results_dir)
    claim = Claim.take(path)
    if claim is None:
        return None, f"busy {Claim.holder(path)}"
    with claim:
        if not options.force and store.is_done(path):
            return store.load(path), "done"
        rec = run_cell(cell, options, path)
        if write:
            store.write(path, rec)
        return rec, "ran"


def run_suite(suite: Suite, options: RunOptions, executor: Executor | None = None) -> RunSummary:
    """Run the suite's unfinished cells with ``executor`` (default: the sequential local loop).

    Before any cell: the plan is checked (:func:`bench.plan.plan`), temporary files of writers that died are
    removed, and a record file that is not a valid record is moved aside (``*.corrupt``) so its cell
    reruns. Each cell runs under its claim (:func:`run_claimed`): one claimed by another live run is
    skipped and counted in ``summary.busy``. Records are written as cells finish (by the worker, or
    by the driver for Ray); ``summary.records`` lists the skipped cells, then this run's in plan order.
    """
    from bench.executors import LocalExecutor

    executor = executor or LocalExecutor()
    store = ResultStore(options.results_dir)
    store.check_writable()
    cells = plan(suite, options, store)
    if suite.derived_from:  # checked: say what this run is and where it goes (information: stdout)
        tqdm.write(f"suite {suite.name}: {suite.description} (records under {store.root / suite.name}; "
                   "bench run --name sets another name)", file=sys.stdout)
    summary = RunSummary(duplicates=cells.duplicates)
    removed = store.clean_temp_files(store.root / suite.name) if (store.root / suite.name).is_dir() else []
    if removed:
        store.warn(f"removed {len(removed)} temporary file(s) left by an interrupted record write, "
                   f"e.g. {removed[0]}")
    todo = []
    for cell, path in cells:
        rec = None if options.force else store.lookup(path)
        if rec is not None and rec["status"] in DONE:
            summary.records.append(rec)
            summary.skipped += 1
        else:
            todo.append((cell, path))
    if todo:  # one-time artefacts first, in this process, so no cell is charged for them
        from bench.artefacts import build_artefacts

        t = time.perf_counter()
        summary.artefacts = build_artefacts([c for c, _ in todo], options)
        summary.artefacts_s = time.perf_counter() - t
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"{suite.name}: cells", unit="cell", dynamic_ncols=True)

    def on_start(cell: Cell) -> None:
        bar.set_postfix_str(f"{cell.method} {cell.dataset} k={cell.shots} s={cell.seed}", refresh=False)

    done: list[tuple[int, dict[str, Any]]] = []
    results = executor.run(todo, options, on_start=on_start)
    try:
        for fin in results:
            rec, path, cell = fin.record, fin.path, fin.cell
            bar.update(1)
            if rec is None:  # another run holds the cell's claim: left to it (the CLI says how many, once)
                summary.busy += 1
                summary.busy_pids.add(fin.how.split()[-1])
                continue
            if not fin.written:
                store.write(path, rec)
            done.append((fin.index, rec))
            if fin.how == "done":
                summary.skipped += 1
                continue
            summary.ran += 1
            if executor.name != "local":  # cells run out of sight: show the last one finished
                bar.set_postfix_str(f"done {cell.method} {cell.dataset} k={cell.shots} s={cell.seed}", refresh=False)
            if rec["status"] != "ok":
                summary.failed += rec["status"] == "failed"
                summary.diverged += rec["status"] == "diverged"
                bar.write(f"{rec['status'].upper()} {cell.method} on {cell.dataset} shots={cell.shots} seed={cell.seed}: "
                          f"{rec['error']['type']}: {rec['error']['message']} (traceback in {path})", file=sys.stderr)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        results.close()  # a pool drops its queue and ends its workers if we stopped early
        bar.close()
        summary.records.extend(rec for _, rec in sorted(done, key=lambda t: t[0]))
        summary.wall_s = time.perf_counter() - t0
    return summary
