"""Feature extractors on real data: the digits reference classifier (built once, cached), FID of
the test split against itself and half against half, memorisation, and the Inception path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.metrics import feature_extractors as fx
from bench.metrics.fid import fid_from_features
from bench.metrics.memorisation import memorisation
from bench.tasks import draw_task

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def domain(digits, shared_options):
    return fx.get_extractor("domain", digits, shared_options.cache_dir, CPU)


def test_reference_classifier_is_built_once_and_records_accuracy(domain, digits, shared_options, monkeypatch):
    files = list((shared_options.cache_dir / "reference-classifier").glob("*.pt"))
    assert [f.name for f in files] == [domain.info["reference_artifact"]]
    assert domain.info["reference_test_accuracy"] > 0.9  # 8×8 digits: a trained classifier, not chance
    assert domain.dims == 64 and domain.key["dataset_hash"] == digits.hash

    def no_rebuild(*a, **k):
        raise AssertionError("the reference classifier was rebuilt instead of loaded from the cache")

    monkeypatch.setattr(fx, "build_reference", no_rebuild)
    again = fx.get_extractor("domain", digits, shared_options.cache_dir, CPU)
    x = digits.test_x[:20]
    np.testing.assert_array_equal(again.features(x), domain.features(x))
    assert again.info == domain.info


def test_domain_features_and_probabilities(domain, digits):
    f = domain.features(digits.test_x)
    assert f.shape == (len(digits.test_x), 64) and f.dtype == np.float64
    assert np.linalg.matrix_rank(np.cov(f, rowvar=False)) == 64  # full rank with 597 test images
    p = domain.probs(digits.test_x)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    acc = (p.argmax(1) == digits.test_y.numpy()).mean()
    assert acc == pytest.approx(domain.info["reference_test_accuracy"], abs=1e-9)


def test_fid_test_vs_test_is_zero_and_half_vs_half_is_small(domain, digits):
    f = domain.features(digits.test_x)
    assert abs(fid_from_features(f, f)) < 1e-6
    perm = np.random.default_rng(0).permutation(len(f))
    a, b = f[perm[: len(f) // 2]], f[perm[len(f) // 2:]]
    halves = fid_from_features(a, b)
    noise = torch.randint(0, 256, digits.test_x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    vs_noise = fid_from_features(a, domain.features(noise))
    assert 0 < halves < 0.05 * vs_noise, (halves, vs_noise)


def test_fid_refuses_too_few_domain_samples(domain, digits):
    with pytest.raises(BenchError, match="at least dims \\+ 1 = 65"):
        fid_from_features(domain.features(digits.test_x), domain.features(digits.test_x[:64]))


def test_memorisation_copies_near_zero_fresh_real_images_near_one(domain, digits):
    task = draw_task(digits, 10, 0)
    train = domain.features(task.x)
    real = domain.features(digits.test_x)
    copies = memorisation(domain.features(task.x.repeat(3, 1, 1, 1)), train, real)
    assert copies["memorisation_ratio"] < 1e-6
    fresh = memorisation(domain.features(task.pool_x[:300]), train, real)
    assert 0.8 < fresh["memorisation_ratio"] < 1.25, fresh


def test_inception_skipped_without_weights(digits, tmp_path, monkeypatch):
    monkeypatch.delenv(fx.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(fx.ExtractorUnavailable, match=r"^Inception weights not available \(no .*hub/checkpoints/pt_inception"):
        fx.get_extractor("inception", digits, tmp_path, CPU)
    monkeypatch.setenv(fx.INCEPTION_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(fx.ExtractorUnavailable, match="^Inception weights not available .*missing.pth is not a file"):
        fx.get_extractor("inception", digits, tmp_path, CPU)


def random_fid_inception_state_dict() -> dict[str, torch.Tensor]:
    """The FID Inception architecture (as pytorch_fid.inception.fid_inception_v3 builds it) with
    random weights: a stand-in weights file, so the loading and feature code path really runs."""
    import torchvision
    from pytorch_fid import inception as pfi

    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = pfi.FIDInceptionA(192, 32), pfi.FIDInceptionA(256, 64), pfi.FIDInceptionA(288, 64)
    net.Mixed_6b, net.Mixed_6c = pfi.FIDInceptionC(768, 128), pfi.FIDInceptionC(768, 160)
    net.Mixed_6d, net.Mixed_6e = pfi.FIDInceptionC(768, 160), pfi.FIDInceptionC(768, 192)
    net.Mixed_7b, net.Mixed_7c = pfi.FIDInceptionE_1(1280), pfi.FIDInceptionE_2(2048)
    return net.state_dict()


def test_inception_features_from_a_local_weights_file(digits, tmp_path, monkeypatch):
    path = tmp_path / "fid_inception.pth"
    torch.manual_seed(0)
    torch.save(random_fid_inception_state_dict(), path)
    monkeypatch.setenv(fx.INCEPTION_ENV, str(path))
    ext = fx.get_extractor("inception", digits, tmp_path, CPU)
    assert ext.dims == 2048 and ext.info["weights"] == str(path) and len(ext.key["weights_sha256"]) == 16
    f = ext.features(digits.test_x[:3])
    assert f.shape == (3, 2048) and np.isfinite(f).all() and f.std() > 0
    assert not np.allclose(f[0], f[1], rtol=1e-3, atol=0)  # different images, different features


def test_inception_rejects_a_wrong_weights_file(digits, tmp_path, monkeypatch):
    path = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    monkeypatch.setenv(fx.INCEPTION_ENV, str(path))
    with pytest.raises(BenchError, match="could not load FID Inception weights"):
        fx.get_extractor("inception", digits, tmp_path, CPU)


def test_unknown_extractor_suggests_names(digits, tmp_path):
    with pytest.raises(BenchError, match="did you mean 'domain'"):
        fx.get_extractor("domian", digits, tmp_path, CPU)
