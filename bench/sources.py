"""Source datasets for transfer methods (transfer-gan, finetune): another dataset, converted to the
target's image shape, that a method may pretrain on. Pretraining on the target itself is refused —
a transfer method must never silently become a method that saw the target's train split."""

from __future__ import annotations

import dataclasses

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


def source_field(method_cls) -> bool:
    """True if the method class pretrains on a source dataset named by its config's ``source`` field
    (``capabilities.uses_source`` and a ``source`` config field: finetune, finetune-head, transfer-gan)."""
    return bool(method_cls.capabilities.uses_source) and "source" in {f.name for f in dataclasses.fields(method_cls.Config)}


def auto_source(target: ImageDataset, by_name: dict[str, str], method: str) -> str:
    """``source = "auto"``: a class subset's other classes (``fashion-mnist[5-9]`` ->
    ``fashion-mnist[0-4]``, same domain, disjoint classes), else ``by_name`` of the target's dataset
    (of the full dataset for a class subset). Nothing else: for a dataset the method has no fixed
    pairing for (your own ``folder:PATH`` images), "auto" is refused rather than guessed, so every
    method refuses it the same way, before any cell runs."""
    spec = complement_spec(target) or by_name.get(target.parent or target.name)
    if spec is None:
        known = ", ".join(sorted(by_name))
        raise BenchError(f"{method} has no automatic transfer source for dataset {target.name!r} (source = \"auto\" "
                         f"knows {known} and class subsets NAME[...]); choose one with --source DATASET (e.g. "
                         f"--source fashion-mnist) or source = \"DATASET\" under [method_overrides.{method}] in a suite file")
    return spec


def resolve_source(spec: str, target: ImageDataset, by_name: dict[str, str], method: str) -> str:
    """The source spec a method pretrains on: ``spec`` itself, or for ``"auto"`` :func:`auto_source`."""
    return auto_source(target, by_name, method) if spec == "auto" else spec


def check_source(method_cls, config, target: ImageDataset, data_root, download: bool = False) -> str | None:
    """For a method with a ``source`` setting: resolve it for ``target`` and load it (the checks of
    :func:`load_source`), so a missing, forbidden or unset source stops the run before any cell."""
    if not source_field(method_cls):
        return None
    spec = resolve_source(config.source, target, getattr(method_cls, "auto_sources", {}), method_cls.name)
    try:
        load_source(spec, target, data_root, download)
    except BenchError as exc:
        raise BenchError(f"{method_cls.name} on {target.name}: {exc}") from None
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
