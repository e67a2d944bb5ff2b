"""Classification Accuracy Score (Ravuri & Vinyals, 2019): train a classifier on the generated
images ONLY, test it on real images. It asks whether the samples are *useful* as labelled data —
class-faithful and diverse enough to learn the classes from — which FID and IS do not predict (a
generator can score a good FID with samples whose class is ambiguous, or a good IS with one
prototype per class). It is the "GAN-train" half of Shmelkov et al. (2018); the other half
("GAN-test": a classifier trained on real images labels the generated ones) is
``gen_label_accuracy_domain``.

Here the classifier is the cell's fixed downstream classifier: the same network and
:class:`~bench.training.ClassifierConfig` (steps, batch size, optimiser) as the cell, the same
initial weights and batch-index seed (``derive_seed("classifier" | "batches", dataset hash,
shots, seed)``), trained by the harness's own :func:`~bench.training.train_classifier` on the
generated images and their labels, and evaluated on the cell's real test split (the one the cell's
accuracy uses). Within a cell, methods' CAS therefore differ only in the images they generated.
The training runs under its own torch RNG state, so it changes nothing for what follows.

Cost: one extra training of the downstream classifier per generating cell (recorded as
``details["generation"]["cas"]["train_s"]``, included in ``timings.metrics_s``).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from bench.errors import BenchError
from bench.tasks import derive_seed
from bench.training import ClassifierConfig, evaluate, make_classifier, model_predictor, train_classifier


def classification_accuracy_score(x_gen: torch.Tensor, y_gen: torch.Tensor, task: Any, cfg: ClassifierConfig,
                                  device: torch.device | None = None) -> dict[str, Any]:
    """``{"cas", "per_class_accuracy", "n_train", "n_test", "train_s", "final_loss"}``: accuracy on
    ``task``'s real test split of the downstream classifier trained on ``(x_gen, y_gen)`` only."""
    ds, device = task.dataset, device or torch.device("cpu")
    if len(x_gen) == 0 or len(x_gen) != len(y_gen):
        raise BenchError(f"CAS needs generated images with one label each, got {len(x_gen)} images and "
                         f"{len(y_gen)} labels")
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed("classifier", ds.hash, task.shots, task.seed))
        model = make_classifier(ds.image_shape, ds.num_classes, cfg)
        t = time.perf_counter()
        fit = train_classifier(model, x_gen, y_gen, cfg, seed=derive_seed("batches", ds.hash, task.shots, task.seed),
                               device=device, desc="CAS classifier (generated images only)")
        train_s = time.perf_counter() - t
    ev = evaluate(model_predictor(model, device), task.test_x, task.test_y, ds.num_classes, cfg.eval_batch_size)
    return {"cas": ev["accuracy"], "per_class_accuracy": ev["per_class_accuracy"], "n_train": int(len(x_gen)),
            "n_test": ev["n_test"], "train_s": round(train_s, 3), "final_loss": fit["final_loss"]}
