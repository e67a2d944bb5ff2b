"""Kernel Inception Distance (Bińkowski et al., 2018): unbiased MMD² with the cubic polynomial
kernel ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets.

KID is unbiased, so unlike FID it is meaningful for the small sample counts of few-shot work and
for features wider than the sample count. As in torch-fidelity, ``n_subsets`` subsets of
``subset_size`` rows are drawn without replacement from each set (default 100 subsets of 1000);
when a set is smaller, the subset size shrinks to the smaller set's size (at least 2). Subsets are
drawn with a seeded ``numpy.random.RandomState`` so the value is reproducible; mean and std over
subsets are reported with the subset size and count used. The kernels come from small matrix
products run on one BLAS thread: faster than multi-threaded BLAS at this size, and far faster on a
shared, loaded machine. When both sets have at most ``FULL_KERNEL_MAX`` rows (digits' 597 test
images and 1000 generated ones, say), the three Gram matrices are computed once and each subset
reads its blocks from them instead of recomputing three products: the same subsets and values
(equal to the last bit, or within one rounding of the larger product), about 2× faster there.
Larger sets (Fashion-MNIST's 10000 test images) compute each subset's products, since their full
matrices would not fit.

Scale. The kernel is not scale-invariant: multiplying the features by ``c`` changes KID by up to
``c⁶``. Its ``gamma = 1/d`` assumes coordinates of order 1, as Inception's pool features have;
the ``domain`` extractor's embedding has an arbitrary scale set by its training (digits: RMS
coordinate 2.8, KID of real train vs. test images 2.6, of noise ~100; Fashion-MNIST's reach
10⁴–10⁵). :func:`kid_at_scales` therefore also gives KID on features divided by one scalar, the
real set's RMS coordinate (:func:`rms_scale`), on the same subsets and from the same products;
:mod:`bench.metrics.generation` reports it ×10³ as ``kid_norm_x1e3_<extractor>``, next to the
raw ``kid_<extractor>`` (torch-fidelity's value on the same features).
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
    (mean, std), m, n = kid_at_scales(real, fake, (1.0,), n_subsets, subset_size, seed)
    return mean[0], std[0], m, n


def rms_scale(real: np.ndarray) -> float:
    """The real features' root-mean-square coordinate, ``sqrt(mean(real²))``: the one scalar
    that :func:`kid_at_scales` divides by for KID on normalised features."""
    s = float(np.sqrt(np.mean(np.square(np.asarray(real, dtype=np.float64)))))
    if not np.isfinite(s) or s <= 0:
        raise BenchError(f"real features have root-mean-square {s}; cannot normalise them for KID")
    return s


def kid_at_scales(real: np.ndarray, fake: np.ndarray, scales: tuple[float, ...], n_subsets: int = N_SUBSETS,
                  subset_size: int = SUBSET_SIZE, seed: int = 0
                  ) -> tuple[tuple[list[float], list[float]], int, int]:
    """KID of ``real / s`` against ``fake / s`` for each ``s`` in ``scales``, on the same subsets:
    ``((means, stds), subset_size, n_subsets)``. The dot products are computed once; dividing
    both sets by ``s`` only divides them by ``s²``, i.e. the kernel's ``gamma`` becomes
    ``1 / (d s²)``. Scale 1 gives exactly :func:`kernel_inception_distance`."""
    r, f = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise BenchError(f"KID needs two N×D feature matrices of equal width, got {r.shape} and {f.shape}")
    m = min(subset_size, len(r), len(f))
    if m < 2:
        raise BenchError(f"KID needs at least 2 real and 2 generated samples, got {len(r)} and {len(f)}")
    gammas = [1.0 / (r.shape[1] * s * s) for s in scales]
    rng = np.random.RandomState(seed)
    values: list[list[float]] = [[] for _ in scales]
    with threadpool_limits(limits=1, user_api="blas"):
        if max(len(r), len(f)) <= FULL_KERNEL_MAX:
            grr, gff, grf = r @ r.T, f @ f.T, r @ f.T

            def grams(ri: np.ndarray, fi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                return grr.take(ri, 0).take(ri, 1), gff.take(fi, 0).take(fi, 1), grf.take(ri, 0).take(fi, 1)
        else:
            def grams(ri: np.ndarray, fi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                x, y = r[ri], f[fi]
                return x @ x.T, y @ y.T, x @ y.T

        for _ in range(n_subsets):
            ri = rng.choice(len(r), m, replace=False)
            fi = rng.choice(len(f), m, replace=False)
            gxx, gyy, gxy = grams(ri, fi)
            for out, gamma in zip(values, gammas, strict=True):
                out.append(mmd2_from_kernels((gxx * gamma + 1.0) ** 3, (gyy * gamma + 1.0) ** 3,
                                             (gxy * gamma + 1.0) ** 3))
    return ([float(np.mean(v)) for v in values], [float(np.std(v)) for v in values]), m, n_subsets
