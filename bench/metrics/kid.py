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
images and 1000 generated ones, say), the three kernel matrices are computed once and every
subset's kernel sums are read from them as one product with the subsets' 0/1 indicator vectors:
the same subsets, values within rounding (1e-14 relative), 40× faster there than one set of
products per subset (5.5 s → 0.13 s for 100 subsets at two scales, 597 × 1000 × 64).
Larger sets (Fashion-MNIST's 10000 test images) compute each subset's products, since their full
matrices would not fit (3× faster than before by cubing with two multiplications, not ``pow``).

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


def _cubic(gram: np.ndarray, gamma: float) -> np.ndarray:
    """``(gamma · gram + 1)³`` by two multiplications (numpy's ``** 3`` calls ``pow`` per element)."""
    t = gram * gamma
    t += 1.0
    return t * t * t


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between two samples of equal size m (diagonals of k(x,x), k(y,y) excluded)."""
    m = len(x)
    if m < 2 or len(y) != m:
        raise BenchError(f"unbiased MMD² needs two samples of equal size >= 2, got {len(x)} and {len(y)}")
    return mmd2_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def mmd2_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD² from the m×m kernel matrices within and between two samples of size m."""
    return float(mmd2_from_sums(kxx.sum(), np.trace(kxx), kyy.sum(), np.trace(kyy), kxy.sum(), len(kxx)))


def mmd2_from_sums(sum_xx, trace_xx, sum_yy, trace_yy, sum_xy, m: int):
    """Unbiased MMD² from the kernel sums of two samples of size m: each within-sample sum without
    its diagonal over m(m − 1) pairs, the cross sum over m². Works elementwise on arrays of sums."""
    return (sum_xx - trace_xx) / (m * (m - 1)) + (sum_yy - trace_yy) / (m * (m - 1)) - 2.0 * sum_xy / (m * m)


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
    draws = [(rng.choice(len(r), m, replace=False), rng.choice(len(f), m, replace=False)) for _ in range(n_subsets)]
    with threadpool_limits(limits=1, user_api="blas"):
        if max(len(r), len(f)) <= FULL_KERNEL_MAX:
            # each subset's kernel sums from the full kernels: sum over S×S of K = w_S · K w_S, with
            # w_S the subset's 0/1 indicator, so every subset is one row of a matrix product
            wr, wf = np.zeros((n_subsets, len(r))), np.zeros((n_subsets, len(f)))
            for i, (ri, fi) in enumerate(draws):
                wr[i, ri], wf[i, fi] = 1.0, 1.0
            grr, gff, grf = r @ r.T, f @ f.T, r @ f.T
            for out, gamma in zip(values, gammas, strict=True):
                krr, kff, krf = (_cubic(g, gamma) for g in (grr, gff, grf))
                out.extend(mmd2_from_sums(np.einsum("si,si->s", wr @ krr, wr), wr @ np.diag(krr),
                                          np.einsum("si,si->s", wf @ kff, wf), wf @ np.diag(kff),
                                          np.einsum("si,si->s", wr @ krf, wf), m).tolist())
        else:
            for ri, fi in draws:
                x, y = r[ri], f[fi]
                gxx, gyy, gxy = x @ x.T, y @ y.T, x @ y.T
                for out, gamma in zip(values, gammas, strict=True):
                    out.append(mmd2_from_kernels(_cubic(gxx, gamma), _cubic(gyy, gamma), _cubic(gxy, gamma)))
    return ([float(np.mean(v)) for v in values], [float(np.std(v)) for v in values]), m, n_subsets
