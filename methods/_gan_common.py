"""What ``gan``, ``lrgan``, ``transfer-gan`` and ``diffaug-gan`` share: the config, and a base
method that builds the conditional DCGAN (:class:`bench.nets.CondGenerator` /
:class:`bench.nets.CondDiscriminator`) from a layer factory, trains it with
:func:`bench.gan_training.train_gan` and samples it. The four method files override only the
layer factory, the augmentation, or what happens before training (transfer-gan loads a
source-pretrained model).

shots = 1: batches are drawn with replacement, so one image per class fills every batch; the
generator can at best learn small variations of that image (it mostly reproduces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.errors import BenchError
from bench.gan_training import GANSchedule, sample_images, train_gan
from bench.method import Capabilities, FitData, GenerativeConfig, Method
from bench.nets import CondDiscriminator, CondGenerator, LayerFactory, count_parameters

STABILISERS = ("spectral", "none")


@dataclass(frozen=True)
class GANConfig(GenerativeConfig):
    steps: int = 1000  # training iterations (one D and one G update each)
    batch_size: int = 64
    z_dim: int = 32
    g_width: int = 32  # channels of the generator's last block (doubles per upsampling)
    d_width: int = 32  # channels of the discriminator's first conv (doubles per downsampling)
    embed_dim: int = 16  # generator's class embedding
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    stabiliser: str = "spectral"  # spectral norm on every D linear/conv weight, or "none"
    ema: float = 0.999  # sample from a moving average of G (decay per step); 0: G's last weights (version 1)
    select_every: int = 0  # check the sampler's pixel KID to the shots every this many steps, keep the best; 0: off
    patience: int = 3  # with select_every: checks without a new best before training stops
    aug_p: float = 1.0  # methods with an augmentation: probability each image D sees is augmented
    ada_target: float = 0.0  # > 0: adapt aug_p so D's mean sign on real images stays at this; 0: fixed

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.select_every < 0 or self.patience < 1:
            raise BenchError(f"select_every must be >= 0 and patience >= 1, got {self.select_every} and {self.patience}")
        if not 0 <= self.aug_p <= 1 or not 0 <= self.ada_target < 1:
            raise BenchError(f"aug_p must be in [0, 1] and ada_target in [0, 1), got {self.aug_p} and {self.ada_target}")
        if not 0 <= self.ema < 1:
            raise BenchError(f"ema must be in [0, 1), got {self.ema}")
        if self.stabiliser not in STABILISERS:
            raise BenchError(f"unknown stabiliser {self.stabiliser!r}; choose from {', '.join(STABILISERS)}")
        for name in ("steps", "batch_size", "z_dim", "g_width", "d_width", "embed_dim"):
            if getattr(self, name) < 1:
                raise BenchError(f"{name} must be >= 1, got {getattr(self, name)}")

    def schedule(self, steps: int | None = None) -> GANSchedule:
        return GANSchedule(self.steps if steps is None else steps, self.batch_size, self.lr_g, self.lr_d,
                           self.beta1, self.beta2, self.ema, self.select_every, self.patience, self.aug_p,
                           self.ada_target)


# Presets sized for the suites: tiny = seconds in tests; quick = 8×8 digits, a few seconds per
# cell on one core; standard = 28×28 Fashion-MNIST, about a minute of GAN training per cell on
# one idle core (width 32 / batch 64 costs ~6× more per step). Standard: 1600 steps and the EMA
# generator since gan 2 / diffaug-gan 2 / lrgan 2 / transfer-gan 3 (800 steps and the last weights
# before; results/protocol/gan-screen-fashion-mnist.md: at 50 shots FID 144 -> 75, recall 0.27 -> 0.52).
GAN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 4, "batch_size": 16, "g_width": 8, "d_width": 8, "z_dim": 8, "n_per_class": 10},
    "quick": {"steps": 250, "batch_size": 32, "g_width": 16, "d_width": 16, "lr_g": 1e-3, "lr_d": 1e-3},
    "standard": {"steps": 1600, "batch_size": 32, "g_width": 16, "d_width": 16, "lr_g": 5e-4, "lr_d": 5e-4},
}


def build_gan(cfg: GANConfig, image_shape: tuple[int, int, int], num_classes: int,
              layers: LayerFactory, d_layers: LayerFactory) -> tuple[CondGenerator, CondDiscriminator]:
    G = CondGenerator(image_shape, num_classes, cfg.z_dim, cfg.g_width, cfg.embed_dim, layers)
    D = CondDiscriminator(image_shape, num_classes, cfg.d_width, d_layers)
    return G, D


class GANMethod(Method):
    """Base of the GAN methods; not registered itself."""

    Config = GANConfig
    presets = GAN_PRESETS
    capabilities = Capabilities(generates=True)

    # --- what subclasses change ------------------------------------------------------------
    rank: int | None = None  # None: dense layers; lrgan: the config's rank

    def augment(self):
        """A differentiable ``(float batch, generator) -> batch`` applied before D, or None."""
        return None

    def prepare(self, G: CondGenerator, D: CondDiscriminator, data: FitData) -> None:
        """Called after building, before training (transfer-gan loads pretrained weights)."""

    # --- shared ----------------------------------------------------------------------------
    def layer_factories(self, rank: int | None = None) -> tuple[LayerFactory, LayerFactory]:
        """(generator, discriminator) factories: the stabiliser applies to D only."""
        return LayerFactory(rank), LayerFactory(rank, spectral=self.config.stabiliser == "spectral")

    def build(self, image_shape: tuple[int, int, int], num_classes: int) -> tuple[CondGenerator, CondDiscriminator]:
        return build_gan(self.config, image_shape, num_classes, *self.layer_factories(self.rank))

    def fit(self, data: FitData) -> None:
        self.num_classes, self.shots = data.num_classes, int(torch.bincount(data.y, minlength=data.num_classes).min())
        self.G, self.D = self.build(data.image_shape, data.num_classes)
        self.prepare(self.G, self.D, data)
        gen = torch.Generator().manual_seed(self.ctx.seed)
        self.train_stats = train_gan(self.G, self.D, data.x, data.y, self.config.schedule(), device=self.ctx.device,
                                     gen=gen, augment=self.augment(), progress=self.ctx.progress, desc=self.name)

    def generate(self, n_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.ctx.seed + 1)
        return sample_images(self.G, self.G.z_dim, n_per_class, self.num_classes, device=self.ctx.device, gen=gen)

    def details(self) -> dict[str, Any]:
        return {
            "params_g": count_parameters(self.G), "params_d": count_parameters(self.D),
            "trainable_params": count_parameters(self.G) + count_parameters(self.D),
            "steps": self.config.steps, "rank": self.rank, "stabiliser": self.config.stabiliser,
            "ema": self.config.ema,
            "min_shots_per_class": self.shots, **self.train_stats,
            "shots_1": "batches drawn with replacement from the one image per class; samples are close to it",
        }
