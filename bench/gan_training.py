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

``aug_p`` < 1 (with an ``augment``): each image D sees is augmented with that probability (one
draw per image), else passed as is; ``ada_target`` > 0 makes the probability adaptive, driven by
how much D overfits the shots (:class:`_Adaptive`). The defaults (1, 0) draw nothing extra.
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
    aug_p: float = 1.0  # probability that an image D sees is augmented (with an augment); 1: every image
    ada_target: float = 0.0  # > 0: aug_p adapts so E[sign D(real)] stays at this (Karras et al. 2020); 0: fixed


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
    ada = _Adaptive(schedule) if augment is not None and schedule.ada_target > 0 else None

    def aug(t: torch.Tensor) -> torch.Tensor:
        if augment is None:
            return t
        p = ada.p if ada is not None else schedule.aug_p
        if p >= 1:  # every image: no mask drawn (version-1 DiffAugment draws nothing else)
            return augment(t, gen)
        mask = (torch.rand(len(t), generator=gen) < p).to(t.device).view(-1, *([1] * (t.dim() - 1)))
        return torch.where(mask, augment(t, gen), t)

    loss_d = loss_g = torch.tensor(float("nan"))
    avg = WeightAverage(G, schedule.ema) if schedule.ema > 0 else None
    select = _Selection(G, real_all, y_all, gen) if schedule.select_every > 0 and len(x) >= 2 else None
    for k in progress(range(schedule.steps), desc=desc, total=schedule.steps):
        idx = torch.randint(len(x), (schedule.batch_size,), generator=gen).to(device)
        real, labels = real_all[idx], y_all[idx]
        z = torch.randn(schedule.batch_size, G.z_dim, generator=gen).to(device)
        fake = G(z, labels)

        d_real = D(aug(real), labels)
        loss_d = F.softplus(-d_real).mean() + F.softplus(D(aug(fake.detach()), labels)).mean()
        if ada is not None:
            ada.observe(d_real)
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
    if ada is not None:
        losses["adaptive_augmentation"] = ada.record()
    return losses


class _Adaptive:
    """Adaptive augmentation probability (Karras et al. 2020, "Training Generative Adversarial
    Networks with Limited Data"): every ``EVERY`` steps, ``r = E[sign D(augmented real)]`` over
    them (how confidently D calls the shots real: 0 no overfitting, 1 full); the probability
    rises if ``r`` is above the target and falls if below, at a speed that can take it from 0 to
    1 in a quarter of the budget. Starts at 0: augmentation only as far as D overfits."""

    EVERY = 4

    def __init__(self, schedule: GANSchedule) -> None:
        self.target, self.p = schedule.ada_target, 0.0
        self.delta = self.EVERY / max(1.0, schedule.steps / 4)
        self.signs: list[float] = []
        self.trace: list[float] = []

    def observe(self, d_real: torch.Tensor) -> None:
        self.signs.append(float(torch.sign(d_real.detach()).float().mean()))
        if len(self.signs) == self.EVERY:
            r = sum(self.signs) / self.EVERY
            self.p = min(1.0, max(0.0, self.p + self.delta * (1 if r > self.target else -1)))
            self.signs.clear()
            self.trace.append(round(self.p, 4))

    def record(self) -> dict[str, Any]:
        tail = self.trace[len(self.trace) // 2:] or [self.p]
        return {"target": self.target, "final_p": round(self.p, 4), "mean_p_second_half": round(sum(tail) / len(tail), 4),
                "p_every_100_steps": self.trace[:: max(1, 100 // self.EVERY)]}


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
