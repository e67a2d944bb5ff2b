"""Every registered method, tiny preset, through the real harness: it runs, its outputs have the
right shapes, dtypes and ranges, and the same seed gives the same result."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.method import METHODS, Capabilities, Method
from bench.runner import run_cell
from bench.suite import Cell
from bench.tasks import draw_task

ALL = METHODS.names()


def tiny_cell(method: str, shots: int = 2, seed: int = 0) -> Cell:
    return Cell("contract", "digits", method, shots, seed, "tiny", {}, "tiny", {}, 0)


@pytest.mark.parametrize("name", ALL)
def test_declares_protocol(name):
    cls = METHODS.get(name)
    assert issubclass(cls, Method) and cls.name == name
    assert {"tiny", "quick", "standard"} <= set(cls.presets)
    assert isinstance(cls.capabilities, Capabilities)
    assert isinstance(cls.version, str) and cls.version
    for preset in cls.presets:
        cfg = cls.make_config(preset)
        assert dataclasses.is_dataclass(cfg)
        with pytest.raises(dataclasses.FrozenInstanceError):
            for f in dataclasses.fields(cfg):
                setattr(cfg, f.name, getattr(cfg, f.name))
            raise dataclasses.FrozenInstanceError  # configs without fields are trivially frozen


@pytest.mark.parametrize("name", ALL)
def test_runs_and_is_deterministic(name, shared_options):
    a = run_cell(tiny_cell(name), shared_options)
    assert a["status"] == "ok", a["error"] and a["error"]["traceback"]
    acc = a["metrics"]["accuracy"]
    assert 0.0 <= acc <= 1.0
    assert len(a["metrics"]["per_class_accuracy"]) == 10
    b = run_cell(tiny_cell(name), shared_options)
    assert b["metrics"] == a["metrics"], "same cell, same seed must give the same metrics"
    assert a["task"]["labelled_fingerprint"] == b["task"]["labelled_fingerprint"]
    # cost column: whatever a method fits itself is counted (None only when it fits nothing)
    caps = METHODS.get(name).capabilities
    fits_a_model = caps.own_classifier or caps.uses_pool or caps.uses_source or (
        caps.generates and not caps.returns_real_images)
    params = a["cost"]["method_trainable_params"]
    assert (isinstance(params, int) and params > 0) if fits_a_model else params is None, params


def fit_and_generate(name: str, ds, shots: int, per_class: int, options) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit the method's tiny preset on a ``shots``-per-class draw of ``ds`` and generate ``per_class``
    images per class, without the harness (so no image metrics)."""
    from bench.method import FitData
    from bench.runner import MethodContext
    from bench.training import classifier_config

    cls = METHODS.get(name)
    task = draw_task(ds, shots, 0)
    ctx = MethodContext(torch.device("cpu"), 0, ds.image_shape, 10, classifier_config("tiny"), options, ds)
    m = cls(cls.make_config("tiny"), ctx)
    m.fit(FitData(task.x, task.y, ds.classes, ds.image_shape, ds.family,
                  pool_x=task.pool_x if cls.capabilities.uses_pool else None))
    return m.generate(per_class)


@pytest.mark.parametrize("name", [n for n in ALL if METHODS.get(n).capabilities.generates])
def test_generated_images_shape_dtype_labels(name, options, digits):
    x, y = fit_and_generate(name, digits, shots=2, per_class=3, options=options)
    assert x.dtype == torch.uint8 and tuple(x.shape) == (30, *digits.image_shape)
    assert y.dtype == torch.int64 and sorted(torch.bincount(y, minlength=10).tolist()) == [3] * 10


@pytest.mark.parametrize("name", ALL)
def test_runs_on_28x28_images(name, options, require_fashion_mnist):
    """The contract above runs on 8×8 digits, where the classifier's only conv has one input
    channel; at 28×28 the classifier has deeper, channels-last weights and the methods' own networks
    other shapes (``prune`` once failed only there). Every method fits at 28×28; those whose images
    feed the classifier directly run the whole cell, the generators produce labelled 28×28 images
    (their image metrics need the Fashion-MNIST reference classifier, too slow to build here)."""
    from bench.datasets import load_dataset

    caps = METHODS.get(name).capabilities
    if not caps.generates or caps.returns_real_images:
        rec = run_cell(Cell("contract", "fashion-mnist", name, 1, 0, "tiny", {}, "tiny", {}, 200), options)
        assert rec["status"] == "ok", rec["error"] and rec["error"]["traceback"]
        assert 0.0 <= rec["metrics"]["accuracy"] <= 1.0
        return
    x, y = fit_and_generate(name, load_dataset("fashion-mnist", options.data_root), shots=1, per_class=2,
                            options=options)
    assert x.dtype == torch.uint8 and tuple(x.shape) == (20, 1, 28, 28)
    assert sorted(torch.bincount(y, minlength=10).tolist()) == [2] * 10


@pytest.mark.parametrize("name", [n for n in ALL if METHODS.get(n).augment_labelled is not None])
def test_label_aware_hook_outputs(name, options, digits):
    """augment_labelled: images of the batch's shape (uint8, or float in [0, 1]), targets that are
    probabilities over the classes, and the same seed gives the same batches."""
    from bench.method import FitData
    from bench.runner import MethodContext
    from bench.training import check_labelled, classifier_config

    cls = METHODS.get(name)
    task = draw_task(digits, 5, 0)

    def batches(seed):
        ctx = MethodContext(torch.device("cpu"), seed, digits.image_shape, 10, classifier_config("tiny"), options, digits)
        m = cls(cls.make_config("tiny"), ctx)
        m.fit(FitData(task.x, task.y, digits.classes, digits.image_shape, digits.family))
        return [m.augment_labelled(task.x, task.y, 10) for _ in range(3)]

    a, b = batches(0), batches(0)
    for (xa, ta), (xb, tb) in zip(a, b, strict=True):
        check_labelled((xa, ta), task.x.shape, 10)  # raises on a bad shape, range or target row
        assert xa.dtype == torch.uint8 or xa.dtype == torch.float32
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
        assert torch.allclose(ta.sum(1), torch.ones(len(ta)), atol=1e-5) and float(ta.min()) >= 0
    assert any(not torch.equal(x, task.x) for x, _ in a), "the tiny preset should change some batch"
