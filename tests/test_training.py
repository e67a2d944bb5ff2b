from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score

from bench.tasks import draw_task
from bench.training import CLASSIFIER_PRESETS, evaluate, make_classifier, model_predictor, train_classifier


def test_evaluate_matches_independent_accuracy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(257, 4, generator=gen)
    y = torch.randint(0, 4, (257,), generator=gen)
    r = evaluate(lambda xb: logits[xb.long().flatten()], torch.arange(257).view(-1, 1, 1, 1), y, 4, batch_size=50)
    pred = logits.argmax(1).numpy()
    assert r["accuracy"] == accuracy_score(y.numpy(), pred)
    for c in range(4):
        m = y.numpy() == c
        assert np.isclose(r["per_class_accuracy"][c], accuracy_score(y.numpy()[m], pred[m]))


def test_classifier_really_learns_digits(digits):
    """20 shots per class, the quick budget: far above chance (10 %) on the held-out test split."""
    task = draw_task(digits, 20, 0)
    cfg = CLASSIFIER_PRESETS["quick"]
    torch.manual_seed(0)
    model = make_classifier(digits.image_shape, 10, cfg)
    train_classifier(model, task.x, task.y, cfg, seed=0, device=torch.device("cpu"))
    acc = evaluate(model_predictor(model, torch.device("cpu")), task.test_x, task.test_y, 10)["accuracy"]
    assert acc > 0.8


def test_real_fraction_mixes_extra_data(digits):
    """With real_fraction=0 every batch comes from the extra set: labels seen are only extra's."""
    task = draw_task(digits, 1, 0)
    seen = []
    model = make_classifier(digits.image_shape, 10, CLASSIFIER_PRESETS["tiny"])

    def spy(xb):
        seen.append(xb.clone())
        return xb

    extra = (torch.zeros(5, 1, 8, 8, dtype=torch.uint8), torch.zeros(5, dtype=torch.int64))
    train_classifier(model, task.x, task.y, CLASSIFIER_PRESETS["tiny"], seed=0, device=torch.device("cpu"),
                     augment=spy, extra=extra, real_fraction=0.0)
    assert all(int(b.max()) == 0 for b in seen)  # only the all-black extra images
