"""The classifier recipe settings (issue 28): schedules against torch's own, the weight average,
BatchNorm, label smoothing, bad values refused, and the old recipe's cell keys unchanged."""

from __future__ import annotations

import pytest
import torch

from bench.errors import BenchError
from bench.nets import to_input
from bench.training import (
    ClassifierConfig,
    WeightAverage,
    classifier_key,
    lr_schedule,
    make_classifier,
    train_classifier,
)


def test_default_recipe_keeps_old_cell_keys():
    """Records written before the recipe fields existed keep their keys: at their defaults the new
    fields are not part of the classifier key."""
    key = classifier_key(ClassifierConfig(steps=4800))
    assert set(key) == {"steps", "batch_size", "lr", "weight_decay", "width", "dropout", "eval_batch_size"}
    assert "schedule" in classifier_key(ClassifierConfig(schedule="cosine"))


@pytest.mark.parametrize("warmup", [0.0, 0.25])
def test_onecycle_is_torchs_onecycle(warmup):
    total, lr = 97, 3e-3
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=warmup or 0.3,
                                              cycle_momentum=False)
    want = []
    for _ in range(total):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    got = lr_schedule(ClassifierConfig(lr=lr, schedule="onecycle", warmup=warmup), total)
    assert [got(s) for s in range(total)] == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_cosine_warms_up_then_decays_to_zero():
    f = lr_schedule(ClassifierConfig(lr=1.0, schedule="cosine", warmup=0.1), 100)
    lrs = [f(s) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and max(lrs) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False)) and lrs[-1] < 1e-3
    assert lr_schedule(ClassifierConfig(), 100) is None  # constant: the optimizer's own lr


@pytest.mark.parametrize("bad", [{"schedule": "step"}, {"optimizer": "lion"}, {"norm": "layer"}, {"ema": 1.0},
                                 {"warmup": -0.1}, {"label_smoothing": 1.5}])
def test_bad_recipe_values_are_refused(bad):
    with pytest.raises(BenchError, match="classifier:"):
        ClassifierConfig(**bad)


def _data(n=40):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(n) % 4


def test_weight_average_is_what_is_scored():
    x, y = _data()
    cfg = ClassifierConfig(steps=30, width=4, batch_size=8, ema=0.9)
    torch.manual_seed(0)
    model = make_classifier((1, 8, 8), 4, cfg)
    seen = {}
    orig = WeightAverage.copy_to

    def spy(self, m):
        seen.update({k: v.clone() for k, v in self.shadow.items()})
        orig(self, m)

    WeightAverage.copy_to = spy
    try:
        train_classifier(model, x, y, cfg, seed=1, device=torch.device("cpu"))
    finally:
        WeightAverage.copy_to = orig
    state = model.state_dict()
    assert seen and all(torch.equal(state[k], v) for k, v in seen.items())
    # and it differs from the last weights: the same run without the average ends elsewhere
    torch.manual_seed(0)
    plain = make_classifier((1, 8, 8), 4, ClassifierConfig(steps=30, width=4, batch_size=8))
    train_classifier(plain, x, y, ClassifierConfig(steps=30, width=4, batch_size=8), seed=1, device=torch.device("cpu"))
    assert not torch.equal(plain.state_dict()["head.1.weight"], state["head.1.weight"])


def test_batchnorm_recipe_trains_and_is_deterministic():
    x, y = _data()
    cfg = ClassifierConfig(steps=25, width=4, batch_size=8, norm="batch", schedule="onecycle", label_smoothing=0.1,
                           optimizer="sgd", lr=0.05, ema=0.9)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = make_classifier((1, 8, 8), 4, cfg)
        assert any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
        r = train_classifier(m, x, y, cfg, seed=3, device=torch.device("cpu"))
        assert torch.isfinite(torch.tensor(r["final_loss"]))
        outs.append(m(to_input(x)))
    assert torch.equal(outs[0], outs[1])


def test_loss_scale_under_sgd_equals_a_scaled_learning_rate():
    """``loss_scale`` multiplies the minimised loss: without weight decay, SGD with momentum then takes
    exactly the steps of lr × scale (what distill-quant's T² relies on), while the reported loss is
    unscaled."""
    x, y = _data()
    base = dict(steps=15, width=4, batch_size=8, optimizer="sgd", schedule="constant", weight_decay=0.0, dropout=0.0)
    outs, losses = [], []
    for lr, scale in ((0.04, 1.0), (0.01, 4.0), (0.01, 1.0)):
        torch.manual_seed(0)
        cfg = ClassifierConfig(lr=lr, **base)
        m = make_classifier((1, 8, 8), 4, cfg)
        losses.append(train_classifier(m, x, y, cfg, seed=3, device=torch.device("cpu"), loss_scale=scale)["final_loss"])
        outs.append(m(to_input(x)).detach())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert not torch.allclose(outs[1], outs[2], atol=1e-3)
