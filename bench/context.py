"""What the harness gives a cell: the run's options (:class:`RunOptions`) and, to a method, its
services (:class:`MethodContext`: device, seed, caches, sources, the downstream classifier and its
training loop, progress bars, the pool oracle). A method never builds its own device, seed or cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bench.datasets import ImageDataset, load_dataset
from bench.errors import BenchError
from bench.training import ClassifierConfig, make_classifier, train_classifier


@dataclass(frozen=True)
class RunOptions:
    data_root: Path = Path("datasets")
    results_dir: Path = Path("results")
    device: torch.device = torch.device("cpu")
    download: bool = False
    force: bool = False
    amp: bool = False  # bfloat16 autocast for the whole cell; part of the record key
    # torch intra-op threads per cell, whatever the executor. Fixed (not "all cores") because the
    # thread count changes how float sums are split, so a GAN cell run with 1 thread and with 2
    # threads differs in the last bits and then in its accuracy; with the same count, records are
    # identical across --workers and executors. Parallelism comes from cells (--workers).
    threads: int = 1

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise BenchError(f"--threads must be >= 1, got {self.threads}")

    @property
    def cache_dir(self) -> Path:
        """Shared artefacts (reference extractors, real statistics, source models)."""
        return Path(self.data_root) / ".augbench-cache"


@dataclass
class MethodContext:
    """Harness services a method may use; it never builds its own device, seed or cache."""

    device: torch.device
    seed: int
    image_shape: tuple[int, int, int]
    num_classes: int
    classifier_cfg: ClassifierConfig
    options: RunOptions
    dataset: ImageDataset | None = None  # the target (for source checks); never its test split
    # Measure-only oracle for the pool: fraction of (pool positions, labels) that match the hidden
    # true labels. For reporting pseudo-label quality, never for training or selection.
    score_pool_labels: Callable[[torch.Tensor, torch.Tensor], float] | None = None

    def make_classifier(self) -> torch.nn.Module:
        return make_classifier(self.image_shape, self.num_classes, self.classifier_cfg)

    def train_classifier(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, **kw: Any) -> dict:
        """The harness's fixed training loop (same budget as the downstream classifier)."""
        kw.setdefault("seed", self.seed)
        kw.setdefault("cfg", self.classifier_cfg)
        return train_classifier(model, x, y, kw.pop("cfg"), device=self.device, **kw)

    def load_dataset(self, name: str) -> ImageDataset:
        return load_dataset(name, self.options.data_root, self.options.download)

    @property
    def cache_dir(self) -> Path:
        return self.options.cache_dir

    def cached(self, kind: str, key: dict[str, Any], build, what: str | None = None):
        """A shared artefact built once per key across cells and workers (see bench.cache);
        ``what`` names it in the one-time build's progress line."""
        from bench.cache import cached

        return cached(self.cache_dir, kind, key, build, what)

    def load_source(self, spec: str):
        """A source dataset for transfer, converted to the target's image shape: (source, x, y)."""
        from bench.sources import load_source

        return load_source(spec, self.dataset, self.options.data_root, self.options.download)

    def progress(self, iterable: Iterable | None = None, desc: str = "", total: int | None = None):
        return tqdm(iterable, desc=desc, total=total, leave=False, disable=None, mininterval=0.5)

    @staticmethod
    def pool_positions(n_pool: int, pool_size: int, gen: torch.Generator) -> torch.Tensor:
        """Pool positions a method uses: a ``gen``-seeded permutation of the pool, the first
        ``pool_size`` of them (0 = all)."""
        pos = torch.randperm(n_pool, generator=gen)
        return pos[:pool_size] if 0 < pool_size < len(pos) else pos

    def draw_pool(self, n_pool: int, pool_size: int, needs: str | None = None) -> tuple[torch.Generator, torch.Tensor]:
        """A generator seeded with the method's seed and the pool positions drawn from it
        (:meth:`pool_positions`); the method goes on drawing from the same generator. ``needs``: the
        name of a method that cannot work without unlabelled images, refused on an empty pool."""
        gen = torch.Generator().manual_seed(self.seed)
        pos = self.pool_positions(n_pool, pool_size, gen)
        if needs and len(pos) == 0:
            raise BenchError(f"{needs}: the unlabelled pool is empty; it needs unlabelled images")
        return gen, pos

    @torch.no_grad()
    def pool_label_accuracy(self, predict: Callable[[torch.Tensor], torch.Tensor], pool: torch.Tensor,
                            pos: torch.Tensor, batch: int = 1000) -> float | None:
        """Share of ``predict``'s labels for ``pool`` (images at pool positions ``pos``) that match the
        hidden truth, rounded to 4 digits; None where the method has no pool oracle. Measure only."""
        if self.score_pool_labels is None:
            return None
        labels = torch.cat([predict(pool[i:i + batch]).argmax(1) for i in range(0, len(pool), batch)])
        return round(self.score_pool_labels(pos, labels), 4)
