"""``diffaug-gan``: ``gan`` trained with differentiable augmentation (Zhao et al. 2020), the
data-efficient GAN baseline: every image the discriminator sees, real or fake, in both the D and
the G step, first goes through the same family of random colour / translation / cutout
transforms (:mod:`bench.diffaugment`), so D cannot simply memorise the few real images.

Version 2 (results/protocol/gan-screen-fashion-mnist.md): each image is augmented with a
probability that adapts to how much D overfits (``ada_target``, Karras et al. 2020's heuristic
E[sign D(real)] = 0.6, from 0), shifted-in pixels and cutout squares are black, the generator is
sampled from its EMA and the standard budget is 1600 steps. Version 1 augmented every image: with
this 16-wide D that sat at chance and cut recall to 0.03-0.11; DiffAugment's published gain
assumes a D that overfits, which this one does at 10 shots a little (p settles near 0.2) and at 50
shots not at all (p near 0: then it trains as ``gan``).

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
    fill: float = -1.0  # shifted-in pixels and cutout squares, in [-1, 1]: -1 black, 0 grey (the paper's code; version 1)
    ada_target: float = 0.6  # augmentation probability adapts to D's overfitting (Karras et al. 2020); 0: always (version 1)

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
    version = "2"  # 2: black fill, adaptive probability (ada_target 0.6), EMA G, 1600 steps at standard
    tuned_on = {"standard": {"seeds": [1000, 1002], "date": "2026-12-07", "evidence": "results/protocol/gan-screen-fashion-mnist.md (gan-screen{,2,3}-fashion-mnist.toml, Fashion-MNIST 10/50 shots)"}}
    Config = DiffAugGANConfig
    presets = GAN_PRESETS

    def augment(self):
        ops, fill = self.config.ops, self.config.fill
        return lambda x, gen: diff_augment(x, ops, gen, fill)

    def details(self) -> dict:
        return {**super().details(), "policy": list(self.config.ops), "fill": self.config.fill}
