"""GAN networks.

The conditional DCGAN (:class:`CondGenerator`, :class:`ConvTrunk`, :class:`CondDiscriminator`),
sized from the image shape and built from a :class:`~bench.nets.layers.LayerFactory`, dense or
low-rank. The VAE (:mod:`bench.nets.vae`) reuses its generator as decoder and its trunk as encoder.

ssl-gan's networks (Salimans et al. 2016): the paper's MNIST model is an MLP on the flattened
image, so :class:`SSLGANDiscriminator` and :class:`SSLGANGenerator` size themselves from C·H·W
alone and serve 8×8 digits and 28×28 images unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.nets.layers import GaussianNoise, LayerFactory, n_downsamples


def _start_size(h: int, w: int) -> tuple[int, int, int]:
    """(n upsamplings, start height, start width) so that n 2× upsamplings cover h×w."""
    n = n_downsamples(min(h, w))
    return n, -(-h // 2**n), -(-w // 2**n)


class CondGenerator(nn.Module):
    """Class-conditional DCGAN-style generator sized from the image shape.

    ``[z, embed(y)] -> linear -> (width·2ⁿ)×h₀×w₀ -> n × (2× nearest upsample, 3×3 conv, BN, ReLU)
    -> 3×3 conv to C``, with n from :func:`n_downsamples` (8×8: 4→8; 28×28: 7→14→28; 32×32:
    8→16→32). ``out="tanh"`` gives images in [-1, 1]; ``out="logits"`` raw values (VAE decoder).
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, z_dim: int = 64, width: int = 32,
                 embed_dim: int = 16, layers: LayerFactory | None = None, out: str = "tanh") -> None:
        super().__init__()
        layers = layers or LayerFactory()
        c, h, w = image_shape
        n, self.h0, self.w0 = _start_size(h, w)
        self.image_shape, self.z_dim, self.out = tuple(image_shape), z_dim, out
        ch = width * 2**n
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.fc = layers.linear(z_dim + embed_dim, ch * self.h0 * self.w0)
        self.bn0 = nn.BatchNorm2d(ch)
        blocks: list[nn.Module] = []
        for _ in range(n):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"), layers.conv(ch, ch // 2, 3, padding=1),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        blocks.append(layers.conv(ch, c, 3, padding=1))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], 1)).view(len(z), -1, self.h0, self.w0)
        x = self.blocks(torch.relu(self.bn0(h)))
        x = x[:, :, : self.image_shape[1], : self.image_shape[2]]  # sides that are not 2ⁿ·h₀
        return torch.tanh(x) if self.out == "tanh" else x


class ConvTrunk(nn.Module):
    """3×3 conv then n × (4×4 stride-2 conv), LeakyReLU, flattened: the discriminator / encoder body."""

    def __init__(self, image_shape: tuple[int, int, int], width: int = 32, layers: LayerFactory | None = None) -> None:
        super().__init__()
        layers = layers or LayerFactory()
        c, h, w = image_shape
        n = n_downsamples(min(h, w))
        mods: list[nn.Module] = [layers.conv(c, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(n):
            mods += [layers.conv(ch, ch * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            ch, h, w = ch * 2, h // 2, w // 2
        mods.append(nn.Flatten())
        self.body = nn.Sequential(*mods)
        self.out_dim = ch * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CondDiscriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018): conv features of :class:`ConvTrunk`, a
    linear layer to ``feature_dim``, then ``linear(h) + <embed(y), h>``."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32,
                 layers: LayerFactory | None = None, feature_dim: int = 128) -> None:
        super().__init__()
        layers = layers or LayerFactory()
        self.trunk = ConvTrunk(image_shape, width, layers)
        self.feat = layers.linear(self.trunk.out_dim, feature_dim)
        self.fc = layers.linear(feature_dim, 1)
        self.embed = nn.Embedding(num_classes, feature_dim)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = nn.functional.leaky_relu(self.feat(self.trunk(x)), 0.2)
        return self.fc(h).squeeze(1) + (self.embed(y) * h).sum(1)


class SSLGANDiscriminator(nn.Module):
    """Discriminator-classifier of Salimans et al. 2016's MNIST model: Gaussian noise (σ
    ``input_noise`` on the input, ``hidden_noise`` after each hidden layer), weight-normalised
    linear layers with ReLU (1000-500-250-250-250 in the paper), K class logits. The (K+1)-th
    "fake" logit is fixed at 0 and so never computed: D(real) = Z/(Z+1), Z = Σ exp(logits).

    ``forward`` returns ``(logits, features)``; ``features`` is the last hidden layer's output
    (after ReLU, before its noise): the layer the generator's feature matching uses.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 hidden: tuple[int, ...] = (1000, 500, 250, 250, 250), input_noise: float = 0.3,
                 hidden_noise: float = 0.5) -> None:
        super().__init__()
        wn = nn.utils.parametrizations.weight_norm
        c, h, w = image_shape
        self.image_shape = tuple(image_shape)
        self.input_noise = GaussianNoise(input_noise)
        sizes = (c * h * w, *hidden)
        self.hidden = nn.ModuleList(wn(nn.Linear(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.noise = nn.ModuleList(GaussianNoise(hidden_noise) for _ in hidden)
        self.out = wn(nn.Linear(sizes[-1], num_classes))

    def set_noise_generator(self, generator: torch.Generator | None) -> None:
        for m in self.modules():
            if isinstance(m, GaussianNoise):
                m.generator = generator

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.input_noise(x.flatten(1))
        feat = h
        for layer, noise in zip(self.hidden, self.noise, strict=True):
            feat = torch.relu(layer(h))
            h = noise(feat)
        return self.out(h), feat


class SSLGANGenerator(nn.Module):
    """Generator of Salimans et al. 2016's MNIST model: uniform noise ``z`` -> (linear, softplus,
    BatchNorm) × len(hidden) (500-500 in the paper) -> weight-normalised linear -> image. The
    paper's sigmoid becomes tanh here: every network in bench.nets sees images in [-1, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int = 100, hidden: tuple[int, ...] = (500, 500)) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape, self.z_dim = tuple(image_shape), z_dim
        layers: list[nn.Module] = []
        d = z_dim
        for k in hidden:
            layers += [nn.Linear(d, k), nn.Softplus(), nn.BatchNorm1d(k)]
            d = k
        layers.append(nn.utils.parametrizations.weight_norm(nn.Linear(d, c * h * w)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(len(z), *self.image_shape)
