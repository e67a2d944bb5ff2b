"""``transfer-gan``: pretrain ``gan`` on a source dataset, then fine-tune it on the k-shot target
(Wang et al. 2018, "Transferring GANs: generating images from limited data": initialise both G
and D from a source-trained GAN and fine-tune all layers).

Source. ``source`` names another dataset (``bench.sources.load_source`` converts it to the
target's image shape and refuses the target itself, and any source holding the target's classes).
``"auto"``: for a class subset (``fashion-mnist[5-9]``), the same dataset's other classes
(``fashion-mnist[0-4]``: the offline same-domain pairing, disjoint classes); otherwise a fixed map
from the target's dataset name — fixed, not "whatever is present", so a config means the same
run everywhere:

==================  ===============  =====================================================
target              auto source      why
==================  ===============  =====================================================
``fashion-mnist``   ``digits``       offline everywhere (bundled with scikit-learn); 1,200
                                     8×8 handwritten digits upsampled to 28×28 — teaches
                                     "one bright centred object on black", not clothing.
``digits``          ``font-digits``  offline everywhere (made by the harness from matplotlib's
                                     fonts, :mod:`bench.font_digits`); 6,000 printed digits,
                                     distorted, shrunk to 8×8: synthetic to real, same classes
                                     (version 2; version 1 used ``fashion-mnist``, which pip
                                     cannot install).
``mnist``           ``fashion-mnist``same shape, different domain.
``kmnist``          ``mnist``        handwriting to handwriting (``--download``).
other               none             set ``source=`` (or ``bench run --source``); refused
                                     before any cell runs otherwise (e.g. ``folder:PATH``).
==================  ===============  =====================================================

The semantically stronger pairings need a download: ``source=mnist`` for ``fashion-mnist`` (the
issue's online default, MNIST→Fashion-MNIST, 60,000 28×28 images) and ``source=mnist`` for
``digits`` (handwritten digits → handwritten digits, resized to 8×8). A missing source fails
the cell with a ``BenchError`` that names the source and how to get it; the method never falls
back to pretraining on the target.

Classes. The source's classes are not the target's, so the source GAN is trained
class-conditionally on the source labels, and before fine-tuning the class embeddings of G and D
(the only class-specific weights) are re-initialised for the target's classes; every other
weight is copied and fine-tuned.

Cache. The source model is built once per (source dataset hash, architecture, pretraining
schedule, source seed, target image shape) through ``ctx.cached("transfer-gan-source", ...)``,
shared by every cell and worker of a suite; its RNG is forked, so a cell gives the same result
whether it built the model or loaded it.

shots = 1: fine-tuning on one image per class, as ``gan``; the pretrained weights are what the
method adds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from bench.methods._gan_common import GAN_PRESETS, GANConfig, GANMethod

from bench.datasets import ImageDataset
from bench.errors import BenchError
from bench.gan_training import train_gan
from bench.method import Capabilities, FitData, register_method
from bench.nets import CondDiscriminator, CondGenerator
from bench.sources import resolve_source as _resolve

AUTO_SOURCES = {"fashion-mnist": "digits", "digits": "font-digits", "mnist": "fashion-mnist", "kmnist": "mnist"}

#: How many source models this process has pretrained (not loaded from the cache); for tests.
PRETRAIN_BUILDS = 0


@dataclass(frozen=True)
class TransferGANConfig(GANConfig):
    source: str = "auto"  # a dataset name other than the target, or "auto" (see the module doc)
    pretrain_steps: int = 3000  # GAN iterations on the source, once per suite
    source_seed: int = 0  # seeds source pretraining (independent of the cell's seed, so it is shared)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pretrain_steps < 1:
            raise BenchError(f"transfer-gan: pretrain_steps must be >= 1, got {self.pretrain_steps}")


def resolve_source(spec: str, target: ImageDataset) -> str:
    return _resolve(spec, target, AUTO_SOURCES, "transfer-gan")


@register_method("transfer-gan")
class TransferGAN(GANMethod):
    version = "3"  # 3: EMA G, 1600 fine-tuning steps at standard (gan 2); 2: digits' auto source is font-digits
    Config = TransferGANConfig
    capabilities = Capabilities(generates=True, uses_source=True)
    auto_sources = AUTO_SOURCES  # read by bench.sources.check_source before any cell runs
    presets = {"tiny": {**GAN_PRESETS["tiny"], "pretrain_steps": 4},
               "quick": {**GAN_PRESETS["quick"], "pretrain_steps": 800},
               "standard": {**GAN_PRESETS["standard"], "pretrain_steps": 3000}}

    def source_model(self, image_shape: tuple[int, int, int]) -> tuple[str, Any, dict[str, Any], bool]:
        """(source spec, source dataset, the cached source GAN, whether this call built it)."""
        cfg = self.config
        if self.ctx.dataset is None:
            raise BenchError("transfer-gan needs the target dataset in its context to pick and check a source")
        spec = resolve_source(cfg.source, self.ctx.dataset)
        src, sx, sy = self.ctx.load_source(spec)  # BenchError naming the source if it is missing
        key = {"source": spec, "source_hash": src.hash, "target_shape": list(image_shape),
               "arch": {k: getattr(cfg, k) for k in ("z_dim", "g_width", "d_width", "embed_dim", "stabiliser")},
               "schedule": asdict(cfg.schedule(cfg.pretrain_steps)),  # every field train_gan reads
               "source_seed": cfg.source_seed, "version": self.version}
        built = []

        def build() -> dict[str, Any]:
            global PRETRAIN_BUILDS
            built.append(True)
            t0 = time.perf_counter()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.source_seed)
                sG, sD = self.build(image_shape, src.num_classes)
                stats = train_gan(sG, sD, sx, sy, cfg.schedule(cfg.pretrain_steps), device=self.ctx.device,
                                  gen=torch.Generator().manual_seed(cfg.source_seed), augment=self.augment(),
                                  progress=self.ctx.progress, desc=f"transfer-gan source {spec}")
            PRETRAIN_BUILDS += 1
            cpu = lambda m: {k: v.detach().cpu() for k, v in m.state_dict().items()}  # noqa: E731
            return {"G": cpu(sG), "D": cpu(sD), "source": spec, "source_hash": src.hash,
                    "n_source_images": len(sx), "pretrain_s": round(time.perf_counter() - t0, 2), **stats}

        shape = "×".join(map(str, image_shape))
        art = self.ctx.cached("transfer-gan-source", key, build,
                              what=f"the transfer-gan source GAN ({spec} at {shape}, {cfg.pretrain_steps} steps)")
        return spec, src, art, bool(built)

    def build_shared(self) -> None:
        self.source_model(self.ctx.image_shape)

    def prepare(self, G: CondGenerator, D: CondDiscriminator, data: FitData) -> None:
        cfg = self.config
        spec, src, art, built = self.source_model(data.image_shape)
        for model, state in ((G, art["G"]), (D, art["D"])):
            own = model.state_dict()
            model.load_state_dict({k: v for k, v in state.items() if not k.startswith("embed.")} |
                                  {k: v for k, v in own.items() if k.startswith("embed.")})
        self.source_info = {"source": spec, "source_hash": src.hash, "n_source_images": art["n_source_images"],
                            "pretrain_steps": cfg.pretrain_steps, "pretrain_s": art["pretrain_s"],
                            "source_model": "built" if built else "loaded from cache",
                            "reinitialised": "class embeddings of G and D"}

    def details(self) -> dict[str, Any]:
        return {**super().details(), **self.source_info}
