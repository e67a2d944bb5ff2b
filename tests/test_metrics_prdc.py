"""Precision, recall, density and coverage against the authors' ``prdc`` package (Naeem et al.,
test-only oracle) and torch-fidelity's precision/recall, on random and on real digits features."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import prdc as prdc_oracle  # the test extra's oracle (Naeem et al.'s package): required, never skipped
import pytest
import torch
import torch_fidelity.metric_prc as tf_prc

from bench.errors import BenchError
from bench.metrics import prdc as prdc_mod
from bench.metrics.prdc import knn_radii, prdc


def oracle(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the sample counts
        return {m: float(v) for m, v in prdc_oracle.compute_prdc(real, fake, k).items()}


def assert_matches(ours: dict[str, float], ref: dict[str, float]) -> None:
    assert set(ours) == set(ref)
    for m in ref:
        assert ours[m] == pytest.approx(ref[m], rel=1e-6, abs=1e-12), m


@pytest.mark.parametrize("n_real,n_fake,dims,k,shift", [(400, 300, 16, 5, 0.3), (150, 500, 8, 5, 0.0),
                                                        (300, 60, 32, 3, 0.8), (200, 200, 4, 5, 2.0)])
def test_prdc_matches_the_prdc_package_on_random_features(n_real, n_fake, dims, k, shift):
    rng = np.random.default_rng(n_real + n_fake + dims)
    real = rng.normal(size=(n_real, dims))
    fake = rng.normal(shift, 1.3, size=(n_fake, dims)) @ rng.normal(size=(dims, dims)) / np.sqrt(dims)
    ours, ref = prdc(real, fake, k), oracle(real, fake, k)
    assert_matches(ours, ref)
    assert 0 < ref["precision"] < 1 or 0 < ref["recall"] < 1  # a non-trivial case, not all 0 or all 1


def test_precision_recall_match_torch_fidelity_with_neighbourhood_5():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(350, 12)), rng.normal(0.4, 1.1, size=(250, 12))
    ref = tf_prc.prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=5,
                                    prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    ours = prdc(real, fake, 5)  # torch-fidelity uses <=, prdc <: equal without exact ties
    assert ours["precision"] == pytest.approx(ref["precision"], rel=1e-6)
    assert ours["recall"] == pytest.approx(ref["recall"], rel=1e-6)


def test_prdc_matches_the_prdc_package_on_digits_pixels_with_exact_ties(digits):
    """Digits pixels are integers 0-16: many pairwise distances are exactly equal (and distances
    are exact in float64 for both implementations), so this checks the strict < on real ties."""
    real = digits.test_x.flatten(1).double().numpy()
    fake = digits.train_x[:500].flatten(1).double().numpy()
    d = np.sort(knn_radii(real, 5))
    assert (np.diff(d) == 0).any()  # ties are really there
    assert_matches(prdc(real, fake, 5), oracle(real, fake, 5))


def test_prdc_matches_the_prdc_package_on_digits_domain_features(digits, shared_options):
    from bench.metrics.feature_extractors import get_extractor

    ext = get_extractor("domain", digits, shared_options.cache_dir, torch.device("cpu"))
    real, fake = ext.features(digits.test_x), ext.features(digits.train_x[:400])
    ours, ref = prdc(real, fake, 5), oracle(real, fake, 5)
    assert_matches(ours, ref)
    assert ref["precision"] > 0.5 and ref["coverage"] > 0.3  # real train vs real test images: close


def test_identical_sets_score_one_and_far_disjoint_sets_zero():
    x = np.random.default_rng(1).normal(size=(120, 6))
    same = prdc(x, x.copy(), 5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    # each real ball strictly holds its centre and k-1 neighbours, so the counts sum to k per ball
    assert same["density"] == pytest.approx(1.0, rel=1e-12)
    far = prdc(x, x + 100.0, 5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


@pytest.mark.parametrize("n_real,n_fake", [(5, 50), (50, 5), (3, 3)])
def test_k_at_least_n_is_refused_in_one_line(n_real, n_fake):
    rng = np.random.default_rng(2)
    with pytest.raises(BenchError, match=r"k=5 need more than k (real|generated) samples, got [35]") as e:
        prdc(rng.normal(size=(n_real, 4)), rng.normal(size=(n_fake, 4)), 5)
    assert "\n" not in str(e.value)


def test_bad_input_is_refused():
    x = np.random.default_rng(3).normal(size=(20, 4))
    for bad_k in (0, -1, 2.5, True):
        with pytest.raises(BenchError, match="integer k >= 1"):
            prdc(x, x, bad_k)
    with pytest.raises(BenchError, match="4-d real with 3-d generated"):
        prdc(x, x[:, :3])
    with pytest.raises(BenchError, match="NaN"):
        prdc(x, np.full((20, 4), np.nan))
    with pytest.raises(BenchError, match="N×D"):
        prdc(x, x[0])
    with pytest.raises(BenchError, match="one radius per real feature"):
        prdc(x, x, 5, real_radii=np.ones(3))


def test_chunked_distances_equal_unchunked_and_stay_within_the_chunk(monkeypatch):
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(300, 8)), rng.normal(0.2, 1.0, size=(70, 8))
    full = prdc(real, fake, 5)
    seen = []
    real_distances = prdc_mod._distances

    def recording(a, b):
        seen.append(a.shape[0] * b.shape[0])
        return real_distances(a, b)

    monkeypatch.setattr(prdc_mod, "CHUNK_ELEMENTS", 1000)
    monkeypatch.setattr(prdc_mod, "_distances", recording)
    assert prdc(real, fake, 5) == full
    assert len(seen) > 10 and max(seen) <= 1000


def test_precomputed_real_radii_give_the_same_values():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(200, 5)), rng.normal(0.5, 1.0, size=(90, 5))
    radii = knn_radii(real, 5)
    assert radii.shape == (200,) and (radii > 0).all()
    assert prdc(real, fake, 5, real_radii=radii) == prdc(real, fake, 5)
    # the k-th neighbour distance by brute force
    d = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(radii, np.sort(d, axis=1)[:, 5], rtol=1e-12)
