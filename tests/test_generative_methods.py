"""Generative methods beyond the contract: low-rank layers and parameter counts, transfer-gan's
source handling and cache, gmm at one shot, and that a trained GAN's samples look like their
class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bench.methods import transfer_gan
from bench.methods._gan_common import build_gan

from bench.method import METHODS, FitData
from bench.nets import LayerFactory, LowRankConv2d, LowRankLinear, count_parameters
from bench.runner import MethodContext, run_cell, seed_everything
from bench.suite import Cell
from bench.tasks import draw_task
from bench.training import classifier_config


def fitted(name: str, ds, shots: int, options, preset: str = "tiny", **overrides):
    cls = METHODS.get(name)
    task = draw_task(ds, shots, 0)
    seed_everything(0)
    ctx = MethodContext(torch.device("cpu"), 0, ds.image_shape, ds.num_classes, classifier_config("tiny"), options, ds)
    m = cls(cls.make_config(preset, overrides), ctx)
    m.fit(FitData(task.x, task.y, ds.classes, ds.image_shape, ds.family))
    return m, task


def test_low_rank_layers_match_their_dense_product_forward_and_backward():
    torch.manual_seed(0)
    lin = LowRankLinear(20, 12, rank=3)
    x = torch.randn(5, 20, requires_grad=True)
    out = lin(x)
    assert out.shape == (5, 12)
    torch.testing.assert_close(out, x @ (lin.U @ lin.V).T + lin.bias)
    conv = LowRankConv2d(4, 6, 4, rank=2, stride=2, padding=1)
    xi = torch.randn(3, 4, 8, 8, requires_grad=True)
    y = conv(xi)
    assert y.shape == (3, 6, 4, 4)
    dense = (conv.U @ conv.V.flatten(1)).view(6, 4, 4, 4)
    torch.testing.assert_close(y, F.conv2d(xi, dense, conv.bias, 2, 1), atol=1e-5, rtol=1e-4)
    (out.sum() + y.sum()).backward()
    assert xi.grad.shape == xi.shape and conv.U.grad.shape == (6, 2) and conv.V.grad.shape == (2, 4, 4, 4)
    assert count_parameters(conv) == 6 * 2 + 2 * 4 * 16 + 6 < 6 * 4 * 16 + 6
    assert LowRankLinear(3, 50, rank=8).rank == 3  # clipped to the smaller side


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_lrgan_has_far_fewer_parameters_than_gan_at_the_same_architecture(shape):
    gan, lrgan = METHODS.get("gan").make_config("standard"), METHODS.get("lrgan").make_config("standard")
    full = [count_parameters(m) for m in build_gan(gan, shape, 10, LayerFactory(), LayerFactory(spectral=True))]
    low = [count_parameters(m) for m in build_gan(gan, shape, 10, LayerFactory(lrgan.rank), LayerFactory(lrgan.rank, True))]
    assert sum(low) < 0.33 * sum(full), (low, full)  # rank 16 (version 2): 0.21-0.30
    g, d = build_gan(gan, shape, 10, LayerFactory(lrgan.rank), LayerFactory(lrgan.rank))
    assert g(torch.randn(2, gan.z_dim), torch.tensor([0, 9])).shape == (2, *shape)


def test_lrgan_records_its_counts_next_to_the_full_rank_ones(digits, options):
    m, _ = fitted("lrgan", digits, 2, options)
    d = m.details()
    assert d["params_g"] < d["full_rank_params_g"] and d["params_d"] < d["full_rank_params_d"]
    gan, _ = fitted("gan", digits, 2, options)
    assert (gan.details()["params_g"], gan.details()["params_d"]) == (d["full_rank_params_g"], d["full_rank_params_d"])


def _cell(method: str, shots: int, **overrides) -> Cell:
    return Cell("t", "digits", method, shots, 0, "tiny", overrides, "tiny", {}, 0)


def test_transfer_gan_fails_clearly_when_the_source_is_missing(options, monkeypatch):
    monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", "")  # no system-wide copies: the data root is empty
    rec = run_cell(_cell("transfer-gan", 1, source="mnist"), options)
    assert rec["status"] == "failed" and rec["error"]["type"] == "BenchError"
    assert "mnist" in rec["error"]["message"] and "--download" in rec["error"]["message"]
    assert not (options.cache_dir / "transfer-gan-source").exists()  # nothing trained on the target
    rec = run_cell(_cell("transfer-gan", 1, source="digits"), options)
    assert rec["status"] == "failed" and "is the target dataset itself" in rec["error"]["message"]


def _shapes_folder(root: Path) -> Path:
    """A 3-class 12×12 grey folder dataset (squares, bars, crosses) to serve as a source."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 4)):
        for c, name in enumerate(("square", "bar", "cross")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                img = np.zeros((12, 12), np.uint8)
                a, b = rng.integers(1, 5, 2)
                if c == 0:
                    img[a:a + 6, b:b + 6] = 255
                elif c == 1:
                    img[:, b + 2:b + 5] = 255
                else:
                    img[a + 3, :] = img[:, b + 3] = 255
                Image.fromarray(img).save(root / split / name / f"{i}.png")
    return root


def test_transfer_gan_pretrains_its_source_once_and_caches_it(options, tmp_path):
    source = f"folder:{_shapes_folder(tmp_path / 'shapes')}"
    before = transfer_gan.PRETRAIN_BUILDS
    a = run_cell(_cell("transfer-gan", 2, source=source), options)
    assert a["status"] == "ok", a["error"]
    assert a["details"]["source_model"] == "built" and a["details"]["n_source_images"] == 60
    files = list((options.cache_dir / "transfer-gan-source").glob("*.pt"))
    assert len(files) == 1
    b = run_cell(_cell("transfer-gan", 2, source=source), options)
    c = run_cell(_cell("transfer-gan", 1, source=source), options)
    assert transfer_gan.PRETRAIN_BUILDS == before + 1, "the second and third cell must reuse the source model"
    assert b["details"]["source_model"] == c["details"]["source_model"] == "loaded from cache"
    assert b["metrics"] == a["metrics"], "building or loading the source model must not change the result"
    assert c["status"] == "ok"


def test_gmm_at_one_shot_samples_around_each_class_image(digits, options):
    m, task = fitted("gmm", digits, 1, options)
    assert m.details()["components_per_class"] == [1] * 10
    x, y = m.generate(20)
    assert x.shape == (200, 1, 8, 8) and x.dtype == torch.uint8
    shots = task.x.flatten(1).float()
    d = torch.cdist(x.flatten(1).float(), shots)  # distance of each sample to each class's image
    assert (task.y[d.argmin(1)] == y).all()
    assert x.float().std() > 0 and len(torch.unique(x.flatten(1), dim=0)) == 200  # noise, not copies


def _nearest_mean_accuracy(x: torch.Tensor, y: torch.Tensor, ds) -> float:
    means = torch.stack([ds.train_x[ds.train_y == c].float().mean(0) for c in range(ds.num_classes)])
    return float((torch.cdist(x.flatten(1).float(), means.flatten(1)).argmin(1) == y).float().mean())


@pytest.mark.slow  # trains the quick preset: ~5 s on an idle core
def test_trained_gan_samples_are_closer_to_their_class_than_untrained(digits, options):
    m, _ = fitted("gan", digits, 10, options, preset="quick")
    trained = _nearest_mean_accuracy(*m.generate(30), digits)
    untrained, _ = fitted("gan", digits, 10, options, preset="quick", steps=1)
    before = _nearest_mean_accuracy(*untrained.generate(30), digits)
    assert trained >= 0.7 and trained > before + 0.4, (trained, before)


def test_diff_augment_is_differentiable_repeatable_and_shape_preserving():
    from bench.diffaugment import POLICIES, diff_augment

    x = torch.rand(6, 3, 8, 8, requires_grad=True)
    a = diff_augment(x, POLICIES, torch.Generator().manual_seed(1))
    b = diff_augment(x, POLICIES, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, POLICIES, torch.Generator().manual_seed(2)))
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    cut = diff_augment(torch.ones(4, 1, 8, 8), ("cutout",), torch.Generator().manual_seed(0))
    assert ((cut == 0).flatten(1).sum(1) > 0).all()  # every image lost a square
