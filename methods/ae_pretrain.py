"""``ae-pretrain``: autoencoder pretraining of the classifier's trunk on the unlabelled pool.

The encoder *is* the downstream classifier's trunk (``SmallCNN.features``, built by
``ctx.make_classifier()``), the decoder its mirror (:class:`bench.nets.TrunkDecoder`). The
autoencoder learns to reconstruct a random subsample of the unlabelled pool (``pool_size``
images; the k labelled images are added too, without their labels) with a mean-squared error,
optionally from noisy input (``noise`` > 0: a denoising autoencoder). The harness then builds its
fixed classifier, ``init_classifier`` copies the pretrained trunk into it (the head stays freshly
initialised), and it is fine-tuned on the k shots under the usual budget.

Fine-tuning schedule (``freeze_fraction``): the trunk is frozen for the first
``freeze_fraction`` of the classifier's steps and trained afterwards — 0 = full fine-tuning from
the first step (default), 1 = linear probe (head only), 0.5 = freeze-then-unfreeze.

Decision: the autoencoder is trained per cell, not cached per dataset, because the pool differs
(slightly) per draw and its cost belongs in the cell's ``fit_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.method import Capabilities, FitData, Method, register_method
from bench.nets import TrunkDecoder, count_parameters, to_input


@dataclass(frozen=True)
class AEPretrainConfig:
    steps: int = 1000  # autoencoder pretraining steps
    batch_size: int = 64
    lr: float = 1e-3
    pool_size: int = 10000  # unlabelled images subsampled from the pool (0 = all)
    noise: float = 0.0  # std of Gaussian input noise in [-1, 1] units; > 0 makes it denoising
    freeze_fraction: float = 0.0  # share of classifier steps with a frozen trunk (0 full, 1 head only)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise BenchError(f"ae-pretrain: steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if self.pool_size < 0:
            raise BenchError(f"ae-pretrain: pool_size must be >= 0 (0 = whole pool), got {self.pool_size}")
        if not 0.0 <= self.freeze_fraction <= 1.0:
            raise BenchError(f"ae-pretrain: freeze_fraction must be in [0, 1], got {self.freeze_fraction}")
        if self.noise < 0:
            raise BenchError(f"ae-pretrain: noise must be >= 0, got {self.noise}")


def set_trunk_trainable(model: torch.nn.Module, trainable: bool) -> None:
    for p in model.features.parameters():
        p.requires_grad_(trainable)


def subsample(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` rows of ``x`` drawn without replacement (all of it if n is 0 or too large)."""
    if n <= 0 or n >= len(x):
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


@register_method("ae-pretrain")
class AEPretrain(Method):
    version = "1"
    Config = AEPretrainConfig
    presets = {
        "tiny": {"steps": 10, "batch_size": 16, "pool_size": 200},
        "quick": {"steps": 300, "pool_size": 2000},
        "standard": {"steps": 2000, "pool_size": 20000},
    }
    capabilities = Capabilities(uses_pool=True)

    def fit(self, data: FitData) -> None:
        cfg, dev = self.config, self.ctx.device
        images = torch.cat([subsample(data.pool_x, cfg.pool_size, self.ctx.seed), data.x])
        encoder = self.ctx.make_classifier().features.to(dev).train()
        decoder = TrunkDecoder(data.image_shape, width=self.ctx.classifier_cfg.width).to(dev).train()
        params = [*encoder.parameters(), *decoder.parameters()]
        opt = torch.optim.Adam(params, lr=cfg.lr)
        gen = torch.Generator().manual_seed(self.ctx.seed)
        losses = []
        for _ in self.ctx.progress(range(cfg.steps), desc="ae-pretrain"):
            xb = to_input(images[torch.randint(len(images), (cfg.batch_size,), generator=gen)].to(dev))
            noisy = xb + cfg.noise * torch.randn(xb.shape, generator=gen).to(dev) if cfg.noise else xb
            loss = F.mse_loss(decoder(encoder(noisy)), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        tail = losses[-max(1, len(losses) // 10):]
        self.trunk = {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
        self.stats = {"pretrain_images": len(images), "recon_mse_first": round(losses[0], 5),
                      "recon_mse_final": round(sum(tail) / len(tail), 5),
                      "trainable_params": count_parameters(encoder) + count_parameters(decoder)}

    def init_classifier(self, model: torch.nn.Module) -> None:
        model.features.load_state_dict(self.trunk)

    def on_classifier_step(self, model: torch.nn.Module, step: int, total: int) -> None:
        frozen_steps = round(self.config.freeze_fraction * total)
        if step == 0:
            set_trunk_trainable(model, frozen_steps == 0)
        elif step == frozen_steps:
            set_trunk_trainable(model, True)

    def details(self) -> dict:
        return dict(self.stats)
