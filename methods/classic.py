"""``classic``: label-preserving augmentation policies, per dataset family.

Each image of every classifier batch gets its own random parameters. The transforms are
kornia.augmentation's batched ones (per-sample parameters in one call, ~6× faster than looping
torchvision's v2 transforms image by image, which apply one draw to a whole batch); randomness
comes from torch's global generator, which the harness seeds per cell. The policy is chosen from
the dataset's family unless the config names one; the resolved policy and its transforms are
written into every record.

* ``handwriting`` (digits, MNIST, KMNIST): small affine (rotation 10°, translation 0.1, scale
  0.1). Never flipped — a flipped 2 or 7 is not a 2 or 7. Its strength was checked on development
  draws: half of it loses the whole gain on 8×8 digits, a stronger one adds nothing.
* ``fashion`` (Fashion-MNIST): torchvision's ``RandAugment`` (2 ops, magnitude 9), chosen on
  development draws (seeds 1000-1004, results/protocol/README.md) among the geometric policies
  (version 2's affine + crop + flip, and ``light``) and the three torchvision policies: the
  geometric ones did not beat the baseline on clothing that fills the frame, RandAugment gained the
  most at 10 and 50 shots. So on Fashion-MNIST ``classic`` and ``classic@randaugment`` are the same
  policy (the standard suite runs it once).
* ``natural`` (CIFAR-10, colour folders): random crop with padding, horizontal flip, colour
  jitter.
* ``generic`` (grey folders of unknown content): small affine only.
* ``light``: random crop with padding side/14 (2 px at 28×28, 1 px at 8×8) and a horizontal flip
  where the family allows it (``FLIPS``), no affine: for objects that fill the frame.
* ``trivialaugment``, ``randaugment``, ``autoaugment``: torchvision.transforms.v2's
  ``TrivialAugmentWide``, ``RandAugment`` (2 ops, magnitude 9) and ``AutoAugment`` (ImageNet
  policy) with their default settings, applied to each uint8 image of a batch on its own (their own
  random draw per image; v2 applied to a whole batch would draw once for it). Their randomness is
  torch's global generator, which the harness seeds per cell, so a cell is reproducible. They are
  shipped as variants too: ``classic@trivialaugment``, ``classic@randaugment``,
  ``classic@autoaugment``, ``classic@light``.

Affine transforms resample with nearest neighbour and fill with zeros (black), as torchvision's
defaults do.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K
import torch
from torchvision.transforms import v2

from bench.errors import BenchError
from bench.method import FitData, Method, register_method

#: families whose images stay in their class when mirrored (not handwriting: a flipped 2 is no 2)
FLIPS = frozenset({"fashion", "natural"})
TORCHVISION = {"trivialaugment": v2.TrivialAugmentWide, "randaugment": v2.RandAugment, "autoaugment": v2.AutoAugment}
#: families whose policy is a torchvision one, chosen on development draws (module docstring)
FAMILY_POLICY = {"fashion": "randaugment"}
POLICIES = ("auto", "handwriting", "fashion", "natural", "generic", "light", *TORCHVISION, "none")


@dataclass(frozen=True)
class ClassicConfig:
    policy: str = "auto"  # one of POLICIES; auto = the dataset's family
    rotation: float = 10.0  # degrees, affine policies
    translate: float = 0.1  # fraction of the side, affine policies
    scale: float = 0.1  # zoom range 1 ± scale, affine policies
    crop_padding_frac: float = 0.125  # padding of the random crop as a fraction of the side
    color_jitter: float = 0.2  # brightness/contrast/saturation, natural policy only

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise BenchError(f"classic: unknown policy {self.policy!r}; choose from {', '.join(POLICIES)}")


class PerImage(torch.nn.Module):
    """A torchvision v2 transform applied to each uint8 image of a batch with its own draw."""

    def __init__(self, transform: torch.nn.Module) -> None:
        super().__init__()
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(img) for img in x])


def build_policy(name: str, cfg: ClassicConfig, image_shape: tuple[int, int, int],
                 family: str | None = None) -> torch.nn.Module | None:
    c, h, w = image_shape
    pad = max(1, round(cfg.crop_padding_frac * min(h, w)))

    def affine() -> K.RandomAffine:
        return K.RandomAffine(degrees=cfg.rotation, translate=(cfg.translate, cfg.translate),
                              scale=(1 - cfg.scale, 1 + cfg.scale), p=1.0, resample="nearest", padding_mode="zeros")

    def crop() -> K.RandomCrop:
        return K.RandomCrop((h, w), padding=pad, p=1.0)

    if name == "none":
        return None
    if name in TORCHVISION or name in FAMILY_POLICY:
        return PerImage(TORCHVISION[FAMILY_POLICY.get(name, name)]())
    if name == "light":
        steps = [K.RandomCrop((h, w), padding=max(1, round(min(h, w) / 14)), p=1.0)]
        if family in FLIPS:
            steps.append(K.RandomHorizontalFlip(p=0.5))
        return torch.nn.Sequential(*steps)
    if name in ("handwriting", "generic"):
        steps = [affine()]
    elif name == "natural":
        steps = [crop(), K.RandomHorizontalFlip(p=0.5)]
        if c == 3:
            j = cfg.color_jitter
            steps.append(K.ColorJitter(brightness=j, contrast=j, saturation=j, p=1.0))
    else:
        raise BenchError(f"classic: unknown policy {name!r}")
    return torch.nn.Sequential(*steps)


def apply_policy(transform: torch.nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """A uint8 batch through ``transform`` (per-image random parameters), back to uint8."""
    if transform is None:
        return x
    if isinstance(transform, PerImage):
        return transform(x)
    return transform(x.float().div(255)).mul(255).round().clamp(0, 255).to(torch.uint8)


@register_method("classic")
class Classic(Method):
    # 3: the fashion family policy is RandAugment (2: affine + crop + flip, too strong for clothing);
    # 2: kornia's batched transforms (1: torchvision v2, image by image)
    version = "3"
    Config = ClassicConfig
    presets = {"tiny": {}, "quick": {}, "standard": {}}
    variants = {name: {"policy": name} for name in ("light", *TORCHVISION)}
    _dev = {"seeds": [1000, 1004], "date": "2026-11-27",
            "evidence": "results/protocol/protocol-fashion-mnist.toml and protocol-digits.toml (policy per family)"}
    tuned_on = {"quick": _dev, "standard": _dev}

    def fit(self, data: FitData) -> None:
        self.policy = data.family if self.config.policy == "auto" else self.config.policy
        self.transform = build_policy(self.policy, self.config, data.image_shape, data.family)

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        return apply_policy(self.transform, x)

    def details(self) -> dict:
        return {"policy": self.policy, "transforms": repr(self.transform)}
