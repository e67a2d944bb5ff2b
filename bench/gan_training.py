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

``select_every`` > 0: a stopping rule measured on the training shots only (never test data).
Every ``select_every`` steps from a quarter of the budget on, the sampling generator draws one
image per training image (same labels, fixed latents) and its pixel-space KID to the shots is
computed (unbiased MMD², cubic polynomial kernel, :mod:`bench.metrics.kid`); the lowest-KID
checkpoint is returned, and training stops after ``patience`` checks without a new best. KID to
the shots penalises collapse (too little spread) and drift (saturated blobs) but not copying the
shots: the record's memorisation metrics measure that.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import Diverged
from bench.metrics.kid import mmd2_unbiased
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
    select_every: int = 0  # steps between checkpoint checks on the shots (KID in pixel space); 0: off
    patience: int = 3  # checks without a new best before training stops (with select_every)


def train_gan(G: nn.Module, D: nn.Module, x: torch.Tensor, y: torch.Tensor, schedule: GANSchedule, *,
              device: torch.device, gen: torch.Generator, augment: Augment | None = None,
              progress: Callable = lambda it, **kw: it, desc: str = "gan") -> dict[str, float]:
    """Train ``G`` and ``D`` in place on uint8 images ``x`` with labels ``y``; return final losses
    (and, with ``select_every``, the checkpoint selection's record)."""
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
    select = _Selection(G, real_all, y_all, gen) if schedule.select_every > 0 and len(x) >= 2 else None
    for k in progress(range(schedule.steps), desc=desc, total=schedule.steps):
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
        if select is not None and (k + 1) % schedule.select_every == 0 and k + 1 >= schedule.steps // 4:
            if not select.check(G, avg, k + 1, schedule.patience):
                break
    if avg is not None:
        avg.copy_to(G)
    if select is not None and select.best_state is not None:
        G.load_state_dict(select.best_state)
    G.eval()
    D.eval()
    losses: dict[str, Any] = {"final_loss_d": float(loss_d.detach()), "final_loss_g": float(loss_g.detach())}
    check_converging(losses, lambda: [*G.parameters(), *D.parameters()])
    if select is not None:
        losses["selection"] = select.record(schedule)
    return losses


class _Selection:
    """The checkpoint selection of :func:`train_gan` (``select_every``)."""

    MAX_IMAGES = 1000  # a source dataset (transfer-gan's pretraining) is subsampled to this

    def __init__(self, G: nn.Module, real: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> None:
        if len(real) > self.MAX_IMAGES:
            keep = torch.randperm(len(real), generator=torch.Generator().manual_seed(gen.initial_seed() + 2))[: self.MAX_IMAGES]
            real, y = real[keep.to(real.device)], y[keep.to(y.device)]
        self.real, self.y = real.flatten(1).double().cpu().numpy(), y
        # fixed latents from their own generator: checks never draw from the training stream, so a
        # run with checks trains exactly as one without, up to where it stops
        self.z = torch.randn(len(y), G.z_dim, generator=torch.Generator().manual_seed(gen.initial_seed() + 1))
        self.steps: list[int] = []
        self.kid: list[float] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best, self.best_step, self.stale, self.stopped_at = float("inf"), 0, 0, None

    @torch.no_grad()
    def check(self, G: nn.Module, avg: WeightAverage | None, step: int, patience: int) -> bool:
        """Score the sampling generator at ``step``; False when training should stop."""
        with avg.swapped_in(G) if avg is not None else contextlib.nullcontext():
            G.eval()
            fake = G(self.z.to(self.y.device), self.y).float().clamp(-1, 1).flatten(1).double().cpu().numpy()
            state = {k: v.detach().clone() for k, v in G.state_dict().items()}
            G.train()
        kid = mmd2_unbiased(self.real, fake)
        self.steps.append(step)
        self.kid.append(round(kid, 6))
        if kid < self.best:
            self.best, self.best_step, self.best_state, self.stale = kid, step, state, 0
            return True
        self.stale += 1
        if self.stale >= patience:
            self.stopped_at = step
            return False
        return True

    def record(self, schedule: GANSchedule) -> dict[str, Any]:
        return {"signal": "pixel KID to the training shots", "every": schedule.select_every,
                "patience": schedule.patience, "checked_steps": self.steps, "kid_pixel": self.kid,
                "selected_step": self.best_step, "stopped_at": self.stopped_at}


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
