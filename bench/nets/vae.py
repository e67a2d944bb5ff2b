"""VAE networks.

:class:`CondVAE` (``vae``): a conditional VAE whose encoder body and decoder are the DCGAN's
(:mod:`bench.nets.gan`). ssl-vae's networks (Kingma et al. 2014): :class:`VAEM1` and
:class:`VAEM2` are MLPs on the flattened image, so they size themselves from C·H·W alone and serve
8×8 digits and 28×28 images unchanged; :func:`gaussian_nll` is M2's likelihood on M1 latents.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.nets.gan import CondGenerator, ConvTrunk
from bench.nets.layers import mlp


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
