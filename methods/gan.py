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
    version = "2"  # 2: EMA sampling generator, 1600 steps at standard (1: last weights, 800)
    tuned_on = {"standard": {"seeds": [1000, 1002], "date": "2026-12-07", "evidence": "results/protocol/gan-screen-fashion-mnist.md (gan-screen{,2,3}-fashion-mnist.toml, Fashion-MNIST 10/50 shots)"}}
