"""Networks shared by the harness and by several methods, in one place.

Every network is sized from the image shape (C, H, W) so the same code serves 8×8 digits,
28×28 grey images and 32×32 colour images, and takes images in [-1, 1] (:func:`to_input`).

* :mod:`~bench.nets.layers`: the input convention, sizing, parameter counts, dense or low-rank layers
* :mod:`~bench.nets.classifier`: the downstream classifier, its trunk's mirror decoder, the MLP student
* :mod:`~bench.nets.gan`: the conditional DCGAN and ssl-gan's MLP generator and discriminator
* :mod:`~bench.nets.vae`: the conditional VAE and ssl-vae's M1 and M2

Every public name is importable from ``bench.nets`` itself.
"""

from __future__ import annotations

from bench.nets.classifier import MLPStudent, SmallCNN, TrunkDecoder
from bench.nets.gan import CondDiscriminator, CondGenerator, ConvTrunk, SSLGANDiscriminator, SSLGANGenerator
from bench.nets.layers import (
    GaussianNoise,
    LayerFactory,
    LowRankConv2d,
    LowRankLinear,
    count_parameters,
    mlp,
    n_downsamples,
    to_input,
)
from bench.nets.vae import VAEM1, VAEM2, CondVAE, gaussian_nll

__all__ = [
    "CondDiscriminator",
    "CondGenerator",
    "CondVAE",
    "ConvTrunk",
    "GaussianNoise",
    "LayerFactory",
    "LowRankConv2d",
    "LowRankLinear",
    "MLPStudent",
    "SSLGANDiscriminator",
    "SSLGANGenerator",
    "SmallCNN",
    "TrunkDecoder",
    "VAEM1",
    "VAEM2",
    "count_parameters",
    "gaussian_nll",
    "mlp",
    "n_downsamples",
    "to_input",
]
