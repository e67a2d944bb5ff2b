"""One-time artefacts, built by ``bench run`` before the first cell starts.

Cells share expensive artefacts through :func:`bench.cache.cached`: each dataset's reference
classifier and real-data statistics (the generation metrics of generating methods) and source
models (``Method.build_shared``: finetune, transfer-gan). Built inside a cell, their minutes
would be charged to that cell's time without a word. :func:`build_artefacts` builds the ones the
cells to run will need in the driver first — each announced with its own progress line — so the
workers find them cached; the run summary lists them with their build time.

They are built the way a cell would build them (``threads`` torch threads, the same autocast),
so a cache filled here holds the same bits as one filled by a cell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from bench import cache
from bench.datasets import load_dataset
from bench.method import METHODS, Method
from bench.suite import Cell, split_variant


@contextlib.contextmanager
def _like_a_cell(options: Any) -> Iterator[None]:
    from bench.runner import AMP_DTYPE

    before = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        with torch.autocast(options.device.type, dtype=AMP_DTYPE, enabled=options.amp):
            yield
    finally:
        torch.set_num_threads(before)


def _metric_artefacts(ds: Any, options: Any) -> None:
    from bench.metrics.feature_extractors import ExtractorUnavailable, get_extractor
    from bench.metrics.generation import GenerationConfig, real_radii, real_statistics

    for name in GenerationConfig().extractors:
        with cache.label(f"the {ds.name} {'reference classifier' if name == 'domain' else name + ' network'}"):
            try:
                ext = get_extractor(name, ds, options.cache_dir, options.device)
            except ExtractorUnavailable:
                continue  # the cells record it as skipped
        with cache.label(f"the {ds.name} real-image statistics ({name} features)"):
            real = real_statistics(ext, ds, options.cache_dir)
        k = GenerationConfig().prdc_k
        if len(real["features"]) > k:  # smaller sets: the cells record precision/recall as refused
            with cache.label(f"the {ds.name} real-image k-NN radii ({name} features, k = {k})"):
                real_radii(ext, ds, real, k, options.cache_dir)


def _method_artefacts(cell: Cell, ds: Any, options: Any) -> None:
    from bench.context import MethodContext
    from bench.training import classifier_config

    cls = METHODS.get(split_variant(cell.method)[0])
    if cls.build_shared is Method.build_shared:  # nothing to build
        return
    config = cls.make_config(cell.preset, cell.method_overrides)
    ctx = MethodContext(options.device, 0, ds.image_shape, ds.num_classes,
                        classifier_config(cell.classifier, cell.classifier_overrides), options, ds)
    with cache.label(f"a {cell.method} artefact for {ds.name}"):
        cls(config, ctx).build_shared()


def _attempt(build: Callable[[], None], what: str) -> None:
    """Run one build; if it fails, say so in one line and go on: the cells that need the artefact
    try again and record the error (a failure is never lost, and one broken artefact does not stop
    the cells that do not need it)."""
    try:
        build()
    except Exception as exc:  # recorded by the cells that need it
        first = (str(exc).strip().splitlines() or [""])[0]
        cache.say(f"warning: building {what} before the cells failed ({type(exc).__name__}: {first}); "
                   "the cells that need it will try again and record the error")


def build_artefacts(cells: list[Cell], options: Any) -> list[dict[str, Any]]:
    """Build what ``cells`` will need from the cache; return the builds (``what``, ``seconds``, ``path``)
    made here (none when everything was cached already)."""
    first = len(cache.BUILDS)
    seen: set = set()
    with _like_a_cell(options):
        for cell in cells:
            cls = METHODS.get(split_variant(cell.method)[0])
            ds = load_dataset(cell.dataset, options.data_root, options.download)
            caps = cls.capabilities
            if caps.generates and not caps.returns_real_images and ("metrics", ds.hash) not in seen:
                seen.add(("metrics", ds.hash))
                _attempt(lambda ds=ds: _metric_artefacts(ds, options), f"the {ds.name} metric artefacts")
            job = ("method", ds.hash, cell.method, cell.preset, repr(sorted(cell.method_overrides.items())),
                   cell.classifier, repr(sorted(cell.classifier_overrides.items())))
            if job not in seen:
                seen.add(job)
                _attempt(lambda cell=cell, ds=ds: _method_artefacts(cell, ds, options),
                         f"the {cell.method} artefacts for {ds.name}")
    return [dict(b) for b in cache.BUILDS[first:]]
