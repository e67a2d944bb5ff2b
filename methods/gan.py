"""``gan``: class-conditional DCGAN-style GAN trained on the k-shot set.

Generator: class embedding + latent -> linear -> (nearest upsample, 3×3 conv, BatchNorm, ReLU)
blocks -> tanh, sized from the image shape (:class:`bench.nets.CondGenerator`). Discriminator:
conv trunk + projection head (:class:`bench.nets.CondDiscriminator`) with spectral norm
(``stabiliser="spectral"``, default) or none. Non-saturating loss, Adam(β₁=0.5)
(:mod:`bench.gan_training`). The classifier trains on the real shots plus ``n_per_class``
samples per class, ``real_fraction`` of each batch real.

shots = 1: the GAN trains on one image per class (batches drawn with replacement) and mostly
reproduces it with small variations; it does not crash.
"""

from bench.methods._gan_common import GANMethod

from bench.method import register_method


@register_method("gan")
class GAN(GANMethod):
    version = "1"
    tuned_on = {"standard": {"seeds": [1000, 1004], "date": "2026-11-27",
                             "evidence": "results/protocol/sensitivity-digits.md (protocol-digits.toml): real_fraction 0.25/0.75, n_per_class 500; no variant beat the default, default kept"}}
