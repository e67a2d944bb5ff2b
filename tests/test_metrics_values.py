"""FID, IS and KID against independent reference computations on the same numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from bench.errors import BenchError
from bench.metrics import kid
from bench.metrics.fid import GaussianStats, fid_from_features, frechet_distance, gaussian_stats
from bench.metrics.inception_score import default_splits, inception_score
from bench.metrics.kid import kernel_inception_distance, mmd2_unbiased


def test_fid_equals_pytorch_fid_on_same_features():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 16))
    b = rng.normal(0.3, 1.5, size=(250, 16)) @ rng.normal(size=(16, 16))
    # pytorch-fid's own statistics (fid_score.calculate_activation_statistics) and distance
    ref = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    ours = fid_from_features(a, b)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert ours > 1.0


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    got = frechet_distance(GaussianStats(mu1, np.diag(s1), 100), GaussianStats(mu2, np.diag(s2), 100))
    assert got == pytest.approx(expected, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(2).normal(size=(100, 10))
    assert abs(fid_from_features(f, f)) < 1e-8


@pytest.mark.parametrize("n", [1, 10, 16])
def test_fid_refused_below_dims_plus_one(n):
    with pytest.raises(BenchError, match=r"at least dims \+ 1 = 17 samples.*got n=" + str(n)):
        gaussian_stats(np.random.default_rng(0).normal(size=(n, 16)))
    gaussian_stats(np.random.default_rng(0).normal(size=(17, 16)))  # the smallest accepted count


def test_fid_rejects_bad_features():
    with pytest.raises(BenchError, match="NaN"):
        gaussian_stats(np.full((20, 3), np.nan))
    with pytest.raises(BenchError, match="4-d with 3-d"):
        frechet_distance(gaussian_stats(np.ones((5, 4)) + np.eye(5, 4)), gaussian_stats(np.eye(5, 3)))


def reference_is(probs: list[list[float]], splits: int) -> list[float]:
    """Salimans et al.'s definition with plain Python loops."""
    size = len(probs) // splits
    out = []
    for k in range(splits):
        part = probs[k * size:(k + 1) * size]
        marg = [sum(row[j] for row in part) / len(part) for j in range(len(part[0]))]
        kl = [sum(p * (math.log(p + 1e-12) - math.log(q + 1e-12)) for p, q in zip(row, marg, strict=True)) for row in part]
        out.append(math.exp(sum(kl) / len(kl)))
    return out


@pytest.mark.parametrize("n,splits", [(120, None), (57, 3), (500, None)])
def test_inception_score_matches_reference(n, splits):
    logits = np.random.default_rng(n).normal(0, 2, size=(n, 7))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, std, used = inception_score(p, splits, order_seed=None)
    assert used == (splits or default_splits(n))
    ref = reference_is(p.tolist(), used)
    assert mean == pytest.approx(float(np.mean(ref)), rel=1e-6)
    assert std == pytest.approx(float(np.std(ref)), rel=1e-6, abs=1e-12)


def test_inception_score_of_class_grouped_samples_is_not_collapsed():
    """Generators return samples grouped by class; split contiguously, each split would hold one
    class and IS would be ~1 for a perfect generator. The default order shuffles first."""
    grouped = np.eye(10)[np.repeat(np.arange(10), 100)]  # 1000 confident samples, class 0 first
    assert inception_score(grouped, 10)[0] == pytest.approx(10.0, rel=0.05)
    assert inception_score(grouped, 10, order_seed=None)[0] == pytest.approx(1.0, rel=1e-6)
    # the order only matters through the splits: one split gives the same score either way
    assert inception_score(grouped, 1)[0] == pytest.approx(inception_score(grouped, 1, order_seed=None)[0], rel=1e-12)


def test_inception_score_extremes_and_bad_input():
    onehot = np.eye(10)[np.arange(200) % 10]
    assert inception_score(onehot, 1)[0] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.eye(10)[np.zeros(200, int)], 1)[0] == pytest.approx(1.0, rel=1e-6)
    assert default_splits(30) == 1 and default_splits(5000) == 10
    with pytest.raises(BenchError, match="probabilities"):
        inception_score(np.ones((10, 3)))


def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)^3, by explicit double loops."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return sxx + syy - 2 * sxy


def test_mmd2_matches_reference():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(25, 6)), rng.normal(0.5, 1.0, size=(25, 6))
    assert mmd2_unbiased(x, y) == pytest.approx(reference_mmd2(x, y), rel=1e-6)


@pytest.mark.parametrize("full_kernel_max", [0, 4096], ids=["per-subset kernels", "full kernels read by subset"])
def test_kid_matches_reference_on_the_same_subsets(monkeypatch, full_kernel_max):
    monkeypatch.setattr(kid, "FULL_KERNEL_MAX", full_kernel_max)
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(40, 5)), rng.normal(0.4, 1.2, size=(30, 5))
    mean, std, m, s = kernel_inception_distance(real, fake, n_subsets=4, subset_size=20, seed=7)
    assert (m, s) == (20, 4)
    draw = np.random.RandomState(7)
    vals = []
    for _ in range(4):
        ri = draw.choice(40, 20, replace=False)
        fi = draw.choice(30, 20, replace=False)
        vals.append(reference_mmd2(real[ri], fake[fi]))
    assert mean == pytest.approx(float(np.mean(vals)), rel=1e-6)
    assert std == pytest.approx(float(np.std(vals)), rel=1e-6)


def test_kid_small_samples_shrink_the_subset_and_same_distribution_is_near_zero():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(2000, 8)), rng.normal(size=(50, 8))
    mean, _, m, _ = kernel_inception_distance(real, fake)
    assert m == 50
    far = kernel_inception_distance(real, fake + 1.0)[0]
    assert abs(mean) < 0.1 * far
    with pytest.raises(BenchError, match="at least 2"):
        kernel_inception_distance(real, fake[:1])


# --- the same numbers from torch-fidelity 0.4 (test extra), on the same features -----------------

def test_kid_equals_torch_fidelity_on_the_same_features_and_subsets():
    import torch
    import torch_fidelity.metric_kid as tf  # test extra: required, never skipped

    rng = np.random.default_rng(8)
    real, fake = rng.normal(1.0, 2.0, size=(120, 12)), rng.normal(1.2, 2.2, size=(80, 12))
    ref = tf.kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=15,
                                    kid_subset_size=50, rng_seed=11, verbose=False)
    mean, std, m, s = kernel_inception_distance(real, fake, n_subsets=15, subset_size=50, seed=11)
    assert (m, s) == (50, 15)
    assert mean == pytest.approx(ref[tf.KEY_METRIC_KID_MEAN], rel=1e-6)
    assert std == pytest.approx(ref[tf.KEY_METRIC_KID_STD], rel=1e-6)
    # the normalised variant is torch-fidelity's KID of the features divided by their RMS coordinate
    scale = kid.rms_scale(real)
    assert scale == pytest.approx(float(np.sqrt((real ** 2).mean())), rel=1e-12)
    (means, stds), _, _ = kid.kid_at_scales(real, fake, (1.0, scale), n_subsets=15, subset_size=50, seed=11)
    ref_n = tf.kid_features_to_metric(torch.from_numpy(real / scale), torch.from_numpy(fake / scale), kid_subsets=15,
                                      kid_subset_size=50, rng_seed=11, verbose=False)
    assert means[0] == mean and stds[0] == std  # scale 1 is kernel_inception_distance, to the bit
    assert means[1] == pytest.approx(ref_n[tf.KEY_METRIC_KID_MEAN], rel=1e-6)
    assert stds[1] == pytest.approx(ref_n[tf.KEY_METRIC_KID_STD], rel=1e-6)


def test_normalised_kid_does_not_depend_on_the_feature_scale():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(0.5, 1.0, size=(90, 6)), rng.normal(0.8, 1.0, size=(70, 6))
    vals = []
    for c in (1.0, 37.0):  # a raw KID changes by up to c⁶; the normalised one not at all
        r, f = c * real, c * fake
        (means, _), _, _ = kid.kid_at_scales(r, f, (1.0, kid.rms_scale(r)), n_subsets=5, subset_size=40, seed=0)
        vals.append(means)
    assert vals[1][0] > 1e3 * vals[0][0]
    assert vals[1][1] == pytest.approx(vals[0][1], rel=1e-9)
    with pytest.raises(BenchError, match="root-mean-square"):
        kid.rms_scale(np.zeros((5, 3)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("n,splits", [(200, 10), (150, 3)])
def test_inception_score_equals_torch_fidelity_on_the_same_probabilities(n, splits):
    import torch
    import torch_fidelity.metric_isc as tf

    logits = np.random.default_rng(n).normal(0, 2.5, size=(n, 10))
    p = _softmax(logits)
    # torch-fidelity takes logits (softmax inside); log p gives the same p, split in the given order
    ref = tf.isc_features_to_metric(torch.from_numpy(np.log(p)), splits=splits, shuffle=False)
    mean, std, _ = inception_score(p, splits, order_seed=None)
    assert mean == pytest.approx(ref[tf.KEY_METRIC_ISC_MEAN], rel=1e-6)
    assert std == pytest.approx(ref[tf.KEY_METRIC_ISC_STD], rel=1e-6)
    # with its shuffle: the same rows in its RandomState(2020) order
    ref_s = tf.isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=True, rng_seed=2020)
    order = np.random.RandomState(2020).permutation(n)
    mean_s, std_s, _ = inception_score(p[order], splits, order_seed=None)
    assert mean_s == pytest.approx(ref_s[tf.KEY_METRIC_ISC_MEAN], rel=1e-6)
    assert std_s == pytest.approx(ref_s[tf.KEY_METRIC_ISC_STD], rel=1e-6)


def test_kid_and_is_equal_torch_fidelity_on_digits_domain_features(digits, shared_options):
    import torch
    import torch_fidelity.metric_isc as tf_isc
    import torch_fidelity.metric_kid as tf_kid

    from bench.metrics.feature_extractors import get_extractor

    ext = get_extractor("domain", digits, shared_options.cache_dir, torch.device("cpu"))
    real, fake = ext.features(digits.test_x), ext.features(digits.train_x[:300])
    ref = tf_kid.kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=10,
                                        kid_subset_size=300, rng_seed=3, verbose=False)
    mean, std, _, _ = kernel_inception_distance(real, fake, n_subsets=10, subset_size=300, seed=3)
    assert mean == pytest.approx(ref[tf_kid.KEY_METRIC_KID_MEAN], rel=1e-6)
    assert std == pytest.approx(ref[tf_kid.KEY_METRIC_KID_STD], rel=1e-6)
    p = ext.probs(digits.train_x[:300])
    ref = tf_isc.isc_features_to_metric(torch.from_numpy(np.log(p)), splits=5, shuffle=False)
    assert inception_score(p, 5, order_seed=None)[0] == pytest.approx(ref[tf_isc.KEY_METRIC_ISC_MEAN], rel=1e-6)
