"""``vae``: conditional VAE (Kingma et al. 2014, "Semi-supervised learning with deep generative
models", the M2-style ``p(x | z, y)`` decoder) trained on the k-shot set; samples come from the
prior: ``z ~ N(0, I)`` decoded with each class label.

Encoder: the conv trunk of the discriminator plus the one-hot label -> (μ, log σ²). Decoder: the
GAN generator's architecture (:class:`bench.nets.CondGenerator`) giving per-pixel Bernoulli
logits on images scaled to [0, 1]; the loss is summed binary cross-entropy + ``beta`` × KL.
A sample is the decoder's mean (sigmoid of the logits), not a Bernoulli draw, as is usual.

shots = 1: trains on one image per class (batches with replacement); the decoder mostly learns
that image per class, and prior samples are small variations of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.gan_training import sample_images
from bench.method import Capabilities, FitData, GenerativeConfig, Method, register_method
from bench.nets import CondVAE, count_parameters


@dataclass(frozen=True)
class VAEConfig(GenerativeConfig):
    steps: int = 1000
    batch_size: int = 64
    z_dim: int = 16
    width: int = 32
    embed_dim: int = 16
    lr: float = 1e-3
    beta: float = 1.0  # weight of the KL term

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("steps", "batch_size", "z_dim", "width", "embed_dim"):
            if getattr(self, name) < 1:
                raise BenchError(f"vae: {name} must be >= 1, got {getattr(self, name)}")
        if self.beta < 0 or self.lr <= 0:
            raise BenchError("vae: beta must be >= 0 and lr > 0")


@register_method("vae")
class VAE(Method):
    version = "1"
    Config = VAEConfig
    capabilities = Capabilities(generates=True)
    tuned_on = {"standard": {"seeds": [1000, 1004], "date": "2026-11-27",
                             "evidence": "results/protocol/sensitivity-digits.md (protocol-digits.toml): real_fraction 0.25/0.75, n_per_class 500; no variant beat the default, default kept"}}
    presets = {
        "tiny": {"steps": 4, "batch_size": 16, "width": 8, "z_dim": 4, "n_per_class": 10},
        "quick": {"steps": 400, "width": 16},
        "standard": {"steps": 800, "width": 16},
    }

    def fit(self, data: FitData) -> None:
        cfg, device = self.config, self.ctx.device
        self.num_classes, self.shots = data.num_classes, int(torch.bincount(data.y, minlength=data.num_classes).min())
        self.model = CondVAE(data.image_shape, data.num_classes, cfg.z_dim, cfg.width, cfg.embed_dim).to(device).train()
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        gen = torch.Generator().manual_seed(self.ctx.seed)
        x_all = (data.x.float() / 255).to(device)
        y_all = data.y.to(device)
        for _ in self.ctx.progress(range(cfg.steps), desc="vae", total=cfg.steps):
            idx = torch.randint(len(x_all), (cfg.batch_size,), generator=gen).to(device)
            x, y = x_all[idx], y_all[idx]
            mu, logvar = self.model.encode(x * 2 - 1, y)
            z = mu + torch.randn(mu.shape, generator=gen).to(device) * (0.5 * logvar).exp()
            rec = F.binary_cross_entropy_with_logits(self.model.decode(z, y), x, reduction="sum") / len(x)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
            loss = rec + cfg.beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.model.eval()
        self.final = {"final_reconstruction": float(rec.detach()), "final_kl": float(kl.detach())}

    def generate(self, n_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.ctx.seed + 1)

        def decode(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.model.decode(z, y)) * 2 - 1

        return sample_images(decode, self.config.z_dim, n_per_class, self.num_classes, device=self.ctx.device, gen=gen)

    def details(self) -> dict[str, Any]:
        return {"params_encoder": count_parameters(self.model.encoder) + count_parameters(self.model.to_stats),
                "params_decoder": count_parameters(self.model.decoder), "steps": self.config.steps,
                "trainable_params": count_parameters(self.model),
                "min_shots_per_class": self.shots, **self.final,
                "shots_1": "trains on one image per class; prior samples are variations of it"}
