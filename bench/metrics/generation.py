"""The generation metrics of one cell, computed by the harness for methods that generate.

``generation_metrics(x_gen, y_gen, task, options, grid_path)`` returns ``{"metrics": ...,
"details": ...}``; the runner merges ``metrics`` into the record's metrics and ``details`` into
``details["generation"]``. For each extractor in ``GenerationConfig.extractors``:

* ``fid_<extractor>`` (pytorch-fid's Fréchet distance) between the generated images and the
  dataset's whole test split; refused (``details[<extractor>]["fid"] = "refused: ..."``, no
  number) when the generated count is below dims + 1;
* ``kid_<extractor>`` and ``kid_<extractor>_std`` (unbiased, cubic kernel, subsets), raw, as
  torch-fidelity computes it on the same features; and ``kid_norm_x1e3_<extractor>`` (+ ``_std``):
  10³ × KID on the same subsets of features divided by the real set's RMS coordinate (recorded as
  ``kid_norm_scale``), a scale-free value readable across datasets and extractors (see
  :mod:`bench.metrics.kid`);
* ``precision_<extractor>``, ``recall_<extractor>``, ``density_<extractor>``,
  ``coverage_<extractor>`` (k-NN balls, k = ``GenerationConfig.prdc_k`` = 5; see
  :mod:`bench.metrics.prdc`), on the same real set; refused (``details[<extractor>]["prdc"] =
  "refused: ..."``) when either set has k or fewer samples;
* for ``domain`` only: ``is_domain`` / ``is_domain_std`` (Inception Score from the reference
  classifier's probabilities), ``gen_label_accuracy_domain`` (share of generated images the
  reference classifier assigns to the class they were generated for) and ``memorisation_ratio``
  (see :mod:`bench.metrics.memorisation`);
* once per cell, ``cas``: the Classification Accuracy Score (:mod:`bench.metrics.cas`), accuracy
  on the cell's real test split of the cell's downstream classifier trained on the generated
  images only — one extra classifier training; skipped with a reason when no classifier config
  is given;
* an extractor that cannot run here is recorded as ``{"skipped": "<reason>"}``.

Decisions the issue leaves open: the generated set is exactly what the classifier trained on
(``n_per_class`` × classes images, fixed by the method's preset), recorded as ``n_gen``; the real
set is the whole official test split for ``domain`` and a stratified, dataset-fixed subset of at
most ``INCEPTION_MAX_REAL`` test images for ``inception`` (CPU cost), recorded as ``n_real``. Real
features and statistics are cached once per (dataset hash, extractor key, real subset) with
:func:`bench.cache.cached`. KID and IS use seeded subsets/splits, so the values are reproducible.
There is no Inception-based IS: pytorch-fid's FID Inception exposes pool features, not logits.
Values in ``domain`` feature space (FID, KID) are comparable across methods on one dataset and
reference classifier, not with Inception FID/KID numbers from papers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.cache import cached
from bench.datasets import ImageDataset
from bench.errors import BenchError
from bench.metrics.feature_extractors import ExtractorUnavailable, FeatureExtractor, get_extractor
from bench.metrics.fid import GaussianStats, check_fid_samples, frechet_distance, gaussian_stats
from bench.metrics.grids import save_sample_grid
from bench.metrics.inception_score import inception_score
from bench.metrics.kid import kid_at_scales, rms_scale
from bench.metrics.memorisation import memorisation
from bench.metrics.prdc import knn_radii, prdc
from bench.training import ClassifierConfig

INCEPTION_MAX_REAL = 2000


@dataclass(frozen=True)
class GenerationConfig:
    extractors: tuple[str, ...] = ("domain", "inception")
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    grid_per_class: int = 10
    seed: int = 0  # KID subsets
    prdc_k: int = 5  # nearest neighbours for precision/recall/density/coverage (Naeem et al.)


def real_indices(ds: ImageDataset, extractor: str) -> np.ndarray:
    """Test-split indices used as the real set for ``extractor``."""
    from bench.tasks import evaluation_subset

    return evaluation_subset(ds, INCEPTION_MAX_REAL if extractor == "inception" else None)


def real_statistics(ext: FeatureExtractor, ds: ImageDataset, cache_dir: Path) -> dict[str, Any]:
    """Features (float32) and Gaussian statistics of the real set, built once per dataset and extractor."""
    idx = real_indices(ds, ext.name)

    def build() -> dict[str, Any]:
        x = ds.test_x[idx]
        f = ext.features(x)
        out = {"features": f.astype(np.float32), "n": len(f)}
        if len(f) >= ext.dims + 1:
            s = gaussian_stats(f, "real features")
            out |= {"mu": s.mu, "sigma": s.sigma}
        if ext.probs is not None:
            out["probs"] = ext.probs(x).astype(np.float32)
        return out

    return cached(cache_dir, "real-stats", _real_key(ext, ds, idx), build)


def _real_key(ext: FeatureExtractor, ds: ImageDataset, idx: np.ndarray) -> dict[str, Any]:
    return {"dataset_hash": ds.hash, "extractor": ext.key, "split": "test", "n_real": len(idx),
            "indices_sha": hashlib.sha256(idx.tobytes()).hexdigest()[:16]}


def real_radii(ext: FeatureExtractor, ds: ImageDataset, real: dict[str, Any], k: int, cache_dir: Path) -> np.ndarray:
    """k-NN radii of the real set's features (:func:`bench.metrics.prdc.knn_radii`), built once per
    dataset, extractor and k (10,000 real features: ~20 s on one CPU thread)."""
    key = {**_real_key(ext, ds, real_indices(ds, ext.name)), "k": k}
    return cached(cache_dir, "real-knn-radii", key, lambda: knn_radii(real["features"], k))


def generation_metrics(x_gen: torch.Tensor, y_gen: torch.Tensor, task: Any, options: Any,
                       grid_path: Path | None = None, cfg: GenerationConfig = GenerationConfig(),
                       classifier_cfg: ClassifierConfig | None = None) -> dict[str, Any]:
    """Metrics of the generated images of one cell (``task``: the cell's FewShotTask;
    ``options``: RunOptions, for ``cache_dir`` and ``device``; ``classifier_cfg``: the cell's
    downstream classifier config, for CAS)."""
    ds: ImageDataset = task.dataset
    if len(x_gen) < 2:
        raise BenchError(f"generation metrics need at least 2 generated images, got {len(x_gen)}")
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"n_gen": int(len(x_gen))}
    for name in cfg.extractors:
        try:
            ext = get_extractor(name, ds, options.cache_dir, options.device)
        except ExtractorUnavailable as exc:
            details[name] = {"skipped": str(exc)}
            continue
        real = real_statistics(ext, ds, options.cache_dir)
        f_gen = ext.features(x_gen)
        entry: dict[str, Any] = {"dims": ext.dims, "n_real": int(real["n"]), "n_gen": int(len(f_gen)), **ext.info}
        try:
            check_fid_samples(len(f_gen), ext.dims, "generated features")
            check_fid_samples(int(real["n"]), ext.dims, "real features")
            real_stats = GaussianStats(real["mu"], real["sigma"], int(real["n"]))
            metrics[f"fid_{name}"] = frechet_distance(real_stats, gaussian_stats(f_gen, "generated features"))
        except BenchError as exc:
            if "FID needs at least" not in str(exc):
                raise
            entry["fid"] = f"refused: {exc}"
        scale = rms_scale(real["features"])
        (kid, kid_std), m, subsets = kid_at_scales(real["features"], f_gen, (1.0, scale), cfg.kid_subsets,
                                                   cfg.kid_subset_size, cfg.seed)
        metrics[f"kid_{name}"], metrics[f"kid_{name}_std"] = kid[0], kid_std[0]
        metrics[f"kid_norm_x1e3_{name}"], metrics[f"kid_norm_x1e3_{name}_std"] = 1e3 * kid[1], 1e3 * kid_std[1]
        entry |= {"kid_subset_size": m, "kid_subsets": subsets, "kid_norm_scale": scale}
        k = cfg.prdc_k
        if min(len(f_gen), int(real["n"])) > k:
            radii = real_radii(ext, ds, real, k, options.cache_dir)
            for metric, value in prdc(real["features"], f_gen, k, radii).items():
                metrics[f"{metric}_{name}"] = value
            entry["prdc_k"] = k
        else:
            entry["prdc"] = (f"refused: precision/recall/density/coverage with k={k} need more than k samples "
                             f"in each set, got n_real={int(real['n'])}, n_gen={len(f_gen)}")
        if ext.probs is not None:
            p = ext.probs(x_gen)
            score, score_std, splits = inception_score(p)
            metrics[f"is_{name}"], metrics[f"is_{name}_std"] = score, score_std
            metrics[f"gen_label_accuracy_{name}"] = float((p.argmax(1) == y_gen.numpy()).mean())
            entry |= {"is_splits": splits, "is_order": "shuffled, seed 0",
                      "is_real": inception_score(real["probs"].astype(np.float64))[0]}
        if name == "domain":
            mem = memorisation(f_gen, ext.features(task.x), real["features"])
            metrics["memorisation_ratio"] = mem["memorisation_ratio"]
            entry |= {"nn_dist_gen": mem["nn_dist_gen"], "nn_dist_real": mem["nn_dist_real"],
                      "n_train_kshot": int(len(task.x))}
        details[name] = entry
    if classifier_cfg is None:
        details["cas"] = {"skipped": "no downstream classifier config given"}
    else:
        from bench.metrics.cas import classification_accuracy_score

        cas = classification_accuracy_score(x_gen, y_gen, task, classifier_cfg, options.device)
        metrics["cas"] = cas.pop("cas")
        details["cas"] = cas
    if grid_path is not None:
        details["grid"] = save_sample_grid(x_gen, y_gen, ds.num_classes, Path(grid_path), cfg.grid_per_class,
                                           ds.classes).name
        # rows labelled with class names in the PNG itself: the report adds no second list beside it
        details["grid_label_rows"] = len(ds.classes)
    return {"metrics": metrics, "details": details}
