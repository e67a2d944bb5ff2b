"""Networks shared by the harness and by several methods, in one place.

Every network is sized from the image shape (C, H, W) so the same code serves 8×8 digits,
28×28 grey images and 32×32 colour images. The downstream classifier exposes ``features``
(the trunk, image -> ``feature_dim`` vector) and ``head`` so pretraining methods can initialise
the trunk and fine-tuning methods can freeze it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def n_downsamples(size: int) -> int:
    """How many 2× poolings take an image side to ~4-8 pixels: 8 -> 1, 28 -> 2, 32 -> 2."""
    n = 0
    while size > 8:
        size //= 2
        n += 1
    return max(n, 1)


class SmallCNN(nn.Module):
    """The fixed downstream classifier: conv blocks, then a 128-d feature vector and a linear head."""

    feature_dim = 128

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = []
        ch, size = c, min(h, w)
        for i in range(n_downsamples(size)):
            out = width * 2**i
            layers += [nn.Conv2d(ch, out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            ch = out
            h, w = h // 2, w // 2
        layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(ch * h * w, self.feature_dim), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(x: torch.Tensor) -> torch.Tensor:
    """Images -> float32 in [-1, 1], the input range of every network here.

    uint8 images (0..255) map as ``v / 127.5 - 1``; floating-point images are taken to be in
    [0, 1] (e.g. mixup's blends, which rounding to uint8 would perturb) and map as ``2 f - 1``, so
    ``f = v / 255`` gives the same value up to float rounding. The input is never modified.
    """
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    if not x.is_floating_point():
        raise TypeError(f"to_input takes uint8 images or float images in [0, 1], got {x.dtype}")
    return x.to(torch.float32).mul(2.0).sub_(1.0)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --- generative networks: conditional DCGAN, low-rank layers, conditional VAE -----------------
#
# One architecture, two layer factories: ``gan`` builds it with dense layers, ``lrgan`` with every
# linear/conv weight factorised as a rank-r product. Class embeddings (lookup tables, not
# linear/conv weights) and BatchNorm affine parameters stay dense in both.


class LowRankLinear(nn.Module):
    """``y = x Vᵀ Uᵀ + b``: a dense ``out×in`` weight replaced by ``U (out×r) @ V (r×in)``."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        r = max(1, min(rank, in_features, out_features))
        self.in_features, self.out_features, self.rank = in_features, out_features, r
        self.V = nn.Parameter(torch.randn(r, in_features) / in_features**0.5)
        self.U = nn.Parameter(torch.randn(out_features, r) / r**0.5)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(nn.functional.linear(x, self.V), self.U, self.bias)


class LowRankConv2d(nn.Module):
    """A k×k conv whose ``out×(in·k·k)`` weight matrix is ``U (out×r) @ V (r×in·k·k)``.

    Computed as a k×k conv to r channels followed by a 1×1 conv to ``out`` (the same linear map,
    cheaper than materialising the product). ``V`` is stored as ``r×in×k×k``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rank: int,
                 stride: int = 1, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        fan_in = in_channels * kernel_size * kernel_size
        r = max(1, min(rank, fan_in, out_channels))
        self.in_channels, self.out_channels, self.rank = in_channels, out_channels, r
        self.stride, self.padding = stride, padding
        self.V = nn.Parameter(torch.randn(r, in_channels, kernel_size, kernel_size) / fan_in**0.5)
        self.U = nn.Parameter(torch.randn(out_channels, r) / r**0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.conv2d(x, self.V, None, self.stride, self.padding)
        return nn.functional.conv2d(h, self.U[:, :, None, None], self.bias)


class LayerFactory:
    """Builds the linear and conv layers of a network: dense (``rank=None``) or rank-r factorised,
    optionally spectrally normalised (on ``weight``, or on both factors ``U`` and ``V`` — the
    product's spectral norm is then at most 1, the same Lipschitz bound)."""

    def __init__(self, rank: int | None = None, spectral: bool = False) -> None:
        if rank is not None and rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        self.rank, self.spectral = rank, spectral

    def _wrap(self, m: nn.Module) -> nn.Module:
        if not self.spectral:
            return m
        sn = nn.utils.parametrizations.spectral_norm
        if self.rank is None:
            return sn(m)
        return sn(sn(m, name="U"), name="V")

    def linear(self, i: int, o: int, bias: bool = True) -> nn.Module:
        m = nn.Linear(i, o, bias) if self.rank is None else LowRankLinear(i, o, self.rank, bias)
        return self._wrap(m)

    def conv(self, i: int, o: int, k: int, stride: int = 1, padding: int = 0, bias: bool = True) -> nn.Module:
        m = nn.Conv2d(i, o, k, stride, padding, bias=bias) if self.rank is None else LowRankConv2d(i, o, k, self.rank, stride, padding, bias)
        return self._wrap(m)


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


class CondVAE(nn.Module):
    """Conditional VAE: ``q(z | x, y)`` from a conv trunk, ``p(x | z, y)`` a :class:`CondGenerator`
    returning per-pixel Bernoulli logits on images scaled to [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, z_dim: int = 16, width: int = 32,
                 embed_dim: int = 16) -> None:
        super().__init__()
        self.num_classes, self.z_dim = num_classes, z_dim
        self.encoder = ConvTrunk(image_shape, width)
        self.to_stats = nn.Linear(self.encoder.out_dim + num_classes, 2 * z_dim)
        self.decoder = CondGenerator(image_shape, num_classes, z_dim, width, embed_dim, out="logits")

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.encoder(x), nn.functional.one_hot(y, self.num_classes).float()], 1)
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(z, y)

class TrunkDecoder(nn.Module):
    """Mirror of :class:`SmallCNN`'s trunk: ``feature_dim`` vector -> image in [-1, 1].

    Paired with ``SmallCNN.features`` it makes the autoencoder of ``ae-pretrain``, so the encoder
    it pretrains is exactly the downstream classifier's trunk.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int = 32, feature_dim: int = SmallCNN.feature_dim) -> None:
        super().__init__()
        c, h, w = image_shape
        n = n_downsamples(min(h, w))
        ch = width * 2 ** (n - 1)
        self.start = (ch, h // 2**n, w // 2**n)
        self.fc = nn.Sequential(nn.Linear(feature_dim, ch * self.start[1] * self.start[2]), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for i in reversed(range(n)):
            out = c if i == 0 else width * 2 ** (i - 1)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, out, 3, padding=1)]
            if i > 0:
                layers.append(nn.ReLU(inplace=True))
            ch = out
        self.body = nn.Sequential(*layers)
        self.image_shape = (c, h, w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.body(self.fc(z).view(-1, *self.start))
        if tuple(x.shape[2:]) != self.image_shape[1:]:  # odd sides (e.g. 28 -> 7 -> 28 is exact; 30 is not)
            x = nn.functional.interpolate(x, size=self.image_shape[1:], mode="bilinear", align_corners=False)
        return torch.tanh(x)


class MLPStudent(nn.Module):
    """A small all-Linear classifier: the distillation student of ``distill-quant``.

    All its weights sit in ``nn.Linear`` layers, which int8 dynamic quantization (torchao on CPU)
    turns into int8 matrix multiplies; conv layers would stay float and limit the size gain.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, hidden: tuple[int, ...] = (128, 64)) -> None:
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = [nn.Flatten()]
        d = c * h * w
        for k in hidden:
            layers += [nn.Linear(d, k), nn.ReLU(inplace=True)]
            d = k
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)
        self.image_shape = tuple(image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --- semi-supervised generative models: ssl-gan (Salimans et al. 2016), ssl-vae (Kingma et al. 2014)
#
# Both papers' MNIST models are MLPs on the flattened image, so they size themselves from
# C·H·W alone and serve 8×8 digits and 28×28 images unchanged.


def mlp(sizes: tuple[int, ...] | list[int], act: type[nn.Module] = nn.Softplus) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ``act`` after each one but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class GaussianNoise(nn.Module):
    """Adds N(0, std²) noise in training mode only. The noise comes from ``self.generator`` (a CPU
    ``torch.Generator``) when one is set, so a seeded training run does not depend on the global RNG."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return x
        if self.generator is None:
            return x + self.std * torch.randn_like(x)
        return x + self.std * torch.randn(x.shape, generator=self.generator).to(x.device, x.dtype)


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
    paper's sigmoid becomes tanh here: every network in this module sees images in [-1, 1]."""

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


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-row −log N(x; mean, diag exp(logvar)), summed over the last dimension."""
    return 0.5 * (math.log(2 * math.pi) + logvar + (x - mean).pow(2) / logvar.exp()).sum(-1)


class VAEM1(nn.Module):
    """Kingma et al. 2014's M1: an MLP VAE on flat vectors in [0, 1] (Bernoulli likelihood),
    softplus hidden layers (600-600 in the paper), Gaussian ``q(z|x)``. M1+M2 trains M2 on the
    means of ``q(z|x)``."""

    def __init__(self, in_dim: int, z_dim: int = 50, hidden: tuple[int, ...] = (600, 600)) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.encoder = mlp((in_dim, *hidden, 2 * z_dim))
        self.decoder = mlp((z_dim, *hidden[::-1], in_dim))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 10)

    def neg_elbo(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per-row −ELBO with one reparameterised sample ``z = μ + σ·eps`` and the analytic KL."""
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * eps
        rec = nn.functional.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(-1)
        return rec - 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


class VAEM2(nn.Module):
    """Kingma et al. 2014's M2 on flat vectors: ``q(y|x)`` (the classifier), ``q(z|x,y)`` and
    ``p(x|y,z)``, each an MLP with softplus hidden layers (one of 500 in the paper); prior
    ``p(z) = N(0, I)``, ``p(y)`` uniform. ``likelihood="bernoulli"`` for pixels in [0, 1],
    ``"gaussian"`` (learned diagonal variance) for M1 latents."""

    def __init__(self, in_dim: int, num_classes: int, z_dim: int = 50, hidden: tuple[int, ...] = (500,),
                 likelihood: str = "bernoulli") -> None:
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be bernoulli or gaussian, got {likelihood!r}")
        self.num_classes, self.z_dim, self.likelihood = num_classes, z_dim, likelihood
        out = in_dim if likelihood == "bernoulli" else 2 * in_dim
        self.classifier = mlp((in_dim, *hidden, num_classes))
        self.encoder = mlp((in_dim + num_classes, *hidden, 2 * z_dim))
        self.decoder = mlp((z_dim + num_classes, *hidden[::-1], out))

    def encode(self, x: torch.Tensor, y1h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(torch.cat([x, y1h], -1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 10)

    def reconstruction_nll(self, x: torch.Tensor, z: torch.Tensor, y1h: torch.Tensor) -> torch.Tensor:
        """Per-row −log p(x | y, z)."""
        out = self.decoder(torch.cat([z, y1h], -1))
        if self.likelihood == "bernoulli":
            return nn.functional.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        mean, logvar = out.chunk(2, dim=-1)
        return gaussian_nll(x, mean, logvar.clamp(-10, 10))

    def neg_elbo(self, x: torch.Tensor, y1h: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per-row L(x, y) = −ELBO = −log p(x|y,z) − log p(y) + KL(q(z|x,y) ‖ p(z)), one
        reparameterised sample ``z = μ + σ·eps``, analytic KL, ``log p(y) = −log K``."""
        mu, logvar = self.encode(x, y1h)
        z = mu + (0.5 * logvar).exp() * eps
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)
        return self.reconstruction_nll(x, z, y1h) + kl + math.log(self.num_classes)
