"""``classic``: label-preserving torchvision.transforms.v2 policies, per dataset family.

Each classifier batch is transformed image by image (each image gets its own random parameters).
The policy is chosen from the dataset's family unless the config names one; the resolved policy
and its transforms are written into every record.

* ``handwriting`` (digits, MNIST, KMNIST): small affine (rotation, translation, scale). Never
  flipped — a flipped 2 or 7 is not a 2 or 7.
* ``fashion`` (Fashion-MNIST): small affine, random crop with padding, horizontal flip (a
  mirrored shirt is still a shirt).
* ``natural`` (CIFAR-10, colour folders): random crop with padding, horizontal flip, colour
  jitter.
* ``generic`` (grey folders of unknown content): small affine only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from bench.errors import BenchError
from bench.method import FitData, Method, register_method

POLICIES = ("auto", "handwriting", "fashion", "natural", "generic", "none")


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


def build_policy(name: str, cfg: ClassicConfig, image_shape: tuple[int, int, int]) -> v2.Transform | None:
    c, h, w = image_shape
    pad = max(1, round(cfg.crop_padding_frac * min(h, w)))
    affine = v2.RandomAffine(degrees=cfg.rotation, translate=(cfg.translate, cfg.translate),
                             scale=(1 - cfg.scale, 1 + cfg.scale))
    crop = v2.RandomCrop((h, w), padding=pad)
    flip = v2.RandomHorizontalFlip()
    if name == "none":
        return None
    if name in ("handwriting", "generic"):
        return v2.Compose([affine])
    if name == "fashion":
        return v2.Compose([affine, crop, flip])
    if name == "natural":
        steps = [crop, flip]
        if c == 3:
            j = cfg.color_jitter
            steps.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j))
        return v2.Compose(steps)
    raise BenchError(f"classic: unknown policy {name!r}")


@register_method("classic")
class Classic(Method):
    version = "1"
    Config = ClassicConfig
    presets = {"tiny": {}, "quick": {}, "standard": {}}

    def fit(self, data: FitData) -> None:
        self.policy = data.family if self.config.policy == "auto" else self.config.policy
        self.transform = build_policy(self.policy, self.config, data.image_shape)

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        if self.transform is None:
            return x
        return torch.stack([self.transform(img) for img in x])

    def details(self) -> dict:
        return {"policy": self.policy, "transforms": repr(self.transform)}
