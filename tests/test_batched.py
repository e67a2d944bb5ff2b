"""Several classifiers in one loop (bench/batched.py): the stacked network computes each model's
function, stacked training gives each model what training it alone gives (to float rounding when
dropout is off), and results come back into the models."""

from __future__ import annotations

import pytest
import torch

from bench.batched import Job, train_stacked
from bench.errors import BenchError
from bench.nets import to_input
from bench.nets.stacked import StackedCNN
from bench.tasks import draw_task
from bench.training import classifier_config, evaluate, make_classifier, model_predictor, train_classifier


def models(shape, k, cfg, seed=0):
    out = []
    for i in range(k):
        torch.manual_seed(seed + i)
        out.append(make_classifier(shape, 10, cfg))
    return out


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_stacked_forward_is_each_models_forward(norm):
    cfg = classifier_config("tiny", {"norm": norm})
    ms = models((1, 28, 28), 3, cfg)
    for m in ms:  # non-trivial BatchNorm statistics
        for b in m.modules():
            if isinstance(b, torch.nn.BatchNorm2d):
                b.running_mean.uniform_(-0.5, 0.5)
                b.running_var.uniform_(0.5, 2.0)
        m.eval()
    net = StackedCNN(ms).eval()
    xs = [torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8) for _ in ms]
    out = net(torch.cat([to_input(x) for x in xs], dim=1))
    assert out.shape == (5, 3, 10)
    for k, (m, x) in enumerate(zip(ms, xs, strict=True)):
        torch.testing.assert_close(out[:, k], m(to_input(x)), atol=1e-5, rtol=1e-5)


def test_architectures_must_match():
    a = make_classifier((1, 8, 8), 10, classifier_config("tiny"))
    b = make_classifier((1, 8, 8), 10, classifier_config("tiny", {"width": 16}))
    with pytest.raises(ValueError, match="differ in architecture"):
        StackedCNN([a, b])


def test_stacked_training_equals_one_at_a_time_without_dropout(digits):
    """Dropout off, the protocol's recipe (SGD one-cycle, BatchNorm, label smoothing): after 40
    steps each stacked model's weights and BN statistics equal those of training it alone."""
    cfg = classifier_config("standard", {"steps": 40, "width": 8, "dropout": 0.0})
    tasks = [draw_task(digits, shots, seed) for shots, seed in ((3, 0), (5, 1), (3, 2))]
    jobs = [Job(t.x, t.y, seed=100 + i) for i, t in enumerate(tasks)]
    alone, stacked = models(digits.image_shape, 3, cfg), models(digits.image_shape, 3, cfg)
    for m, j in zip(alone, jobs, strict=True):
        train_classifier(m, j.x, j.y, cfg, seed=j.seed, device=torch.device("cpu"))
    out = train_stacked(stacked, jobs, cfg, torch.device("cpu"))
    assert [o["steps"] for o in out] == [40] * 3
    for a, s in zip(alone, stacked, strict=True):
        sa, ss = a.state_dict(), s.state_dict()
        assert sa.keys() == ss.keys()
        for name in sa:
            torch.testing.assert_close(ss[name], sa[name], atol=2e-4, rtol=1e-3, msg=name)
        assert not s.training


def test_stacked_training_with_dropout_learns_like_training_alone(digits):
    """With dropout the masks differ, so weights differ; accuracy over four draws stays close."""
    cfg = classifier_config("standard", {"steps": 150, "width": 8})
    tasks = [draw_task(digits, 5, seed) for seed in range(4)]
    jobs = [Job(t.x, t.y, seed=t_i) for t_i, t in enumerate(tasks)]
    alone, stacked = models(digits.image_shape, 4, cfg), models(digits.image_shape, 4, cfg)
    torch.manual_seed(0)
    for m, j in zip(alone, jobs, strict=True):
        train_classifier(m, j.x, j.y, cfg, seed=j.seed, device=torch.device("cpu"))
    train_stacked(stacked, jobs, cfg, torch.device("cpu"))
    cpu = torch.device("cpu")
    acc = [[evaluate(model_predictor(m, cpu), t.test_x, t.test_y, 10)["accuracy"] for m, t in zip(ms, tasks, strict=True)]
           for ms in (alone, stacked)]
    assert min(acc[1]) > 0.6
    assert abs(sum(acc[0]) / 4 - sum(acc[1]) / 4) < 0.03, acc


def test_unequal_budgets_are_refused(digits):
    cfg = classifier_config("tiny", {"epochs": 2.0})
    t3, t5 = draw_task(digits, 3, 0), draw_task(digits, 5, 0)
    with pytest.raises(BenchError, match="different step counts"):
        train_stacked(models(digits.image_shape, 2, cfg), [Job(t3.x, t3.y, 0), Job(t5.x, t5.y, 0)], cfg,
                      torch.device("cpu"))
