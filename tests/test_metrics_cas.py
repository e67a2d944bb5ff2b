"""Classification Accuracy Score on digits with a tiny downstream classifier: real images used as
"generated" score high, uniform noise scores chance, the same seed gives the same value."""

from __future__ import annotations

import pytest
import torch

from bench.errors import BenchError
from bench.metrics.cas import classification_accuracy_score
from bench.tasks import draw_task
from bench.training import ClassifierConfig

CFG = ClassifierConfig(steps=60, width=8, batch_size=32)


@pytest.fixture(scope="module")
def task(digits):
    return draw_task(digits, 5, 1000)


def noise_images(task, n_per_class: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    k = task.dataset.num_classes
    x = torch.randint(0, 256, (n_per_class * k, *task.dataset.image_shape), generator=g, dtype=torch.uint8)
    return x, torch.arange(k).repeat_interleave(n_per_class)


def test_cas_of_real_training_images_is_high_and_of_noise_is_chance(task, digits):
    real = classification_accuracy_score(digits.train_x, digits.train_y, task, CFG)
    noise = classification_accuracy_score(*noise_images(task), task, CFG)
    assert real["cas"] > 0.7  # 1200 real labelled images, 60 steps of a width-8 CNN
    assert noise["cas"] < 0.2  # chance is 0.1 on the balanced test split
    assert real["n_train"] == 1200 and noise["n_train"] == 200
    assert real["n_test"] == len(task.test_y) == 597 and len(real["per_class_accuracy"]) == 10
    assert real["train_s"] > 0 and real["final_loss"] == real["final_loss"]  # not NaN


def test_cas_is_deterministic_and_leaves_the_global_rng_alone(task):
    x, y = task.x, task.y
    state = torch.get_rng_state()
    a = classification_accuracy_score(x, y, task, CFG)
    assert torch.equal(torch.get_rng_state(), state)
    b = classification_accuracy_score(x, y, task, CFG)
    a.pop("train_s"), b.pop("train_s")
    assert a == b


def test_cas_refuses_images_without_one_label_each(task):
    with pytest.raises(BenchError, match="one label each, got 50 images and 49 labels"):
        classification_accuracy_score(task.x, task.y[:-1], task, CFG)
    with pytest.raises(BenchError, match="got 0 images"):
        classification_accuracy_score(task.x[:0], task.y[:0], task, CFG)
