"""Source datasets for transfer methods (transfer-gan, finetune): another dataset, converted to the
target's image shape, that a method may pretrain on. Pretraining on the target itself is refused —
a transfer method must never silently become a method that saw the target's train split."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.datasets import ImageDataset, load_dataset
from bench.errors import BenchError


def to_shape(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 N×C×H×W -> uint8 N×c×h×w: channels averaged or repeated, sides resized (antialiased)."""
    c, h, w = shape
    y = x.float()
    if y.shape[1] != c:
        y = y.mean(1, keepdim=True)
        if c != 1:
            y = y.expand(-1, c, -1, -1)
    if y.shape[2:] != (h, w):
        y = F.interpolate(y, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).contiguous()


def load_source(spec: str, target: ImageDataset, data_root, download: bool = False) -> tuple[ImageDataset, torch.Tensor, torch.Tensor]:
    """The source's train split converted to ``target``'s image shape: (source, x, y)."""
    try:
        src = load_dataset(spec, data_root, download)
    except BenchError as exc:
        raise BenchError(f"source dataset for transfer is missing: {exc}") from None
    if src.hash == target.hash:
        raise BenchError(f"source dataset {spec!r} is the target dataset itself; choose another source")
    return src, to_shape(src.train_x, target.image_shape), src.train_y
