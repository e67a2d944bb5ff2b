"""``pseudo-label``: self-training on the unlabelled pool.

Round 1 trains the harness's classifier (``ctx.make_classifier`` / ``ctx.train_classifier``, the
same budget as the downstream classifier) on the k shots, then labels a random subsample of the
pool (``pool_size``). Images whose confidence reaches ``threshold`` are accepted; per class the
``n_per_class`` most confident accepted images are kept (class balance: a confident majority
class must not swamp the rest). Each later round retrains a fresh classifier on the k shots plus
the kept pseudo-labels (mixed ``real_fraction`` real per batch) and relabels the pool.

Threshold under label smoothing. A classifier trained with label smoothing ε on K classes is
pulled towards a highest probability of 1 − ε + ε/K (0.91 for ε = 0.1, K = 10), so an absolute
0.9 would accept almost nothing it is not already sure of. ``threshold`` is therefore relative to
that ceiling: an image is accepted when its softmax confidence reaches threshold · (1 − ε + ε/K)
(the absolute value is in the record as ``threshold_absolute``); without smoothing it is the plain
threshold. The GMM labeller's posteriors are not smoothed and use the plain threshold.

Labeller (``labeller``): ``softmax`` — the classifier's own probabilities; ``gmm`` — a Gaussian
mixture in the classifier's 128-d feature space, one diagonal component per class initialised at
the class means of the labelled shots and refined by EM over labelled + pool features; its
posteriors are the confidences.

Decision: the final retraining is the harness's own: the method declares ``generates`` and
``generate(n)`` returns the kept pool images with their pseudo-labels, exactly ``n`` per class as
the protocol requires — a class with fewer kept images is resampled with replacement, and a class
with none falls back to its own labelled shots (``classes_without_pseudo_labels`` in the record).

Per round the record holds how many pool images passed the threshold and how many were kept, and
their accuracy against the hidden true labels — measured by the harness's ``score_pool_labels``
oracle, which returns only a number and is never used to select or train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.errors import BenchError
from bench.method import Capabilities, FitData, GenerativeConfig, Method, register_method
from bench.nets import count_parameters, to_input

LABELLERS = ("softmax", "gmm")


@dataclass(frozen=True)
class PseudoLabelConfig(GenerativeConfig):
    n_per_class: int = 200  # pseudo-labelled images kept per class (and given to the classifier)
    real_fraction: float = 0.5
    threshold: float = 0.9  # minimum confidence to accept a pseudo-label, relative to the label-smoothing ceiling (module doc)
    rounds: int = 2  # label-retrain rounds before the harness's final retraining
    pool_size: int = 5000  # pool images considered (random subsample; 0 = the whole pool)
    labeller: str = "softmax"  # softmax or gmm (see module docstring)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.threshold <= 1.0:
            raise BenchError(f"pseudo-label: threshold must be in (0, 1], got {self.threshold}")
        if self.rounds < 1:
            raise BenchError(f"pseudo-label: rounds must be >= 1, got {self.rounds}")
        if self.pool_size < 0:
            raise BenchError(f"pseudo-label: pool_size must be >= 0 (0 = whole pool), got {self.pool_size}")
        if self.labeller not in LABELLERS:
            raise BenchError(f"pseudo-label: labeller must be one of {', '.join(LABELLERS)}, got {self.labeller!r}")


@torch.no_grad()
def _features_and_probs(model: torch.nn.Module, x: torch.Tensor, device: torch.device, bs: int = 1000):
    model.eval()
    feats, probs = [], []
    for i in range(0, len(x), bs):
        f = model.features(to_input(x[i:i + bs].to(device)))
        feats.append(f.cpu())
        probs.append(model.head(f).softmax(1).cpu())
    return torch.cat(feats), torch.cat(probs)


def gmm_posteriors(feat_lab: torch.Tensor, y: torch.Tensor, feat_pool: torch.Tensor, num_classes: int, seed: int) -> torch.Tensor:
    """Class posteriors of pool features under a per-class diagonal Gaussian mixture (EM)."""
    from sklearn.mixture import GaussianMixture

    a, b = feat_lab.double().numpy(), feat_pool.double().numpy()
    means = np.stack([a[y.numpy() == c].mean(0) for c in range(num_classes)])
    gm = GaussianMixture(num_classes, covariance_type="diag", means_init=means, reg_covar=1e-3,
                         max_iter=50, random_state=seed % 2**32)
    gm.fit(np.concatenate([a, b]))
    return torch.from_numpy(gm.predict_proba(b)).float()


@register_method("pseudo-label")
class PseudoLabel(Method):
    version = "2"  # 2: threshold relative to the confidence ceiling label smoothing allows
    Config = PseudoLabelConfig
    presets = {
        "tiny": {"n_per_class": 5, "rounds": 1, "pool_size": 300, "threshold": 0.5},
        "quick": {"rounds": 1},  # one label round + the harness retraining: the quick suite stays fast
        "standard": {"n_per_class": 500, "rounds": 3, "pool_size": 20000},
    }
    capabilities = Capabilities(generates=True, uses_pool=True, returns_real_images=True)
    tuned_on = {"standard": {"seeds": [1000, 1004], "date": "2026-11-27",
                             "evidence": "results/protocol/sensitivity-digits.md (protocol-digits.toml): threshold 0.8/0.97; no variant beat the default, default kept"}}

    def fit(self, data: FitData) -> None:
        cfg, ctx = self.config, self.ctx
        gen, pos = ctx.draw_pool(len(data.pool_x), cfg.pool_size)
        pool = data.pool_x[pos]
        self.x, self.y, self.num_classes = data.x, data.y, data.num_classes
        self.kept_x, self.kept_y, self.kept_pos = pool[:0], data.y[:0], pos[:0]
        self.rounds: list[dict] = []
        eps = ctx.classifier_cfg.label_smoothing if cfg.labeller == "softmax" else 0.0
        self.threshold_absolute = cfg.threshold * (1 - eps + eps / data.num_classes)
        for r in range(cfg.rounds):
            model = ctx.make_classifier()
            extra = (self.kept_x, self.kept_y) if len(self.kept_y) else None
            ctx.train_classifier(model, data.x, data.y, extra=extra,
                                 real_fraction=cfg.real_fraction if extra else 1.0,
                                 seed=ctx.seed + r, desc=f"pseudo-label round {r + 1}")
            feats, probs = _features_and_probs(model, pool, ctx.device)
            if cfg.labeller == "gmm":
                lab_feats, _ = _features_and_probs(model, data.x, ctx.device)
                probs = gmm_posteriors(lab_feats, data.y, feats, data.num_classes, ctx.seed + r)
            conf, label = probs.max(1)
            accepted = torch.nonzero(conf >= self.threshold_absolute).flatten()
            kept = self._keep_per_class(accepted, conf, label)
            self.kept_x, self.kept_y, self.kept_pos = pool[kept], label[kept], pos[kept]  # pos: into data.pool_x
            score = ctx.score_pool_labels
            self.rounds.append({
                "round": r + 1, "accepted": len(accepted), "kept": len(kept),
                "accepted_true_accuracy": _rnd(score(pos[accepted], label[accepted]) if score else None),
                "kept_true_accuracy": _rnd(score(pos[kept], label[kept]) if score else None),
                "kept_per_class": torch.bincount(label[kept], minlength=data.num_classes).tolist(),
            })
        self.trainable = count_parameters(model)

    def _keep_per_class(self, accepted: torch.Tensor, conf: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        keep = []
        for c in range(self.num_classes):
            idx = accepted[label[accepted] == c]
            keep.append(idx[conf[idx].argsort(descending=True, stable=True)[:self.config.n_per_class]])
        return torch.cat(keep).sort().values

    def generate(self, n_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.ctx.seed + 7919)
        xs, self.fallback_classes = [], []
        for c in range(self.num_classes):
            src = self.kept_x[self.kept_y == c]
            if len(src) == 0:
                src = self.x[self.y == c]
                self.fallback_classes.append(c)
            idx = torch.arange(n_per_class) if len(src) >= n_per_class else torch.randint(len(src), (n_per_class,), generator=gen)
            xs.append(src[idx])
        y = torch.arange(self.num_classes).repeat_interleave(n_per_class)
        return torch.cat(xs), y

    def details(self) -> dict:
        last = self.rounds[-1]
        return {"rounds": self.rounds, "pseudo_labels_used": last["kept"],
                "pseudo_label_true_accuracy": last["kept_true_accuracy"],
                "classes_without_pseudo_labels": getattr(self, "fallback_classes", []),
                "threshold_absolute": round(self.threshold_absolute, 6),
                "trainable_params": self.trainable}


def _rnd(v: float | None) -> float | None:
    return None if v is None or v != v else round(v, 4)
