"""Memorisation: do generated images sit closer to the k-shot training images than real images do?

``ratio = mean_g min_t ||φ(g) - φ(t)|| / mean_r min_t ||φ(r) - φ(t)||`` with φ the ``domain``
extractor's features, g the generated images, t the k-shot training images the generator saw and r
held-out real images (the test split). A generator that copies its training images scores ≈ 0;
one whose samples are as novel as fresh real images scores ≈ 1 (above 1: further away than real
images, e.g. off the data manifold). With 10 training images per class a copying generator is
plainly visible, which FID on its own does not show (copies of real images score a good FID).
"""

from __future__ import annotations

import numpy as np
import torch

from bench.errors import BenchError


def nearest_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row."""
    if len(references) == 0 or len(queries) == 0:
        raise BenchError("memorisation needs at least one query and one training image")
    d = torch.cdist(torch.as_tensor(queries, dtype=torch.float64), torch.as_tensor(references, dtype=torch.float64))
    return d.min(1).values.numpy()


def memorisation(gen_features: np.ndarray, train_features: np.ndarray, real_features: np.ndarray) -> dict[str, float]:
    """Mean nearest-training distances of generated and held-out real images, and their ratio."""
    d_gen = float(nearest_distances(gen_features, train_features).mean())
    d_real = float(nearest_distances(real_features, train_features).mean())
    if d_real <= 0:
        raise BenchError("held-out real images coincide with the training images; memorisation is undefined")
    return {"memorisation_ratio": d_gen / d_real, "nn_dist_gen": d_gen, "nn_dist_real": d_real}
