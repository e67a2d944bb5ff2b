"""Feature extractors for the generation metrics, in a registry: ``domain`` and ``inception``.

An entry is a factory ``(dataset, cache_dir, device) -> FeatureExtractor``. A factory that cannot
work here (no weights) raises :class:`ExtractorUnavailable`; the metrics then record
``skipped: <reason>`` for that extractor instead of a number. Nothing is ever faked.

* ``domain`` — a reference classifier per dataset: :class:`ReferenceCNN` (the downstream
  SmallCNN with a 64-d embedding) trained on the dataset's FULL train split with
  :class:`ReferenceConfig`, built once through :func:`bench.cache.cached` keyed by the dataset
  hash, the config and ``REFERENCE_VERSION``, and reused by every cell and worker. Its test
  accuracy is stored with it and recorded. Features are the 64-d embedding *before* the ReLU
  (ReLU outputs have dead units, which would make the covariance singular); 64 dims means FID
  needs n >= 65 samples. Class probabilities (softmax of its head) feed the Inception Score and
  the label accuracy of generated images.
* ``inception`` — pytorch-fid's FID InceptionV3 (2048-d pool features, inputs resized to 299 by
  pytorch-fid, grey images repeated to 3 channels), loaded ONLY from a local file: the path in
  ``$AUGBENCH_INCEPTION_WEIGHTS``, else ``<torch hub dir>/checkpoints/pt_inception-2015-12-05-
  6726825d.pth`` (where pytorch-fid itself caches them). It is never downloaded; without the file
  it is skipped with ``Inception weights not available``. pytorch-fid's ``InceptionV3`` only knows
  how to fetch its weights from a URL, so while it is built its URL loader is replaced by one that
  reads the local file (the architecture is pytorch-fid's own, unchanged).
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

from bench.cache import artifact_path, cached
from bench.datasets import ImageDataset
from bench.errors import BenchError
from bench.nets import SmallCNN, to_input
from bench.registry import Registry
from bench.store import stable_hash

FEATURE_EXTRACTORS: Registry = Registry("feature extractor")
register_extractor = FEATURE_EXTRACTORS.register

INCEPTION_ENV = "AUGBENCH_INCEPTION_WEIGHTS"
INCEPTION_UNAVAILABLE = "Inception weights not available"


class ExtractorUnavailable(BenchError):
    """The extractor cannot run here (e.g. no weights); the metrics record it as skipped."""


@dataclass(eq=False)
class FeatureExtractor:
    """``features(uint8 N×C×H×W) -> float64 N×dims``; ``probs`` (optional) -> N×classes."""

    name: str
    dims: int
    key: dict[str, Any]  # identifies the features (for caching real statistics)
    features: Callable[[torch.Tensor], np.ndarray]
    probs: Callable[[torch.Tensor], np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # facts for the record


def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + batch_size]).double().cpu() for i in range(0, len(x), batch_size)]).numpy()


# --- domain: the dataset's reference classifier -------------------------------------------------

REFERENCE_VERSION = "1"


@dataclass(frozen=True)
class ReferenceConfig:
    epochs: float = 5.0  # passes over the train split, clamped to [min_steps, max_steps] steps
    min_steps: int = 500
    max_steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0  # decay would shrink dead units' weights to 0 and the embedding's rank with them
    width: int = 32
    feature_dim: int = 64
    dropout: float = 0.2
    seed: int = 0


def reference_steps(n_train: int, cfg: ReferenceConfig) -> int:
    return int(min(cfg.max_steps, max(cfg.min_steps, round(cfg.epochs * n_train / cfg.batch_size))))


class ReferenceCNN(SmallCNN):
    """SmallCNN with a narrower embedding; ``embed`` is the pre-ReLU embedding."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, cfg: ReferenceConfig) -> None:
        self.feature_dim = cfg.feature_dim  # read by SmallCNN.__init__
        super().__init__(image_shape, num_classes, width=cfg.width, dropout=cfg.dropout)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features[:-1](x)

    def logits_from_embedding(self, e: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(e))


def reference_key(ds: ImageDataset, cfg: ReferenceConfig) -> dict[str, Any]:
    return {"dataset_hash": ds.hash, "config": asdict(cfg), "version": REFERENCE_VERSION}


def build_reference(ds: ImageDataset, cfg: ReferenceConfig, device: torch.device) -> dict[str, Any]:
    """Train the reference classifier on the full train split; evaluate it on the test split."""
    from bench.training import ClassifierConfig, evaluate, model_predictor, train_classifier

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ReferenceCNN(ds.image_shape, ds.num_classes, cfg)
        steps = reference_steps(len(ds.train_y), cfg)
        t = time.perf_counter()
        train_classifier(model, ds.train_x, ds.train_y,
                         ClassifierConfig(steps=steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                          weight_decay=cfg.weight_decay, width=cfg.width, dropout=cfg.dropout),
                         seed=cfg.seed, device=device, desc=f"reference classifier ({ds.name})")
        train_s = time.perf_counter() - t
    acc = evaluate(model_predictor(model, device), ds.test_x, ds.test_y, ds.num_classes)["accuracy"]
    return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "config": asdict(cfg),
            "version": REFERENCE_VERSION, "dataset_hash": ds.hash, "test_accuracy": acc,
            "steps": steps, "n_train": int(len(ds.train_y)), "n_test": int(len(ds.test_y)), "train_s": round(train_s, 2)}


def load_reference(ds: ImageDataset, cache_dir: Path, device: torch.device,
                   cfg: ReferenceConfig = ReferenceConfig()) -> tuple[ReferenceCNN, dict[str, Any]]:
    """The dataset's reference classifier (built on first use, then loaded from the cache)."""
    key = reference_key(ds, cfg)
    art = cached(cache_dir, "reference-classifier", key, lambda: build_reference(ds, cfg, device))
    model = ReferenceCNN(ds.image_shape, ds.num_classes, cfg)
    model.load_state_dict(art["state_dict"])
    model.to(device).eval()
    return model, art


@register_extractor("domain")
def domain_extractor(ds: ImageDataset, cache_dir: Path, device: torch.device) -> FeatureExtractor:
    cfg = ReferenceConfig()
    model, art = load_reference(ds, cache_dir, device, cfg)

    def features(x: torch.Tensor) -> np.ndarray:
        return batched(lambda b: model.embed(to_input(b.to(device))), x, 1000)

    def probs(x: torch.Tensor) -> np.ndarray:
        return batched(lambda b: model(to_input(b.to(device))).softmax(1), x, 1000)

    info = {"reference_test_accuracy": art["test_accuracy"], "reference_config": art["config"],
            "reference_steps": art["steps"], "reference_train_s": art["train_s"],
            "reference_version": art["version"],
            "reference_artifact": str(artifact_path(cache_dir, "reference-classifier", reference_key(ds, cfg)).name)}
    return FeatureExtractor("domain", cfg.feature_dim, {"extractor": "domain", **reference_key(ds, cfg)},
                            features, probs, info)


# --- inception: pytorch-fid's FID Inception weights, local file only ----------------------------

def inception_weights_path() -> Path:
    """The local FID Inception weights file, or :class:`ExtractorUnavailable` saying where we looked."""
    from pytorch_fid.inception import FID_WEIGHTS_URL

    env = os.environ.get(INCEPTION_ENV)
    if env:
        path = Path(env).expanduser()
        if path.is_file():
            return path
        raise ExtractorUnavailable(f"{INCEPTION_UNAVAILABLE} (${INCEPTION_ENV}={env} is not a file)")
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(FID_WEIGHTS_URL)
    if path.is_file():
        return path
    raise ExtractorUnavailable(f"{INCEPTION_UNAVAILABLE} (no {path}; set ${INCEPTION_ENV} to the .pth file)")


@functools.lru_cache(maxsize=4)
def _file_sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_fid_inception(path: Path, device: torch.device) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (block 3, 2048-d) with its FID weights read from ``path``."""
    import pytorch_fid.inception as pfi

    def local(url: str, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return torch.load(path, map_location="cpu", weights_only=True)

    try:
        with mock.patch.object(pfi, "load_state_dict_from_url", local):
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    except (RuntimeError, OSError) as exc:
        raise BenchError(f"could not load FID Inception weights from {path}: {str(exc).splitlines()[0]}; "
                         "pass pytorch-fid's pt_inception-2015-12-05 .pth file") from None
    return model.to(device).eval()


@register_extractor("inception")
def inception_extractor(ds: ImageDataset, cache_dir: Path, device: torch.device) -> FeatureExtractor:
    path = inception_weights_path()
    st = path.stat()
    weights = _file_sha256(str(path), st.st_size, st.st_mtime)
    model = load_fid_inception(path, device)

    def prep(b: torch.Tensor) -> torch.Tensor:
        x = b.to(device).float().div_(255.0)  # pytorch-fid wants [0, 1]; it resizes to 299
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def features(x: torch.Tensor) -> np.ndarray:
        return batched(lambda b: model(prep(b))[0].flatten(1), x, 50)

    info = {"weights": str(path), "weights_sha256": weights}
    return FeatureExtractor("inception", 2048, {"extractor": "inception", "weights_sha256": weights,
                                                "version": "1"}, features, None, info)


def get_extractor(name: str, ds: ImageDataset, cache_dir: Path, device: torch.device) -> FeatureExtractor:
    return FEATURE_EXTRACTORS.get(name)(ds, Path(cache_dir), device)


def extractor_id(ext: FeatureExtractor) -> str:
    return stable_hash(ext.key)
