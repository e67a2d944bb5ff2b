"""Several cells' classifiers trained in one loop (issue 28, item 3).

:func:`train_stacked` trains K :class:`~bench.nets.SmallCNN` models of one architecture and one
classifier config at once, as one :class:`~bench.nets.stacked.StackedCNN`. Each model keeps what
:func:`bench.training.train_classifier` gives it alone: its own training set, its own batch stream
(the same seeded draws, augmentations and targets, by :func:`~bench.training.draw_batch`), the
same step count and lr schedule, and a loss whose gradient reaches only its own weights (the sum
of the K losses). What differs is float summation order and the dropout masks (one stream for
all K), so results agree with one-at-a-time runs to within seed noise, not to the bit (tests/
test_batched.py measures both). Whether it pays is measured by benchmarks/batched_cells.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.errors import BenchError
from bench.nets import SmallCNN, to_input
from bench.nets.stacked import StackedCNN
from bench.training import (
    CLASSIFIER_MEMORY_FORMAT,
    ClassifierConfig,
    WeightAverage,
    batch_loss,
    draw_batch,
    lr_schedule,
    make_optimizer,
)


@dataclass
class Job:
    """One cell's classifier training: what :func:`~bench.training.train_classifier` takes."""

    x: torch.Tensor
    y: torch.Tensor
    seed: int
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    extra: tuple[torch.Tensor, torch.Tensor] | None = None
    real_fraction: float = 1.0
    augment_labelled: Callable | None = None
    num_classes: int | None = None

    def total(self, cfg: ClassifierConfig) -> int:
        return cfg.steps_for(len(self.x) + (len(self.extra[0]) if self.extra is not None else 0))


def train_stacked(models: list[SmallCNN], jobs: list[Job], cfg: ClassifierConfig, device: torch.device) -> list[dict[str, Any]]:
    """Train ``models[k]`` on ``jobs[k]`` for all k in one loop; the models are updated in place
    (weights and BatchNorm statistics) and left in eval mode. Returns per model what
    ``train_classifier`` returns (final loss, steps)."""
    if len(models) != len(jobs) or not jobs:
        raise BenchError("train_stacked needs one job per model, at least one")
    totals = {job.total(cfg) for job in jobs}
    if len(totals) != 1:
        raise BenchError(f"train_stacked: the jobs need different step counts ({sorted(totals)}); stack only equal budgets")
    total = totals.pop()
    net = StackedCNN(models).to(device).to(memory_format=CLASSIFIER_MEMORY_FORMAT).train()
    opt = make_optimizer(net, cfg)
    lr_at = lr_schedule(cfg, total)
    ema = WeightAverage(net, cfg.ema) if cfg.ema > 0 else None
    gens = [torch.Generator().manual_seed(job.seed) for job in jobs]
    n_real = [cfg.batch_size if j.extra is None else int(round(cfg.batch_size * j.real_fraction)) for j in jobs]
    losses = [torch.tensor(float("nan"))] * len(jobs)
    for step in range(total):
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
        batches = [draw_batch(j.x, j.y, g, cfg.batch_size, n, j.extra, j.augment, j.augment_labelled, None,
                              j.num_classes) for j, g, n in zip(jobs, gens, n_real, strict=True)]
        xin = torch.cat([to_input(xb.to(device)) for xb, _, _ in batches], dim=1)  # model k: channels k·C…
        logits = net(xin.contiguous(memory_format=CLASSIFIER_MEMORY_FORMAT))
        losses = [batch_loss(logits[:, k], yb, tb, cfg, device) for k, (_, yb, tb) in enumerate(batches)]
        opt.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        opt.step()
        if ema is not None:
            ema.update(net)
    if ema is not None:
        ema.copy_to(net)
    net.write_back(models)
    for m in models:
        m.eval()
    return [{"final_loss": float(loss.detach()), "steps": total, "curve": []} for loss in losses]
