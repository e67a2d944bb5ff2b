"""Filtering generated images by a judge trained on the shots (bench.sample_filter)."""

from __future__ import annotations

import pytest
import torch

from bench.errors import BenchError
from bench.runner import run_cell
from bench.sample_filter import filter_samples
from bench.suite import Cell
from bench.tasks import derive_seed, draw_task
from bench.training import classifier_config


def _judge_args(ds, task, shots, seed):
    return dict(device=torch.device("cpu"), init_seed=derive_seed("classifier", ds.hash, shots, seed),
                batch_seed=derive_seed("batches", ds.hash, shots, seed))


def test_the_judge_is_the_cells_baseline_classifier(digits, options):
    """Judging the test split with a threshold that keeps everything, the judge's agreement with
    the labels is the accuracy the cell's baseline record reports: the same network."""
    shots, seed = 5, 0
    rec = run_cell(Cell("t", "digits", "baseline", shots, seed, "tiny", {}, "tiny", {}, 0), options)
    task = draw_task(digits, shots, seed, 0)
    _, info = filter_samples(task.test_x, task.test_y, task.x, task.y, digits.num_classes, digits.image_shape,
                             classifier_config("tiny", {}), 1e-9, **_judge_args(digits, task, shots, seed))
    assert info["kept"] == len(task.test_y)
    assert info["judge_agrees"] == pytest.approx(rec["metrics"]["accuracy"], abs=1e-4)


def test_higher_confidence_keeps_a_subset_and_wrong_labels_are_rejected(digits):
    shots, seed = 10, 1
    task = draw_task(digits, shots, seed, 0)
    cfg = classifier_config("tiny", {"steps": 200})
    args = (task.x, task.y, digits.num_classes, digits.image_shape, cfg)
    xs, ys = task.test_x[:500], task.test_y[:500]
    (x_lo, _), lo = filter_samples(xs, ys, *args, 0.3, **_judge_args(digits, task, shots, seed))
    (x_hi, _), hi = filter_samples(xs, ys, *args, 0.8, **_judge_args(digits, task, shots, seed))
    assert hi["kept"] < lo["kept"] <= 500
    lo_rows = {bytes(r.numpy()) for r in x_lo.flatten(1)}
    assert all(bytes(r.numpy()) in lo_rows for r in x_hi.flatten(1))
    wrong = (ys + 1) % digits.num_classes  # every label wrong: the judge should reject most
    _, bad = filter_samples(xs, wrong, *args, 0.3, **_judge_args(digits, task, shots, seed))
    assert bad["kept"] < lo["kept"] / 3
    assert sum(lo["kept_per_class"]) == lo["kept"] and sum(lo["generated_per_class"]) == 500


def test_a_filtered_generator_cell_records_what_it_kept(digits, options):
    cell = Cell("t", "digits", "gmm", 5, 0, "tiny", {"filter_confidence": 0.11}, "tiny", {}, 0)
    rec = run_cell(cell, options)
    assert rec["status"] == "ok", rec["error"]
    f = rec["details"]["filter"]
    assert 0 < f["kept"] <= f["generated"] == 10 * rec["method"]["config"]["n_per_class"]
    assert rec["timings"]["filter_s"] > 0
    plain = run_cell(Cell("t", "digits", "gmm", 5, 0, "tiny", {}, "tiny", {}, 0), options)
    assert "filter" not in plain["details"] and plain["key"] != rec["key"]
    # the generator's own metrics judge its full sample, filtered or not
    assert rec["metrics"]["fid_domain"] == pytest.approx(plain["metrics"]["fid_domain"])


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_filter_confidence_out_of_range_is_refused(bad):
    from bench.method import METHODS

    with pytest.raises(BenchError, match="filter_confidence"):
        METHODS.get("gan").make_config("tiny", {"filter_confidence": bad})


def test_filter_confidence_stays_out_of_the_cell_key_when_off():
    """Records made before the setting existed keep their keys; a filtered cell keys apart."""
    from bench.method import METHODS, config_dict, key_config

    off, on = METHODS.get("vae").make_config("tiny"), METHODS.get("vae").make_config("tiny", {"filter_confidence": 0.5})
    assert "filter_confidence" not in key_config(off) and "filter_confidence" in config_dict(off)
    assert key_config(on)["filter_confidence"] == 0.5
