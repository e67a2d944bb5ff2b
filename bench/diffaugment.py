"""Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training"): the same random colour / translation / cutout transform applied to real and fake
images before the discriminator, differentiable so the generator's gradient passes through it.

Written from the paper's description of the official ``DiffAugment`` policy
``"color,translation,cutout"`` (brightness ±0.5, saturation ×[0, 2], contrast ×[0.5, 1.5];
translation by up to 1/8 of the side with zero padding; one zero square of half the side).
Randomness comes from an explicit CPU ``torch.Generator`` so training is repeatable on any device.

``fill``: the value of shifted-in pixels and cutout squares. The official code uses 0, mid-grey
in the [-1, 1] range of every network here (CIFAR-10's backgrounds are anything); on black
backgrounds (MNIST-like data, -1) that paints grey borders and squares no real image has. -1 is
black, what torchvision's padding gives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _rand(gen: torch.Generator, x: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=gen).to(x.device, x.dtype)


def _color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = len(x)
    x = x + (_rand(gen, x, b, 1, 1, 1) - 0.5)
    m = x.mean(1, keepdim=True)
    x = (x - m) * (_rand(gen, x, b, 1, 1, 1) * 2) + m
    m = x.mean((1, 2, 3), keepdim=True)
    return (x - m) * (_rand(gen, x, b, 1, 1, 1) + 0.5) + m


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125, fill: float = 0.0) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), generator=gen).to(x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=gen).to(x.device)
    gb, gy, gx = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=fill).permute(0, 2, 3, 1)  # borders are `fill`: shifted-in pixels
    return padded[gb, gy, gx].permute(0, 3, 1, 2).contiguous()


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5, fill: float = 0.0) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen).to(x.device)
    gb, gy, gx = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(b, h, w, device=x.device, dtype=x.dtype)
    mask[gb, gy, gx] = 0
    mask = mask.unsqueeze(1)
    return x * mask + fill * (1 - mask)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator, fill: float = 0.0) -> torch.Tensor:
    """Apply the ops of ``policy`` (names from :data:`POLICIES`, in order) to a float batch."""
    for name in policy:
        x = _OPS[name](x, gen) if name == "color" else _OPS[name](x, gen, fill=fill)
    return x
