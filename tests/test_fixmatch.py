"""FixMatch: its augmentations (weak respects the dataset family, strong is per image and
reproducible), its settings checks, and what it records."""

from __future__ import annotations

import pytest
import torch
from bench.methods.fixmatch import StrongAugment, cutout, weak_augment

from bench.errors import BenchError
from bench.method import METHODS


def batch(n: int = 32, size: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)


def test_weak_augment_flips_only_where_allowed_and_shifts_within_bounds():
    x = batch()
    g = torch.Generator().manual_seed(1)
    same = weak_augment(x, flip=False, translate=0.0, gen=g)
    assert torch.equal(same, x)
    flipped = weak_augment(x, flip=True, translate=0.0, gen=g)
    is_flip = torch.tensor([torch.equal(a, b.flip(-1)) for a, b in zip(flipped, x, strict=True)])
    is_same = torch.tensor([torch.equal(a, b) for a, b in zip(flipped, x, strict=True)])
    assert bool((is_flip | is_same).all()) and 0 < int(is_flip.sum()) < len(x)
    shifted = weak_augment(x, flip=False, translate=0.25, gen=g)  # up to 3 px on 12 px
    assert shifted.dtype == torch.uint8 and shifted.shape == x.shape
    padded = torch.nn.functional.pad(x.float(), (3, 3, 3, 3), mode="reflect").to(torch.uint8)
    for a, p in zip(shifted, padded, strict=True):  # every output is one window of the padded image
        assert any(torch.equal(a, p[:, i:i + 12, j:j + 12]) for i in range(7) for j in range(7))
    assert not torch.equal(shifted, x)


def test_cutout_paints_one_grey_square_no_larger_than_allowed():
    x = torch.zeros(64, 1, 20, 20, dtype=torch.uint8)
    out = cutout(x, 0.5, torch.Generator().manual_seed(0))
    painted = (out == 127).squeeze(1)
    assert painted.any(dim=(1, 2)).float().mean() > 0.9
    rows, cols = painted.any(2).sum(1), painted.any(1).sum(1)
    assert int(rows.max()) <= 11 and int(cols.max()) <= 11  # side ≤ 0.5 · 20, +1 for the centre's rounding
    assert torch.equal((out != 0).squeeze(1), painted)


def test_strong_augment_is_per_image_uint8_and_reproducible():
    x = batch(16).repeat(1, 1, 1, 1)
    x[:] = x[0]  # one image, 16 times: per-image draws must differ
    s = StrongAugment(10, 0.5)
    torch.manual_seed(3)
    a = s(x, torch.Generator().manual_seed(4))
    torch.manual_seed(3)
    b = s(x, torch.Generator().manual_seed(4))
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b)
    assert len({bytes(img.numpy()) for img in a}) > 8


@pytest.mark.parametrize("setting, value, message", [
    ("threshold", 1.5, "method 'fixmatch': threshold must be in (0, 1]"),
    ("mu", 0, "method 'fixmatch': mu must be an integer >= 1"),
    ("optimizer", "rmsprop", "method 'fixmatch': optimizer must be sgd or adam"),
    ("magnitude", 11, "method 'fixmatch': magnitude must be an integer in 1..10"),
    ("ema", 1.0, "method 'fixmatch': ema must be in [0, 1)"),
])
def test_bad_settings_are_refused(setting, value, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        METHODS.get("fixmatch").make_config("quick", {setting: value})


def test_records_mask_rate_and_pool_label_accuracy(shared_options):
    from bench.runner import run_cell
    from bench.suite import Cell

    rec = run_cell(Cell("t", "digits", "fixmatch", 3, 1000, "tiny", {"steps": 12, "threshold": 0.3}, "tiny", {}, 0),
                   shared_options)
    assert rec["status"] == "ok", rec["error"]
    d = rec["details"]
    assert 0.0 <= d["mask_rate_mean"] <= 1.0 and 0.0 <= d["pool_mask_rate"] <= 1.0
    assert 0.0 <= d["pool_label_accuracy"] <= 1.0 and d["pool_used"] == 200
    assert d["weak_flip"] is False  # digits are handwriting: never flipped
    assert rec["classifier"] is None and rec["method"]["capabilities"]["uses_pool"]
    # the learning curve: every tenth of training, the averaged model's pool-label accuracy on a
    # fixed probe slice, and the mask rate over that tenth; the last point is at the final step
    curve = d["curve_step_poolacc_mask"]
    assert [p[0] for p in curve] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert all(0.0 <= acc <= 1.0 and 0.0 <= m <= 1.0 for _, acc, m in curve)


@pytest.mark.parametrize("weak_eval", [True, False])
def test_both_pseudo_label_passes_train_and_differ(shared_options, weak_eval):
    """weak_eval (a no-grad, dropout-off pass for the weak views) and the paper's single training
    pass both run; with the same seed they train differently (dropout changes the pseudo-labels)."""
    from bench.runner import run_cell
    from bench.suite import Cell

    recs = [run_cell(Cell("t", "digits", "fixmatch", 3, 1000, "tiny", {"steps": 10, "threshold": 0.2, "weak_eval": w},
                          "tiny", {}, 0), shared_options) for w in (weak_eval, not weak_eval)]
    assert all(r["status"] == "ok" for r in recs), [r["error"] for r in recs]
    assert recs[0]["details"]["final_loss"] != recs[1]["details"]["final_loss"]


def test_weight_average_carries_batchnorm_statistics(options):
    """With a BatchNorm classifier the scored (averaged) model's running statistics are the
    training run's, not the initial mean 0 / var 1 (version 2 averaged parameters only)."""
    from bench.datasets import load_dataset
    from bench.method import FitData
    from bench.runner import MethodContext, seed_everything
    from bench.tasks import draw_task
    from bench.training import classifier_config

    ds = load_dataset("digits", options.data_root)
    task = draw_task(ds, 3, 0)
    seed_everything(0)
    clf = classifier_config("tiny", {"norm": "batch"})
    ctx = MethodContext(torch.device("cpu"), 0, ds.image_shape, ds.num_classes, clf, options, ds)
    cls = METHODS.get("fixmatch")
    fit = FitData(task.x, task.y, ds.classes, ds.image_shape, ds.family, pool_x=task.pool_x)
    plain = cls(cls.make_config("tiny", {"steps": 2}), ctx)
    plain.fit(fit)
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in plain.model.modules()), \
        "version 4: no BatchNorm by default, whatever the classifier recipe"
    m = cls(cls.make_config("tiny", {"steps": 6, "ema": 0.5, "norm": "batch"}), ctx)
    m.fit(fit)
    bns = [mod for mod in m.model.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    assert bns, "norm='batch' gives BatchNorm layers"
    assert all(int(b.num_batches_tracked) > 0 for b in bns)
    assert all(not torch.allclose(b.running_mean, torch.zeros_like(b.running_mean)) for b in bns)
