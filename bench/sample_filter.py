"""Filtering generated images by a classifier trained on the shots (issue 30, item 3).

A generator's samples include ones a judge trained on the real shots would call another class,
or call this class only weakly; training the downstream classifier on those adds label noise.
With ``filter_confidence`` > 0 (:class:`bench.method.GenerativeConfig`), the harness trains the
cell's own classifier recipe on the real shots alone (the baseline's seeds: the same network the
``baseline`` method of the cell ends with), and keeps a generated image only if that judge's
softmax gives its intended label at least ``filter_confidence``. The judge never sees test data.

The image-quality metrics of the record (FID, PRDC, CAS, ...) stay those of the generator's full
sample, since they judge the generator; the record's ``details["filter"]`` says how many images
per class were kept. A class whose samples are all rejected keeps none: the classifier then
draws that class's synthetic share from the other classes (batches are drawn from the pool of
kept images), which the record makes visible as ``kept_per_class``.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.errors import BenchError
from bench.training import make_classifier, model_predictor, train_classifier


def filter_samples(x_gen: torch.Tensor, y_gen: torch.Tensor, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                   image_shape: tuple[int, int, int], clf_cfg, threshold: float, *, device: torch.device,
                   init_seed: int, batch_seed: int,
                   batch_size: int = 1000) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, Any]]:
    """Keep the generated ``(x_gen, y_gen)`` whose label a classifier trained on ``(x, y)`` gives
    probability ≥ ``threshold``; return the kept pair and what the record says about it."""
    if not 0 < threshold < 1:
        raise BenchError(f"filter_confidence must be in (0, 1), got {threshold}")
    torch.manual_seed(init_seed)
    judge = make_classifier(image_shape, num_classes, clf_cfg)
    train_classifier(judge, x, y, clf_cfg, device=device, seed=batch_seed, desc="filter judge")
    predict = model_predictor(judge, device)
    probs = torch.cat([predict(x_gen[i:i + batch_size]).softmax(1) for i in range(0, len(x_gen), batch_size)])
    p_label = probs.gather(1, y_gen.long().unsqueeze(1)).squeeze(1)
    keep = p_label >= threshold
    if not keep.any():
        raise BenchError(f"the filter (confidence >= {threshold}) rejected every generated image; "
                         "lower filter_confidence or set it to 0 (off)")
    kept = torch.bincount(y_gen[keep], minlength=num_classes)
    total = torch.bincount(y_gen, minlength=num_classes)
    info = {"confidence": threshold, "judge": "the cell's classifier recipe trained on the shots only",
            "kept": int(keep.sum()), "generated": len(y_gen), "kept_per_class": kept.tolist(),
            "generated_per_class": total.tolist(),
            "judge_agrees": round(float((probs.argmax(1) == y_gen).float().mean()), 4)}
    return (x_gen[keep], y_gen[keep]), info
