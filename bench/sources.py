"""Source datasets for transfer methods (transfer-gan, finetune): another dataset, converted to the
target's image shape, that a method may pretrain on. Pretraining on the target itself is refused —
a transfer method must never silently become a method that saw the target's train split."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.datasets import ImageDataset, complement_spec, load_dataset
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


def auto_source(target: ImageDataset, by_name: dict[str, str], method: str) -> str:
    """``source = "auto"``: a class subset's other classes (``fashion-mnist[5-9]`` ->
    ``fashion-mnist[0-4]``, same domain, disjoint classes), else ``by_name[target.name]``."""
    spec = complement_spec(target) or by_name.get(target.name)
    if spec is None:
        raise BenchError(f"{method} has no default source for dataset {target.name!r}; set source=NAME "
                         "(another dataset, e.g. fashion-mnist) in the method config")
    return spec


def lineage(ds: ImageDataset, data_root, download: bool) -> tuple[ImageDataset, set[int]]:
    """The full dataset ``ds`` was cut from (itself if it is no class subset) and its class indices there."""
    if not ds.parent:
        return ds, set(range(ds.num_classes))
    return load_dataset(ds.parent, data_root, download), set(ds.class_ids)


def load_source(spec: str, target: ImageDataset, data_root, download: bool = False) -> tuple[ImageDataset, torch.Tensor, torch.Tensor]:
    """The source's train split converted to ``target``'s image shape: (source, x, y)."""
    try:
        src = load_dataset(spec, data_root, download)
    except BenchError as exc:
        raise BenchError(f"source dataset for transfer is missing: {exc}") from None
    if src.hash == target.hash:
        raise BenchError(f"source dataset {spec!r} is the target dataset itself; choose another source")
    # never pretrain on the target's own train images through another view of the same dataset
    (s_root, s_ids), (t_root, t_ids) = lineage(src, data_root, download), lineage(target, data_root, download)
    shared = sorted(s_ids & t_ids) if s_root.hash == t_root.hash else []
    if shared:
        other = complement_spec(target)
        raise BenchError(f"source dataset {spec!r} holds classes {shared} of the target's dataset (their train "
                         f"images); choose a source without them" + (f", e.g. source = {other!r}" if other else ""))
    return src, to_shape(src.train_x, target.image_shape), src.train_y
