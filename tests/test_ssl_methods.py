"""ssl-gan and ssl-vae: bad settings are refused in one line, the same seed gives the same
classifier, they learn from 5 shots + the pool, and M2's unlabelled loss matches an independent
sum over classes."""

from __future__ import annotations

import pytest
import torch
from bench.methods.ssl_gan import discriminator_loss, lr_factor
from bench.methods.ssl_vae import unlabelled_loss
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence

from bench.cell_checks import pool_label_scorer
from bench.errors import BenchError
from bench.method import METHODS, FitData
from bench.nets import VAEM2
from bench.runner import MethodContext
from bench.tasks import draw_task
from bench.training import classifier_config


@pytest.mark.parametrize("name, overrides, words", [
    ("ssl-gan", {"steps": 0}, "steps"),
    ("ssl-gan", {"lr": -1.0}, "lr"),
    ("ssl-gan", {"decay_from": 1.5}, "decay_from"),
    ("ssl-gan", {"hidden_noise": -0.1}, "hidden_noise"),
    ("ssl-gan", {"d_hidden": ()}, "d_hidden"),
    ("ssl-gan", {"pool_size": -1}, "pool_size"),
    ("ssl-vae", {"alpha": -0.1}, "alpha"),
    ("ssl-vae", {"batch_size": 0}, "batch_size"),
    ("ssl-vae", {"m1": "yes"}, "m1"),
    ("ssl-vae", {"m1_lr": 0.0}, "m1_lr"),
    ("ssl-vae", {"hidden": (0,)}, "hidden"),
])
def test_bad_settings_refused_in_one_line(name, overrides, words):
    with pytest.raises(BenchError) as err:
        METHODS.get(name).make_config("tiny", overrides)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith((f"{name}: ", f"method {name!r}")) and words in msg


def fit(name, digits, options, shots=2, seed=0, **overrides):
    cls = METHODS.get(name)
    task = draw_task(digits, shots, 1000)
    ctx = MethodContext(torch.device("cpu"), seed, digits.image_shape, 10, classifier_config("tiny"), options, digits,
                        score_pool_labels=pool_label_scorer(task))
    m = cls(cls.make_config("tiny", overrides), ctx)
    m.fit(FitData(task.x, task.y, digits.classes, digits.image_shape, digits.family, pool_x=task.pool_x))
    return m, task


@pytest.mark.parametrize("name, overrides", [("ssl-gan", {}), ("ssl-vae", {}), ("ssl-vae", {"m1": True})])
def test_same_seed_same_predictions_other_seed_differs(name, overrides, digits, options):
    a, task = fit(name, digits, options, seed=5, **overrides)
    torch.manual_seed(123)  # the global RNG must not matter: everything comes from ctx.seed
    b, _ = fit(name, digits, options, seed=5, **overrides)
    c, _ = fit(name, digits, options, seed=6, **overrides)
    x = task.test_x[:200]
    pa, pb, pc = a.predictor()(x), b.predictor()(x), c.predictor()(x)
    assert pa.shape == (200, 10) and pa.dtype == torch.float32
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)


@pytest.mark.parametrize("name, overrides", [
    # about 10 s each on one idle core; chance is 0.1
    ("ssl-gan", {"steps": 300, "batch_size": 32, "d_hidden": (128, 64), "g_hidden": (64,), "pool_size": 0}),
    ("ssl-vae", {"steps": 300, "batch_size": 32, "z_dim": 16, "hidden": (128,), "lr": 3e-3, "pool_size": 0}),
])
def test_learns_from_five_shots_and_the_pool(name, overrides, digits, options):
    m, task = fit(name, digits, options, shots=5, **overrides)
    preds = m.predictor()(task.test_x).argmax(1)
    accuracy = float((preds == task.test_y).float().mean())
    assert accuracy > 0.5, accuracy
    d = m.details()
    assert d["pool_label_accuracy"] > 0.5, d
    assert d["pool_images"] == len(task.pool_x)
    assert 0 < d["model_params"] < d["trainable_params"]
    assert d["model_bytes"] >= 4 * d["model_params"]  # float32 weights of the predicting model, serialized


def test_m2_unlabelled_loss_is_the_explicit_sum_over_classes():
    torch.manual_seed(0)
    model = VAEM2(12, 4, z_dim=3, hidden=(8,)).double()
    x = torch.rand(5, 12, dtype=torch.float64)
    eps = torch.randn(4, 5, 3, dtype=torch.float64)
    got = unlabelled_loss(model, x, eps)
    q = Categorical(logits=model.classifier(x))
    want = -q.entropy()
    for c in range(4):  # −ELBO(x, y=c) from torch.distributions, one class at a time
        y1h = torch.nn.functional.one_hot(torch.full((5,), c), 4).double()
        mu, logvar = model.encoder(torch.cat([x, y1h], 1)).chunk(2, 1)
        logvar = logvar.clamp(-10, 10)
        std = (0.5 * logvar).exp()
        z = mu + std * eps[c]
        px = Bernoulli(logits=model.decoder(torch.cat([z, y1h], 1)), validate_args=False)  # grey levels
        kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(1)
        neg_elbo = -px.log_prob(x).sum(1) + kl - torch.log(torch.tensor(0.25, dtype=torch.float64))
        want = want + q.probs[:, c] * neg_elbo
    assert got.shape == (5,)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_ssl_gan_loss_is_the_paper_k_plus_one_loss():
    """With the fake logit fixed at 0, the unsupervised term equals ½·[−log D(x_unl) − log(1 − D(G(z)))],
    D = Z/(Z+1), computed here from an explicit (K+1)-way softmax."""
    torch.manual_seed(1)
    l_lab, l_unl, l_fake = torch.randn(6, 10), torch.randn(7, 10) * 3, torch.randn(8, 10) * 3
    y = torch.randint(10, (6,))
    total, sup, unsup = discriminator_loss(l_lab, y, l_unl, l_fake, unsup_weight=2.0)
    def p_fake(logits):
        return torch.cat([logits, torch.zeros(len(logits), 1)], 1).softmax(1)[:, -1]

    want = 0.5 * (-torch.log(1 - p_fake(l_unl)).mean() - torch.log(p_fake(l_fake)).mean())
    torch.testing.assert_close(unsup, want)
    torch.testing.assert_close(total, sup + 2.0 * want)
    assert lr_factor(0, 100, 0.5) == 1.0 and lr_factor(75, 100, 0.5) == 0.5 and lr_factor(100, 100, 0.5) == 0.0


@pytest.mark.parametrize("name", ["ssl-gan", "ssl-vae"])
def test_non_finite_loss_raises_a_clear_error(name, digits, options):
    with pytest.raises(BenchError, match=rf"^{name}: the .* loss became (nan|inf|-inf) at step \d+; lower lr"):
        fit(name, digits, options, lr=1e30, steps=20)


@pytest.mark.parametrize("name", ["ssl-gan", "ssl-vae", "fixmatch"])
def test_empty_pool_refused_in_one_line(name, digits, options):
    cls = METHODS.get(name)
    task = draw_task(digits, 2, 1000)
    ctx = MethodContext(torch.device("cpu"), 0, digits.image_shape, 10, classifier_config("tiny"), options, digits)
    m = cls(cls.make_config("tiny", {}), ctx)
    with pytest.raises(BenchError, match=rf"^{name}: the unlabelled pool is empty; it needs unlabelled images$"):
        m.fit(FitData(task.x, task.y, digits.classes, digits.image_shape, digits.family, pool_x=task.pool_x[:0]))
