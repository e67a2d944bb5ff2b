"""Fréchet distance between two sets of features (FID when the features are Inception's).

The distance itself is pytorch-fid's ``calculate_frechet_distance`` (Dougal Sutherland's stable
version); this module only computes the Gaussian statistics the same way pytorch-fid does (mean
and unbiased covariance, ``np.cov(rowvar=False)``, in float64) and refuses sample counts that
cannot give a full-rank covariance: with ``n`` samples of ``d`` features the sample covariance has
rank at most ``n - 1``, so FID needs ``n >= d + 1``; below that the value mostly measures the rank
deficit, not the distributions, and is refused with :class:`~bench.errors.BenchError`.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance

from bench.errors import BenchError


@dataclass(frozen=True, eq=False)
class GaussianStats:
    """Mean and covariance of ``n`` feature vectors of width ``dims``."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @property
    def dims(self) -> int:
        return int(self.mu.shape[0])


def check_fid_samples(n: int, dims: int, what: str = "features") -> None:
    """Raise unless ``n`` samples of width ``dims`` can give a full-rank covariance."""
    if n < dims + 1:
        raise BenchError(
            f"FID needs at least dims + 1 = {dims + 1} samples for a full-rank covariance of {dims}-d "
            f"{what}, got n={n}; generate more images or use an extractor with fewer feature dims"
        )


def gaussian_stats(features: np.ndarray, what: str = "features") -> GaussianStats:
    """Statistics of an N×D feature matrix, exactly as pytorch-fid computes them."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise BenchError(f"{what} must be an N×D matrix, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise BenchError(f"{what} contain NaN or infinite values; the images or the extractor are broken")
    check_fid_samples(len(f), f.shape[1], what)
    return GaussianStats(mu=np.mean(f, axis=0), sigma=np.cov(f, rowvar=False), n=len(f))


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """pytorch-fid's Fréchet distance between two Gaussians (its console notes are suppressed)."""
    if a.dims != b.dims:
        raise BenchError(f"cannot compare {a.dims}-d with {b.dims}-d feature statistics; use one extractor")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # it prints when it adds eps to the diagonal; newer SciPy deprecates its sqrtm(disp=...)
        warnings.filterwarnings("ignore", message=".*disp.*", category=DeprecationWarning)
        d = calculate_frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    return float(d)


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two N×D feature matrices (each needs N >= D + 1)."""
    return frechet_distance(gaussian_stats(real, "real features"), gaussian_stats(fake, "generated features"))
