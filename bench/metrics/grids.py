"""Sample grids: one PNG per cell, one row per class, the first ``per_class`` samples of each class.

Images smaller than ``min_side`` pixels (8×8 digits) are enlarged by an integer factor with
nearest-neighbour so the grid is readable; classes with fewer samples leave blank (black) tiles.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from bench.errors import BenchError


def sample_grid(x: torch.Tensor, y: torch.Tensor, num_classes: int, per_class: int = 10,
                min_side: int = 32) -> tuple[torch.Tensor, int]:
    """``(tiles, per_class)``: float tiles in [0, 1] ordered row by row (rows = classes)."""
    if x.dtype != torch.uint8 or x.ndim != 4 or y.shape != (len(x),):
        raise BenchError(f"a sample grid needs uint8 N×C×H×W images and N labels, got {x.dtype} {tuple(x.shape)}")
    c, h, w = x.shape[1:]
    tiles = torch.zeros(num_classes, per_class, c, h, w)
    for k in range(num_classes):
        xs = x[y == k][:per_class]
        tiles[k, :len(xs)] = xs.float() / 255.0
    tiles = tiles.flatten(0, 1)
    factor = max(1, -(-min_side // min(h, w)))
    if factor > 1:
        tiles = F.interpolate(tiles, scale_factor=factor, mode="nearest")
    return tiles, per_class


def save_sample_grid(x: torch.Tensor, y: torch.Tensor, num_classes: int, path: Path, per_class: int = 10) -> Path:
    """Write the grid PNG to ``path`` (folders created) and return the path."""
    tiles, ncol = sample_grid(x, y, num_classes, per_class)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(tiles, path, nrow=ncol, padding=2, pad_value=0.5)
    return path
