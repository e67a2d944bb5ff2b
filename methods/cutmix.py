"""``cutmix`` (Yun et al. 2019): paste a random box of another image, mix labels by its area.

Per classifier batch (the harness's ``augment_labelled`` hook), with probability ``prob``:
λ ~ Beta(α, α) once for the batch, a random permutation π of the batch, and one box for the
whole batch, as in the paper's reference code: sides ``⌊H·√(1−λ)⌋ × ⌊W·√(1−λ)⌋`` centred on a
uniformly drawn pixel, clipped to the image (the reference code's box spans ``2·⌊side/2⌋``, one
pixel less for odd sides; here it has the stated size). Inside the box every image takes image π(i)'s pixels
(uint8, copied exactly); the label weight is then recomputed from the box actually pasted:

    λ' = 1 − (box area after clipping) / (H·W)          ỹᵢ = λ'·onehot(yᵢ) + (1 − λ')·onehot(y_π(i))

Batches left alone (probability 1 − ``prob``) get one-hot targets.

Randomness: a NumPy ``Generator`` seeded with the cell's method seed (``ctx.seed``) draws the coin,
λ, π and the box centre, batch after batch (torch's Beta sampler takes no generator).

Settings: ``alpha`` = 1.0 and ``prob`` = 0.5 in ``quick`` / ``standard`` — the reference code's
CIFAR settings (its ImageNet runs use prob 1.0); ``tiny`` mixes every batch so the tests always
exercise the mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from bench.methods.mixup import BatchMix

from bench.errors import BenchError
from bench.method import register_method


@dataclass(frozen=True)
class CutmixConfig:
    alpha: float = 1.0  # λ ~ Beta(alpha, alpha); 0 = no mixing
    prob: float = 0.5  # share of batches mixed

    def __post_init__(self) -> None:
        if not self.alpha >= 0:
            raise BenchError(f"cutmix: alpha must be >= 0 (Beta(alpha, alpha)), got {self.alpha}")
        if not 0.0 <= self.prob <= 1.0:
            raise BenchError(f"cutmix: prob must be in [0, 1], got {self.prob}")


def box_for(lam: float, h: int, w: int, cy: int, cx: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the ``⌊h√(1−λ)⌋ × ⌊w√(1−λ)⌋`` box centred at (cy, cx), clipped."""
    cut = np.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    top, left = cy - ch // 2, cx - cw // 2
    return max(top, 0), min(top + ch, h), max(left, 0), min(left + cw, w)


def paste_box(x: torch.Tensor, y: torch.Tensor, num_classes: int, box: tuple[int, int, int, int],
              perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x with ``x[perm]``'s pixels inside ``box``, and targets mixed by the box's share of the image."""
    t, b, lft, r = box
    out = x.clone()
    out[:, :, t:b, lft:r] = x[perm][:, :, t:b, lft:r]
    lam = 1.0 - (b - t) * (r - lft) / (x.shape[2] * x.shape[3])
    onehot = F.one_hot(y, num_classes).float()
    return out, lam * onehot + (1.0 - lam) * onehot[perm]


@register_method("cutmix")
class Cutmix(BatchMix):
    version = "1"
    Config = CutmixConfig
    presets = {"tiny": {"prob": 1.0}, "quick": {}, "standard": {}}
    amount_name = "mean_pasted_area"

    def mix(self, x, y, num_classes, lam, perm):
        h, w = x.shape[2], x.shape[3]
        box = box_for(lam, h, w, int(self.rng.integers(h)), int(self.rng.integers(w)))
        return paste_box(x, y, num_classes, box, perm), (box[1] - box[0]) * (box[3] - box[2]) / (h * w)
