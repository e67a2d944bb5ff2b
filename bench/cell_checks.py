"""Checks on what a method hands the harness inside a cell (generated images and labels, a
trained classifier), and the pool-label scorer a semi-supervised method may ask for. A failed check
raises, and the cell's record says what was wrong (:func:`bench.runner.run_cell`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.errors import BenchError, Diverged
from bench.tasks import FewShotTask


def check_generated(x: Any, y: Any, task: FewShotTask) -> None:
    ds = task.dataset
    if not (isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and tuple(x.shape[1:]) == ds.image_shape):
        raise BenchError(f"generate() must return uint8 images of shape N×{'×'.join(map(str, ds.image_shape))}, "
                         f"got {getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
    if not (isinstance(y, torch.Tensor) and y.shape == (len(x),) and y.dtype == torch.int64
            and (len(y) == 0 or (int(y.min()) >= 0 and int(y.max()) < ds.num_classes))):
        raise BenchError("generate() must return int64 labels in [0, num_classes), one per image")


def check_not_collapsed(x: torch.Tensor, caps: Any) -> None:
    """Every generated image identical (a saturated generator): nothing to learn from, and image
    metrics of a single point are meaningless."""
    if not caps.returns_real_images and len(x) > 1 and bool((x == x[0]).all()):
        raise Diverged(f"all {len(x)} generated images are identical (the generator collapsed or saturated); "
                       "lower the learning rate")


def check_classifier_finite(trained: dict[str, float], model: torch.nn.Module) -> None:
    loss = trained.get("final_loss", 0.0)
    if not np.isfinite(loss) or not all(torch.isfinite(p).all() for p in model.parameters()):
        raise Diverged(f"the downstream classifier diverged (final loss {loss:g}, or non-finite weights); "
                       "lower the classifier's lr")


def pool_label_scorer(task: FewShotTask) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """Accuracy of labels for pool positions against the hidden truth (the only way a method
    can learn how good its pseudo-labels were; it never sees the labels themselves)."""
    hidden = task.pool_y_hidden

    def score(pool_positions: torch.Tensor, labels: torch.Tensor) -> float:
        if len(pool_positions) == 0:
            return float("nan")
        return float((hidden[pool_positions.long()] == labels.long()).float().mean())

    return score
