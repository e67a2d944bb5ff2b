"""``finetune`` / ``finetune-head``: supervised pretraining on a source dataset, then fine-tuning.

The downstream classifier's own architecture (``ctx.make_classifier()``, sized for the target's
image shape) is trained with labels on a *source* dataset, converted to the target's shape by
``ctx.load_source`` (which refuses the target itself). That source model is built once per
(source, target shape, classifier architecture, pretraining settings) and cached with
``ctx.cached`` under a file lock, so a suite trains it once, whatever the number of cells or
workers. ``init_classifier`` copies its trunk into the harness's classifier (the head is new:
target classes), which is then fine-tuned on the k shots under the usual budget.

Two registered names share this implementation, because the harness runs one preset per suite
and the issue wants both fine-tuning modes side by side in one table:

* ``finetune`` — full fine-tuning: trunk and head train from the first step;
* ``finetune-head`` — shallow fine-tuning: the trunk stays frozen, only the head trains.

Source choice (``source = "auto"``, :func:`bench.sources.auto_source`): for a class subset such as
``fashion-mnist[5-9]``, the same dataset's other classes (``fashion-mnist[0-4]``); otherwise a fixed,
offline pairing by the target dataset — ``digits`` pretrains on ``font-digits`` (printed digits
rendered from matplotlib's fonts, distorted: synthetic to real, made offline by the harness; version 2,
version 1 used ``fashion-mnist``), MNIST and KMNIST on ``fashion-mnist``; Fashion-MNIST on ``digits`` (8×8, upsampled: a weak but offline source);
CIFAR-10 on ``fashion-mnist``. Your own ``folder:PATH`` images have no automatic source: name one
(``bench run --source fashion-mnist`` or ``source = "..."`` in the suite), else the run is refused
before any cell, as transfer-gan's is. Any dataset spec can be named (e.g. ``source = "mnist"`` with
``--download``); a missing one stops the run with one line saying how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.errors import BenchError
from bench.method import Capabilities, FitData, Method, register_method
from bench.nets import count_parameters
from bench.sources import resolve_source
from bench.tasks import derive_seed
from bench.training import classifier_key, make_classifier

# fixed pairings, offline: digits' source ships with the Python dependencies (bench/font_digits.py)
AUTO_SOURCES = {"digits": "font-digits", "mnist": "fashion-mnist", "kmnist": "fashion-mnist",
                "fashion-mnist": "digits", "cifar10": "fashion-mnist"}
MODES = ("full", "head")


@dataclass(frozen=True)
class FinetuneConfig:
    source: str = "auto"  # dataset spec of the source, or auto (see module docstring)
    pretrain_steps: int = 2000  # supervised steps on the source (batch size: the classifier's)
    mode: str = "full"  # full: train trunk and head on the k shots; head: frozen trunk

    def __post_init__(self) -> None:
        if self.pretrain_steps < 1:
            raise BenchError(f"finetune: pretrain_steps must be >= 1, got {self.pretrain_steps}")
        if self.mode not in MODES:
            raise BenchError(f"finetune: mode must be one of {', '.join(MODES)}, got {self.mode!r}")


PRESETS = {"tiny": {"pretrain_steps": 20}, "quick": {"pretrain_steps": 1000}, "standard": {"pretrain_steps": 3000}}


@register_method("finetune")
class Finetune(Method):
    version = "2"  # 2: digits' auto source is font-digits (was fashion-mnist)
    Config = FinetuneConfig
    presets = {k: {**v, "mode": "full"} for k, v in PRESETS.items()}
    capabilities = Capabilities(uses_source=True)
    tuned_on = {"standard": {"seeds": [1000, 1004], "date": "2026-11-27",
                             "evidence": "results/protocol/sensitivity-digits.md (protocol-digits.toml): pretrain_steps 1000/9000; no variant beat the default, default kept"}}
    auto_sources = AUTO_SOURCES  # read by bench.sources.check_source before any cell runs

    def source_model(self, image_shape: tuple[int, int, int]) -> tuple:
        """(source dataset, its image count, the cached source model, whether this call built it)."""
        ctx, cfg = self.ctx, self.config
        if ctx.dataset is None:
            raise BenchError(f"{self.name} needs the target dataset in its context to pick and check a source")
        spec = resolve_source(cfg.source, ctx.dataset, self.auto_sources, self.name)
        src, sx, sy = ctx.load_source(spec)
        clf_cfg = ctx.classifier_cfg.fixed(cfg.pretrain_steps)  # a fixed budget, whatever the downstream's
        key = {"source_hash": src.hash, "target_shape": list(image_shape), "classifier": classifier_key(clf_cfg)}
        built = []

        def build() -> dict:
            built.append(True)
            seed = derive_seed("finetune-source", src.hash, image_shape, cfg.pretrain_steps)
            with torch.random.fork_rng(devices=[]):  # the cell's random stream must not depend on a cache hit
                torch.manual_seed(seed)
                model = make_classifier(image_shape, src.num_classes, ctx.classifier_cfg)
                loss = ctx.train_classifier(model, sx, sy, cfg=clf_cfg, seed=seed, desc=f"pretrain on {spec}")
            return {"state": {k: v.cpu() for k, v in model.state_dict().items()},
                    "source_classes": src.num_classes, "final_loss": loss["final_loss"]}

        shape = "×".join(map(str, image_shape))
        art = ctx.cached("finetune-source", key, build,
                         what=f"the finetune source model ({spec} at {shape}, {cfg.pretrain_steps} steps)")
        return src, len(sx), art, bool(built)

    def build_shared(self) -> None:
        self.source_model(self.ctx.image_shape)

    def fit(self, data: FitData) -> None:
        src, n_source, art, built = self.source_model(data.image_shape)
        self.trunk = {k[len("features."):]: v for k, v in art["state"].items() if k.startswith("features.")}
        self.stats = {"source": src.name, "source_images": n_source, "source_hash": src.hash,
                      "source_built_in_this_cell": built, "source_final_loss": round(art["final_loss"], 4),
                      "mode": self.config.mode,
                      "trainable_params": sum(v.numel() for v in art["state"].values() if v.is_floating_point())}

    def init_classifier(self, model: torch.nn.Module) -> None:
        model.features.load_state_dict(self.trunk)
        if self.config.mode == "head":
            for p in model.features.parameters():
                p.requires_grad_(False)
        self.stats["classifier_trainable_params"] = count_parameters(model)

    def details(self) -> dict:
        return dict(self.stats)


@register_method("finetune-head")
class FinetuneHead(Finetune):
    """Shallow fine-tuning: same source model as ``finetune``, frozen trunk, only the head trains."""

    presets = {k: {**v, "mode": "head"} for k, v in PRESETS.items()}
