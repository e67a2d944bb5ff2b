"""pseudo-label: it records counts and true accuracy (checked independently), and what it hands
the classifier comes from the labelled set and the pool only — never from the test split."""

from __future__ import annotations

import torch

from bench.cell_checks import pool_label_scorer
from bench.method import METHODS, FitData
from bench.runner import MethodContext, run_cell
from bench.suite import Cell
from bench.tasks import draw_task
from bench.training import classifier_config


def fitted(digits, options, clf=None, **overrides):
    cls = METHODS.get("pseudo-label")
    task = draw_task(digits, 3, 0)
    clf_cfg = classifier_config("tiny", {"steps": 150, **(clf or {})})
    ctx = MethodContext(torch.device("cpu"), 0, digits.image_shape, 10, clf_cfg, options, digits,
                        score_pool_labels=pool_label_scorer(task))
    m = cls(cls.make_config("tiny", overrides), ctx)
    m.fit(FitData(task.x, task.y, digits.classes, digits.image_shape, digits.family, pool_x=task.pool_x))
    return m, task


def test_counts_and_true_accuracy(digits, options):
    m, task = fitted(digits, options, rounds=2, threshold=0.3, n_per_class=20)
    d = m.details()
    assert len(d["rounds"]) == 2
    for r in d["rounds"]:
        assert 0 <= r["kept"] <= r["accepted"] <= 300
        assert sum(r["kept_per_class"]) == r["kept"] and max(r["kept_per_class"]) <= 20
    assert d["pseudo_labels_used"] == len(m.kept_y) > 0
    independent = float((task.pool_y_hidden[m.kept_pos] == m.kept_y).float().mean())
    assert 0.0 <= d["pseudo_label_true_accuracy"] <= 1.0
    assert abs(d["pseudo_label_true_accuracy"] - independent) < 1e-4
    assert torch.equal(task.pool_x[m.kept_pos], m.kept_x)


def test_threshold_one_accepts_almost_nothing_and_falls_back(digits, options):
    m, _ = fitted(digits, options, threshold=1.0)
    x, y = m.generate(4)
    assert x.shape == (40, *digits.image_shape) and torch.bincount(y, minlength=10).tolist() == [4] * 10
    assert m.details()["pseudo_labels_used"] == len(m.kept_y)
    assert set(m.details()["classes_without_pseudo_labels"]) == set(range(10)) - set(m.kept_y.tolist())


def test_threshold_is_relative_to_the_label_smoothing_ceiling(digits, options):
    """With label smoothing 0.1 on 10 classes the highest target probability is 0.91: threshold 0.9
    accepts at 0.9 · 0.91 = 0.819, and exactly the pool images whose softmax reaches that."""
    m, _ = fitted(digits, options, clf={"label_smoothing": 0.1}, threshold=0.9, n_per_class=300)
    assert abs(m.details()["threshold_absolute"] - 0.819) < 1e-9
    plain, _ = fitted(digits, options, threshold=0.9)
    assert plain.details()["threshold_absolute"] == 0.9
    # the same smoothed classifier (same seed) with the absolute bar at 0.9 accepts fewer images
    strict, _ = fitted(digits, options, clf={"label_smoothing": 0.1}, threshold=0.9 / 0.91, n_per_class=300)
    assert abs(strict.details()["threshold_absolute"] - 0.9) < 1e-9
    first = [f.details()["rounds"][0]["accepted"] for f in (m, strict)]
    assert first[0] > first[1] > 0


def test_generated_images_come_from_pool_or_shots_never_test(digits, options):
    m, task = fitted(digits, options, threshold=0.2)
    x, _ = m.generate(5)
    allowed = {bytes(r.numpy()) for r in torch.cat([task.pool_x, task.x]).flatten(1)}
    test_only = {bytes(r.numpy()) for r in task.test_x.flatten(1)} - allowed
    rows = [bytes(r.numpy()) for r in x.flatten(1)]
    assert all(r in allowed for r in rows) and not any(r in test_only for r in rows)


def test_record_carries_pseudo_label_stats(options):
    rec = run_cell(Cell("pl", "digits", "pseudo-label", 2, 0, "tiny", {}, "tiny", {}, 0), options)
    assert rec["status"] == "ok", rec["error"]
    acc = rec["details"]["pseudo_label_true_accuracy"]
    assert acc is None or 0.0 <= acc <= 1.0
    assert rec["cost"]["method_trainable_params"] > 0


def test_gmm_labeller(digits, options):
    m, task = fitted(digits, options, labeller="gmm", threshold=0.5, n_per_class=10)
    r = m.details()["rounds"][0]
    assert r["accepted"] > 0 and 0.0 <= r["kept_true_accuracy"] <= 1.0
    independent = float((task.pool_y_hidden[m.kept_pos] == m.kept_y).float().mean())
    assert abs(r["kept_true_accuracy"] - independent) < 1e-4
