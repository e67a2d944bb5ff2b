"""ae-pretrain: the pretrained trunk really lands in the classifier, and freezing really freezes."""

from __future__ import annotations

import torch

from bench.method import METHODS, FitData
from bench.runner import MethodContext
from bench.tasks import draw_task
from bench.training import classifier_config, make_classifier, train_classifier


def fitted(digits, options, **overrides):
    cls = METHODS.get("ae-pretrain")
    ctx = MethodContext(torch.device("cpu"), 0, digits.image_shape, 10, classifier_config("tiny"), options, digits)
    m = cls(cls.make_config("tiny", overrides), ctx)
    task = draw_task(digits, 2, 0)
    m.fit(FitData(task.x, task.y, digits.classes, digits.image_shape, digits.family, pool_x=task.pool_x))
    return m, task


def trunk(model):
    return [p.detach().clone() for p in model.features.parameters()]


def test_init_loads_pretrained_trunk_not_fresh_weights(digits, options):
    m, _ = fitted(digits, options)
    torch.manual_seed(1)
    fresh = make_classifier(digits.image_shape, 10, classifier_config("tiny"))
    torch.manual_seed(1)
    model = make_classifier(digits.image_shape, 10, classifier_config("tiny"))
    head_before = [p.detach().clone() for p in model.head.parameters()]
    m.init_classifier(model)
    assert any(not torch.equal(a, b) for a, b in zip(trunk(model), trunk(fresh), strict=True))
    for k, v in model.features.state_dict().items():
        assert torch.equal(v, m.trunk[k])
    assert all(torch.equal(a, b) for a, b in zip(head_before, model.head.parameters(), strict=True))
    d = m.details()
    assert d["recon_mse_final"] < d["recon_mse_first"], "10 autoencoder steps should lower the reconstruction error"


def _train(m, task, digits, snapshot_at):
    cfg = classifier_config("tiny")
    model = make_classifier(digits.image_shape, 10, cfg)
    m.init_classifier(model)
    start, snaps = trunk(model), {}

    def on_step(model, step, total):
        m.on_classifier_step(model, step, total)
        if step == snapshot_at:
            snaps["mid"] = trunk(model)

    train_classifier(model, task.x, task.y, cfg, seed=0, device=torch.device("cpu"), on_step=on_step)
    return start, snaps["mid"], trunk(model), model


def test_freeze_then_unfreeze(digits, options):
    m, task = fitted(digits, options, freeze_fraction=0.5)  # tiny classifier: 20 steps, trunk frozen for 10
    start, mid, end, model = _train(m, task, digits, snapshot_at=10)
    assert all(torch.equal(a, b) for a, b in zip(start, mid, strict=True)), "trunk moved while frozen"
    assert any(not torch.equal(a, b) for a, b in zip(start, end, strict=True)), "trunk never unfroze"


def test_head_only_keeps_trunk(digits, options):
    m, task = fitted(digits, options, freeze_fraction=1.0)
    start, _, end, model = _train(m, task, digits, snapshot_at=0)
    assert all(torch.equal(a, b) for a, b in zip(start, end, strict=True))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 128 * 10 + 10
