"""Precision and recall (Kynkäänniemi et al., 2019), density and coverage (Naeem et al., 2020)
of generated features against real ones, from k-nearest-neighbour balls (k = 5 by default, as in
Naeem et al.).

Around every real feature ``r_i`` lies a ball whose radius is the distance to its k-th nearest
*other* real feature; likewise around every generated feature ``f_j`` with the generated set.

* precision — share of generated features inside at least one real ball (fidelity);
* recall — share of real features inside at least one generated ball (diversity);
* density — mean over generated features of (number of real balls containing it) / k; it is not
  bounded by 1 (≈ 1 when the two sets come from one distribution; > 1 where samples crowd
  around dense real regions);
* coverage — share of real features whose ball contains at least one generated feature.

Membership is strict (distance < radius), as in the authors' ``prdc`` package (Naeem et al.'s
reference code), which the tests use as the oracle; torch-fidelity's precision/recall (after
Kynkäänniemi's code) uses ≤. The two differ only on exact ties, which continuous features
almost never produce. All four are in [0, 1] except density (≥ 0).

Distances are exact Euclidean distances in float64 (``torch.cdist`` without the
``|a|² + |b|² − 2a·b`` shortcut), so a distance depends only on the pair of vectors: a generated
copy of a real feature is at exactly the same distance as the original. They are computed in row
chunks of at most ``CHUNK_ELEMENTS`` entries, so 10,000 real × 10,000 real (the real radii) or
× 1,000 generated needs ~32 MB at a time, never the full matrix. The real radii depend only on
the real set and k; :func:`bench.metrics.generation.generation_metrics` caches them per dataset
and extractor.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.errors import BenchError

K = 5
CHUNK_ELEMENTS = 4_000_000  # float64 entries per distance chunk (32 MB)


def _as_features(x: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if t.ndim != 2:
        raise BenchError(f"{what} must be an N×D matrix, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise BenchError(f"{what} contain NaN or infinite values; the images or the extractor are broken")
    return t


def _check_k(k: int, n: int, what: str) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise BenchError(f"precision/recall/density/coverage need an integer k >= 1, got k={k!r}")
    if k >= n:
        raise BenchError(f"precision/recall/density/coverage with k={k} need more than k {what} samples, got {n}; "
                         "generate more images or lower k")


def _chunk_rows(n_cols: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(1, n_cols))


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def knn_radii(features: np.ndarray | torch.Tensor, k: int = K) -> np.ndarray:
    """Distance from each row to its k-th nearest other row (float64, length N)."""
    f = _as_features(features, "features")
    _check_k(k, len(f), "")
    out = torch.empty(len(f), dtype=torch.float64)
    step = _chunk_rows(len(f))
    for s in range(0, len(f), step):
        d = _distances(f[s:s + step], f)
        rows = torch.arange(len(d))
        d[rows, rows + s] = 0.0  # the row itself (exactly 0 already; explicit for clarity)
        out[s:s + len(d)] = d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the row itself
    return out.numpy()


def prdc(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = K,
         real_radii: np.ndarray | None = None) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of ``fake`` against ``real`` (N×D each).

    ``real_radii`` (from :func:`knn_radii` with the same ``k``) skips recomputing the real balls.
    """
    r, f = _as_features(real, "real features"), _as_features(fake, "generated features")
    if r.shape[1] != f.shape[1]:
        raise BenchError(f"cannot compare {r.shape[1]}-d real with {f.shape[1]}-d generated features; use one extractor")
    _check_k(k, len(r), "real")
    _check_k(k, len(f), "generated")
    if real_radii is None:
        rr = torch.as_tensor(knn_radii(r, k))
    else:
        rr = torch.as_tensor(np.asarray(real_radii, dtype=np.float64))
        if rr.shape != (len(r),):
            raise BenchError(f"real_radii must have one radius per real feature ({len(r)}), got shape {tuple(rr.shape)}")
    fr = torch.as_tensor(knn_radii(f, k))
    in_real_balls = torch.zeros(len(f), dtype=torch.int64)  # per generated feature
    recalled = torch.zeros(len(r), dtype=torch.bool)  # per real feature
    covered = torch.zeros(len(r), dtype=torch.bool)
    step = _chunk_rows(len(f))
    for s in range(0, len(r), step):
        d = _distances(r[s:s + step], f)  # real chunk × generated
        inside = d < rr[s:s + step, None]
        in_real_balls += inside.sum(0)
        recalled[s:s + step] = (d < fr[None, :]).any(1)
        covered[s:s + step] = inside.any(1)  # nearest generated feature inside the real ball
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(in_real_balls.sum().item() / (k * len(f))),
        "coverage": float(covered.double().mean()),
    }
