"""The GAN training loop shared by ``gan``, ``lrgan``, ``transfer-gan`` and ``diffaug-gan``.

Non-saturating loss (Goodfellow et al. 2014): the discriminator minimises
``softplus(-D(real)) + softplus(D(fake))``, the generator ``softplus(-D(fake))``; one D step
then one G step per iteration, Adam with DCGAN's β₁ = 0.5. Real batches are drawn with
replacement from the (few) training images, so a class with a single image still fills a batch;
fake images get the labels of the real batch, so the class mix follows the data. All randomness
(batches, latents, augmentation) comes from one CPU ``torch.Generator``: the same seed gives the
same weights on CPU.

``ema`` > 0: the generator that is returned (and sampled) is an exponential moving average of
its weights and BatchNorm statistics over training (:class:`bench.training.WeightAverage`, with
its warm-up), the standard sampling generator of modern GANs (Karras et al. 2018, Brock et al.
2019; StudioGAN's ``apply_g_ema``); the discriminator trains against the live generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import Diverged
from bench.nets import to_input
from bench.training import WeightAverage

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

# A non-saturating GAN loss is softplus of a logit: about 0.7 in balance, tens when one side wins.
# Above this, D's logits have exploded (lr 1e3 gives ~1e7): the GAN diverged even if still finite.
DIVERGED_LOSS = 1e4


def check_converging(losses: dict[str, float], params: Callable[[], object] = lambda: ()) -> None:
    """Raise :class:`~bench.errors.Diverged` if a final loss is non-finite or above
    :data:`DIVERGED_LOSS`, or a parameter is non-finite."""
    for name, v in losses.items():
        if not math.isfinite(v) or abs(v) > DIVERGED_LOSS:
            raise Diverged(f"training diverged: {name} = {v:g} (non-finite or above {DIVERGED_LOSS:g}); "
                           "lower the learning rate")
    for p in params():
        if not torch.isfinite(p).all():
            raise Diverged("training diverged: non-finite weights; lower the learning rate")


@dataclass(frozen=True)
class GANSchedule:
    steps: int
    batch_size: int
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.0  # decay of the sampling generator's weight average; 0: the last weights


def train_gan(G: nn.Module, D: nn.Module, x: torch.Tensor, y: torch.Tensor, schedule: GANSchedule, *,
              device: torch.device, gen: torch.Generator, augment: Augment | None = None,
              progress: Callable = lambda it, **kw: it, desc: str = "gan") -> dict[str, float]:
    """Train ``G`` and ``D`` in place on uint8 images ``x`` with labels ``y``; return final losses."""
    G.to(device).train()
    D.to(device).train()
    real_all = to_input(x).to(device)
    y_all = y.to(device)
    betas = (schedule.beta1, schedule.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=schedule.lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=schedule.lr_d, betas=betas)
    aug = (lambda t: augment(t, gen)) if augment is not None else (lambda t: t)
    loss_d = loss_g = torch.tensor(float("nan"))
    avg = WeightAverage(G, schedule.ema) if schedule.ema > 0 else None
    for _ in progress(range(schedule.steps), desc=desc, total=schedule.steps):
        idx = torch.randint(len(x), (schedule.batch_size,), generator=gen).to(device)
        real, labels = real_all[idx], y_all[idx]
        z = torch.randn(schedule.batch_size, G.z_dim, generator=gen).to(device)
        fake = G(z, labels)

        loss_d = F.softplus(-D(aug(real), labels)).mean() + F.softplus(D(aug(fake.detach()), labels)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_g = F.softplus(-D(aug(fake), labels)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if avg is not None:
            avg.update(G)
    if avg is not None:
        avg.copy_to(G)
    G.eval()
    D.eval()
    losses = {"final_loss_d": float(loss_d.detach()), "final_loss_g": float(loss_g.detach())}
    check_converging(losses, lambda: [*G.parameters(), *D.parameters()])
    return losses


@torch.no_grad()
def sample_images(decode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z_dim: int, n_per_class: int,
                  num_classes: int, *, device: torch.device, gen: torch.Generator,
                  batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` uint8 images per class from ``decode(z, y) -> images in [-1, 1]``, rows
    grouped by class (class 0 first)."""
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    z = torch.randn(len(y), z_dim, generator=gen)
    out = [decode(z[i:i + batch_size].to(device), y[i:i + batch_size].to(device)).float().cpu()
           for i in range(0, len(y), batch_size)]
    if not all(torch.isfinite(o).all() for o in out):
        raise Diverged("the generator's samples are non-finite (NaN/inf); lower the learning rate")
    x = torch.cat(out).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x, y
