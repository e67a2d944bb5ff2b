"""Kernel Inception Distance (Bińkowski et al., 2018): unbiased MMD² with the cubic polynomial
kernel ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets.

KID is unbiased, so unlike FID it is meaningful for the small sample counts of few-shot work and
for features wider than the sample count. As in torch-fidelity, ``n_subsets`` subsets of
``subset_size`` rows are drawn without replacement from each set (default 100 subsets of 1000);
when a set is smaller, the subset size shrinks to the smaller set's size (at least 2). Subsets are
drawn with a seeded ``numpy.random.RandomState`` so the value is reproducible; mean and std over
subsets are reported with the subset size and count used. The kernels are small matrix products
(per subset at most 1000×1000; the full matrices below at most 4096×4096), run on one BLAS
thread: faster than multi-threaded BLAS at this size, and far faster on a shared, loaded machine.
When both sets have at most ``FULL_KERNEL_MAX`` rows (digits' 597 test images and 1000 generated
ones, say), the three kernel matrices are computed once and each subset reads its blocks from
them instead of recomputing three products: the same subsets and values (equal to the last bit,
or within one rounding of the larger product), about 2× faster there. Larger sets
(Fashion-MNIST's 10000 test images) compute each subset's kernels, since their full matrices
would not fit.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from bench.errors import BenchError

N_SUBSETS = 100
SUBSET_SIZE = 1000
FULL_KERNEL_MAX = 4096  # rows; a float64 kernel matrix this size is 128 MiB


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    gamma = 1.0 / x.shape[1]
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between two samples of equal size m (diagonals of k(x,x), k(y,y) excluded)."""
    m = len(x)
    if m < 2 or len(y) != m:
        raise BenchError(f"unbiased MMD² needs two samples of equal size >= 2, got {len(x)} and {len(y)}")
    return mmd2_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def mmd2_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD² from the m×m kernel matrices within and between two samples of size m."""
    m = len(kxx)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, n_subsets: int = N_SUBSETS,
                              subset_size: int = SUBSET_SIZE, seed: int = 0) -> tuple[float, float, int, int]:
    """``(mean, std, subset_size, n_subsets)`` of KID between two N×D feature matrices."""
    r, f = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise BenchError(f"KID needs two N×D feature matrices of equal width, got {r.shape} and {f.shape}")
    m = min(subset_size, len(r), len(f))
    if m < 2:
        raise BenchError(f"KID needs at least 2 real and 2 generated samples, got {len(r)} and {len(f)}")
    rng = np.random.RandomState(seed)
    values = []
    with threadpool_limits(limits=1, user_api="blas"):
        if max(len(r), len(f)) <= FULL_KERNEL_MAX:
            krr, kff, krf = polynomial_kernel(r, r), polynomial_kernel(f, f), polynomial_kernel(r, f)

            def subset_mmd2(ri: np.ndarray, fi: np.ndarray) -> float:
                return mmd2_from_kernels(krr.take(ri, 0).take(ri, 1), kff.take(fi, 0).take(fi, 1),
                                         krf.take(ri, 0).take(fi, 1))
        else:
            def subset_mmd2(ri: np.ndarray, fi: np.ndarray) -> float:
                return mmd2_unbiased(r[ri], f[fi])

        for _ in range(n_subsets):
            ri = rng.choice(len(r), m, replace=False)
            fi = rng.choice(len(f), m, replace=False)
            values.append(subset_mmd2(ri, fi))
    return float(np.mean(values)), float(np.std(values)), m, n_subsets
