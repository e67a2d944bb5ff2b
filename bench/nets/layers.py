"""Building blocks every network in :mod:`bench.nets` shares: the input convention
(:func:`to_input`), sizing from the image side (:func:`n_downsamples`), parameter counts, dense or
rank-r factorised layers (:class:`LayerFactory`), an MLP helper and seeded Gaussian noise.

One architecture, two layer factories: ``gan`` builds the conditional DCGAN with dense layers,
``lrgan`` with every linear/conv weight factorised as a rank-r product. Class embeddings (lookup
tables, not linear/conv weights) and BatchNorm affine parameters stay dense in both.
"""

from __future__ import annotations

import torch
from torch import nn


def n_downsamples(size: int) -> int:
    """How many 2× poolings take an image side to ~4-8 pixels: 8 -> 1, 28 -> 2, 32 -> 2."""
    n = 0
    while size > 8:
        size //= 2
        n += 1
    return max(n, 1)


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


def low_rank_spectral_norm(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """The exact spectral norm of ``U (out×r) @ V (r×n)`` without forming it: with ``Vᵀ = Q R``
    (Q n×r orthonormal), ``U V = (U Rᵀ) Qᵀ`` has the singular values of the out×r ``U Rᵀ``.
    Differentiable; a few microseconds for r = 8."""
    _, R = torch.linalg.qr(V.flatten(1).T)
    return torch.linalg.matrix_norm(U @ R.T, ord=2)


class _ProductSpectral:
    """Mixin: with ``spectral=True`` the layer divides ``U`` by σ(U V), so the product (not each
    factor) has spectral norm 1, as ``spectral_norm`` gives a dense weight."""

    spectral = False

    def _u(self) -> torch.Tensor:
        return self.U / low_rank_spectral_norm(self.U, self.V) if self.spectral else self.U


class LowRankLinear(_ProductSpectral, nn.Module):
    """``y = x Vᵀ Uᵀ + b``: a dense ``out×in`` weight replaced by ``U (out×r) @ V (r×in)``."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        r = max(1, min(rank, in_features, out_features))
        self.in_features, self.out_features, self.rank = in_features, out_features, r
        self.V = nn.Parameter(torch.randn(r, in_features) / in_features**0.5)
        self.U = nn.Parameter(torch.randn(out_features, r) / r**0.5)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(nn.functional.linear(x, self.V), self._u(), self.bias)


class LowRankConv2d(_ProductSpectral, nn.Module):
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
        return nn.functional.conv2d(h, self._u()[:, :, None, None], self.bias)


class LayerFactory:
    """Builds the linear and conv layers of a network: dense (``rank=None``) or rank-r factorised,
    optionally spectrally normalised. Dense: ``spectral_norm`` on ``weight``. Factorised,
    ``low_rank_spectral``: ``"product"`` divides by the exact σ(U V) (spectral norm 1, as dense;
    lrgan version 2), ``"factors"`` puts ``spectral_norm`` on ``U`` and on ``V`` (σ(U V) ≤ 1 only
    as a bound, 0.5-0.9 per layer at initialisation and compounding through the depth; lrgan
    version 1)."""

    def __init__(self, rank: int | None = None, spectral: bool = False, low_rank_spectral: str = "product") -> None:
        if rank is not None and rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        if low_rank_spectral not in ("product", "factors"):
            raise ValueError(f"low_rank_spectral must be 'product' or 'factors', got {low_rank_spectral!r}")
        self.rank, self.spectral, self.low_rank_spectral = rank, spectral, low_rank_spectral

    def _wrap(self, m: nn.Module) -> nn.Module:
        if not self.spectral:
            return m
        sn = nn.utils.parametrizations.spectral_norm
        if self.rank is None:
            return sn(m)
        if self.low_rank_spectral == "product":
            m.spectral = True
            return m
        return sn(sn(m, name="U"), name="V")

    def linear(self, i: int, o: int, bias: bool = True) -> nn.Module:
        m = nn.Linear(i, o, bias) if self.rank is None else LowRankLinear(i, o, self.rank, bias)
        return self._wrap(m)

    def conv(self, i: int, o: int, k: int, stride: int = 1, padding: int = 0, bias: bool = True) -> nn.Module:
        m = nn.Conv2d(i, o, k, stride, padding, bias=bias) if self.rank is None else LowRankConv2d(i, o, k, self.rank, stride, padding, bias)
        return self._wrap(m)


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
