"""The few-shot protocol: a task is (dataset, shots per class, seed).

The labelled set is a stratified draw that depends only on (dataset hash, seed) and ``shots`` —
never on the method — so every method in a cell sees the same images and comparisons are paired.
Draws are nested: for one seed, the 5-shot set is contained in the 10-shot set (each class is
permuted once per (hash, seed) and the first ``shots`` images are taken), which makes
accuracy-vs-shots curves less noisy. Everything else in the train split is the unlabelled pool;
the test split (optionally capped by a stratified, seed-independent subset) is for evaluation only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from bench.datasets import ImageDataset
from bench.errors import BenchError


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts, stable across processes and platforms."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True, eq=False)
class FewShotTask:
    dataset: ImageDataset
    shots: int
    seed: int
    labelled_idx: np.ndarray  # indices into the train split, sorted
    pool_idx: np.ndarray  # the rest of the train split, sorted
    test_idx: np.ndarray  # indices into the test split used for evaluation

    @property
    def x(self) -> torch.Tensor:
        return self.dataset.train_x[self.labelled_idx]

    @property
    def y(self) -> torch.Tensor:
        return self.dataset.train_y[self.labelled_idx]

    @property
    def pool_x(self) -> torch.Tensor:
        return self.dataset.train_x[self.pool_idx]

    @property
    def pool_y_hidden(self) -> torch.Tensor:
        """True pool labels: for measuring (e.g. pseudo-label accuracy), never for training."""
        return self.dataset.train_y[self.pool_idx]

    @property
    def test_x(self) -> torch.Tensor:
        return self.dataset.test_x[self.test_idx]

    @property
    def test_y(self) -> torch.Tensor:
        return self.dataset.test_y[self.test_idx]

    def fingerprint(self) -> str:
        """Hash of the labelled indices: equal across methods for one (dataset, shots, seed)."""
        return hashlib.sha256(self.labelled_idx.astype(np.int64).tobytes()).hexdigest()[:16]


def check_shots(ds: ImageDataset, shots: int) -> None:
    counts = ds.class_counts()
    smallest = int(counts.min())
    if not isinstance(shots, int) or shots < 1:
        raise BenchError(f"shots must be a positive integer, got {shots!r}")
    if shots > smallest:
        cls = ds.classes[int(counts.argmin())]
        raise BenchError(
            f"shots={shots} is larger than the smallest class of {ds.name} "
            f"({smallest} train images in class {cls!r}); use --shots {smallest} or fewer"
        )


def check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise BenchError(f"seeds must be non-negative integers, got {seed!r}")


def draw_task(ds: ImageDataset, shots: int, seed: int, test_cap: int | None = None) -> FewShotTask:
    """Draw the labelled set, the pool and the evaluation subset for one cell."""
    check_shots(ds, shots)
    check_seed(seed)
    rng = np.random.default_rng(derive_seed("few-shot", ds.hash, seed))
    labels = ds.train_y.numpy()
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:shots] for c in range(ds.num_classes)]
    labelled = np.sort(np.concatenate(chosen))
    mask = np.ones(len(labels), dtype=bool)
    mask[labelled] = False
    return FewShotTask(ds, shots, seed, labelled, np.flatnonzero(mask), evaluation_subset(ds, test_cap))


def evaluation_subset(ds: ImageDataset, cap: int | None) -> np.ndarray:
    """All test indices, or a stratified subset of about ``cap`` that depends only on the dataset."""
    n = len(ds.test_y)
    if not cap or cap >= n:
        return np.arange(n)
    rng = np.random.default_rng(derive_seed("test-cap", ds.hash, cap))
    labels = ds.test_y.numpy()
    per_class = [np.flatnonzero(labels == c) for c in range(ds.num_classes)]
    keep = [rng.permutation(ix)[: max(1, round(cap * len(ix) / n))] for ix in per_class]
    return np.sort(np.concatenate(keep))
