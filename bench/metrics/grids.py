"""Sample grids: one PNG per cell, one row per class, the first ``per_class`` samples of each class.

Images smaller than ``min_side`` pixels (8×8 digits) are enlarged by an integer factor with
nearest-neighbour so the grid is readable; classes with fewer samples leave blank (black) tiles.
Given the class names, each row is labelled with its class in a white margin on the left (for
``folder:PATH`` datasets the folder names, in their label order: alphabetical).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

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


PADDING = 2
LABEL_FONT_PX = 12


def label_rows(grid: Image.Image, classes: Sequence[str], row_height: int, padding: int = PADDING) -> Image.Image:
    """``grid`` with a white left margin holding each row's class name, centred on its row."""
    font = ImageFont.load_default(size=max(8, min(LABEL_FONT_PX, row_height - 2)))
    names = [str(c) for c in classes]
    margin = int(max(font.getlength(n) for n in names)) + 10
    out = Image.new("RGB", (grid.width + margin, grid.height), "white")
    out.paste(grid.convert("RGB"), (margin, 0))
    draw = ImageDraw.Draw(out)
    for k, name in enumerate(names):
        centre = padding + k * (row_height + padding) + row_height / 2
        draw.text((margin - 5, centre), name, fill=(34, 34, 34), font=font, anchor="rm")
    return out


def save_sample_grid(x: torch.Tensor, y: torch.Tensor, num_classes: int, path: Path, per_class: int = 10,
                     classes: Sequence[str] | None = None) -> Path:
    """Write the grid PNG to ``path`` (folders created) and return the path; ``classes`` (one name
    per class) labels the rows."""
    tiles, ncol = sample_grid(x, y, num_classes, per_class)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = make_grid(tiles, nrow=ncol, padding=PADDING, pad_value=0.5)
    image = Image.fromarray(grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy())
    if classes is not None:
        if len(classes) != num_classes:
            raise BenchError(f"a sample grid needs one class name per class ({num_classes}), got {len(classes)}")
        image = label_rows(image, classes, tiles.shape[-2])
    image.save(path)
    return path
