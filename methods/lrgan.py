"""``lrgan``: ``gan``'s architecture with every linear and conv weight factorised as a rank-r
product ``U (out×r) @ V (r×in·k·k)`` (:class:`bench.nets.LowRankLinear`,
:class:`bench.nets.LowRankConv2d`), in both the generator and the discriminator. Layers whose
smaller side is below r keep their full rank (r is clipped to min(out, in·k·k)). Class
embeddings and BatchNorm parameters stay dense. With spectral norm (``spectral_on="product"``, version 2), the product is divided by its exact
σ(U V), spectral norm 1 like the dense layer's; version 1 normalised each factor, a bound that
shrinks the product (0.5-0.9 per layer) and left D at chance.

The record's ``details`` carry ``params_g``/``params_d`` next to ``full_rank_params_g``/
``full_rank_params_d``: what ``gan`` with the same config has.

shots = 1: as ``gan`` (batches with replacement from one image per class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.methods._gan_common import GAN_PRESETS, GANConfig, GANMethod, build_gan

from bench.errors import BenchError
from bench.method import register_method
from bench.nets import LayerFactory, count_parameters


@dataclass(frozen=True)
class LRGANConfig(GANConfig):
    rank: int = 8  # rank of every factorised weight
    spectral_on: str = "product"  # D's spectral norm on the product U V ("product") or on each factor (version 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rank < 1:
            raise BenchError(f"rank must be >= 1, got {self.rank}")
        if self.spectral_on not in ("product", "factors"):
            raise BenchError(f"lrgan: spectral_on must be 'product' or 'factors', got {self.spectral_on!r}")


@register_method("lrgan")
class LRGAN(GANMethod):
    version = "2"  # 2: spectral norm of the product, rank 16 at standard, EMA G, 1600 steps (1: factors, rank 8, 800)
    tuned_on = {"standard": {"seeds": [1000, 1002], "date": "2026-12-07", "evidence": "results/protocol/gan-screen-fashion-mnist.md (gan-screen{,2,3}-fashion-mnist.toml, Fashion-MNIST 10/50 shots)"}}
    Config = LRGANConfig
    presets = {"tiny": {**GAN_PRESETS["tiny"], "rank": 2}, "quick": {**GAN_PRESETS["quick"], "rank": 4},
               "standard": {**GAN_PRESETS["standard"], "rank": 16}}

    @property
    def rank(self) -> int:  # type: ignore[override]
        return self.config.rank

    def layer_factories(self, rank: int | None = None) -> tuple[LayerFactory, LayerFactory]:
        spectral = self.config.stabiliser == "spectral"
        return LayerFactory(rank), LayerFactory(rank, spectral=spectral, low_rank_spectral=self.config.spectral_on)

    def details(self) -> dict[str, Any]:
        G, D = build_gan(self.config, self.G.image_shape, self.num_classes, LayerFactory(), LayerFactory())
        full_g, full_d = count_parameters(G), count_parameters(D)
        out = super().details()
        out.update(full_rank_params_g=full_g, full_rank_params_d=full_d,
                   param_ratio=round((out["params_g"] + out["params_d"]) / (full_g + full_d), 4))
        return out
