"""``diffaug-gan``: ``gan`` trained with differentiable augmentation (Zhao et al. 2020), the
data-efficient GAN baseline: every image the discriminator sees, real or fake, in both the D and
the G step, first goes through the same family of random colour / translation / cutout
transforms (:mod:`bench.diffaugment`), so D cannot simply memorise the few real images.

shots = 1: as ``gan``; the augmentation is what keeps D from memorising the single image.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.methods._gan_common import GAN_PRESETS, GANConfig, GANMethod

from bench.diffaugment import POLICIES, diff_augment
from bench.errors import BenchError
from bench.method import register_method


@dataclass(frozen=True)
class DiffAugGANConfig(GANConfig):
    policy: str = "color,translation,cutout"  # comma-separated ops of bench.diffaugment
    fill: float = 0.0  # shifted-in pixels and cutout squares, in [-1, 1]: 0 grey (the paper's code), -1 black

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [p for p in self.ops if p not in POLICIES]
        if bad or not self.ops:
            raise BenchError(f"diffaug-gan: bad policy {self.policy!r}; use comma-separated ops from {', '.join(POLICIES)}")
        if not -1 <= self.fill <= 1:
            raise BenchError(f"diffaug-gan: fill must be in [-1, 1] (the networks' input range), got {self.fill}")

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.policy.split(",") if p.strip())


@register_method("diffaug-gan")
class DiffAugGAN(GANMethod):
    version = "1"
    Config = DiffAugGANConfig
    presets = GAN_PRESETS

    def augment(self):
        ops, fill = self.config.ops, self.config.fill
        return lambda x, gen: diff_augment(x, ops, gen, fill)

    def details(self) -> dict:
        return {**super().details(), "policy": list(self.config.ops), "fill": self.config.fill}
