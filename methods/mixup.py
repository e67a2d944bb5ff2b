"""``mixup`` (Zhang et al. 2018): train on convex blends of image pairs and of their labels.

Per classifier batch (the harness's ``augment_labelled`` hook), with probability ``prob``:
λ ~ Beta(α, α) once for the batch and a random permutation π of the batch, then

    x̃ᵢ = λ·xᵢ + (1 − λ)·x_π(i)          ỹᵢ = λ·onehot(yᵢ) + (1 − λ)·onehot(y_π(i))

as in the paper's reference implementation (one λ per batch, partners from a permutation of the
same batch). Images are blended in float and handed to the classifier as float32 in [0, 1]
(``v / 255``), not rounded back to uint8, so the classifier sees exactly the blend. Batches left
unmixed (probability 1 − ``prob``) get one-hot targets.

Randomness: a NumPy ``Generator`` seeded with the cell's method seed (``ctx.seed``) draws λ, the
permutation and the coin, batch after batch; NumPy rather than a ``torch.Generator`` because
torch's Beta sampler takes no generator. Same cell → same draws.

Setting: ``alpha`` = 1.0 in every preset — the paper's CIFAR-10 value (small images, small
networks, short schedules: closer to this benchmark than ImageNet, where 0.2 was used because larger
α under-fitted 90-epoch ResNets). α = 0 means λ = 1: no mixing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.method import FitData, Method, register_method


@dataclass(frozen=True)
class MixupConfig:
    alpha: float = 1.0  # λ ~ Beta(alpha, alpha); 0 = no mixing
    prob: float = 1.0  # share of batches mixed

    def __post_init__(self) -> None:
        if not self.alpha >= 0:  # also refuses NaN
            raise BenchError(f"mixup: alpha must be >= 0 (Beta(alpha, alpha)), got {self.alpha}")
        if not 0.0 <= self.prob <= 1.0:
            raise BenchError(f"mixup: prob must be in [0, 1], got {self.prob}")


def mix_pairs(x: torch.Tensor, y: torch.Tensor, num_classes: int, lam: float,
              perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(λ·x + (1−λ)·x[perm] as float32 in [0, 1], λ·onehot(y) + (1−λ)·onehot(y[perm]))."""
    xf = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
    mixed = (lam * xf + (1.0 - lam) * xf[perm]).clamp_(0.0, 1.0)
    onehot = F.one_hot(y, num_classes).float()
    return mixed, lam * onehot + (1.0 - lam) * onehot[perm]


class BatchMix(Method):
    """What mixup and cutmix share: per classifier batch, with probability ``prob``, λ ~ Beta(α, α)
    and a permutation π from a NumPy generator seeded with the cell's method seed (then whatever
    ``mix`` draws), and counts for the record. ``mix`` returns ((images, targets), the amount mixed
    for the record's mean, named ``amount_name``)."""

    amount_name = "mean_amount"

    def fit(self, data: FitData) -> None:
        self.rng = np.random.default_rng(self.ctx.seed)
        self.stats = {"batches": 0, "mixed_batches": 0, "amount_sum": 0.0}

    def mix(self, x: torch.Tensor, y: torch.Tensor, num_classes: int, lam: float,
            perm: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], float]:
        raise NotImplementedError

    def augment_labelled(self, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, rng = self.config, self.rng
        self.stats["batches"] += 1
        if cfg.alpha == 0 or rng.random() >= cfg.prob:
            return x, F.one_hot(y, num_classes).float()
        lam = float(rng.beta(cfg.alpha, cfg.alpha))
        perm = torch.from_numpy(rng.permutation(len(x)))
        out, amount = self.mix(x, y, num_classes, lam, perm)
        self.stats["mixed_batches"] += 1
        self.stats["amount_sum"] += amount
        return out

    def details(self) -> dict:
        s = self.stats
        return {"batches": s["batches"], "mixed_batches": s["mixed_batches"],
                self.amount_name: round(s["amount_sum"] / s["mixed_batches"], 4) if s["mixed_batches"] else None}


@register_method("mixup")
class Mixup(BatchMix):
    version = "1"
    Config = MixupConfig
    presets = {"tiny": {}, "quick": {}, "standard": {}}
    amount_name = "mean_lambda"

    def mix(self, x, y, num_classes, lam, perm):
        return mix_pairs(x, y, num_classes, lam, perm), lam
