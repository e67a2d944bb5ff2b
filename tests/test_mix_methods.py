"""The label-aware hook (``augment_labelled``) and the methods built on it: mixup, cutmix, paste.

Each method's outputs are checked against values the test computes itself from images whose
pixels say where they came from (one distinct grey level per image)."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.method import METHODS
from bench.nets import to_input
from bench.training import CLASSIFIER_PRESETS, check_labelled, make_classifier, model_predictor, train_classifier

ROOT = Path(__file__).resolve().parent.parent
K = 10


def method(name: str, seed: int = 0, **overrides):
    cls = METHODS.get(name)
    m = cls(cls.make_config("tiny", overrides), SimpleNamespace(seed=seed))
    m.fit(None)
    return m


def grey_batch(n: int = K, side: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is the constant 20·(i+1); labels 0..n-1, so targets name the partner."""
    x = torch.stack([torch.full((1, side, side), 20 * (i + 1), dtype=torch.uint8) for i in range(n)])
    return x, torch.arange(n)


def partner_of(t: torch.Tensor, i: int) -> int:
    """The other class with weight in row i of the targets (i itself if there is none)."""
    nz = [c for c in t[i].nonzero().flatten().tolist() if c != i]
    return nz[0] if nz else i


# --- the hook in the harness --------------------------------------------------------------------------


def test_training_loss_follows_the_hooks_targets(digits):
    """Targets that always say class 3 (whatever the labels) teach the classifier to answer 3."""
    calls = []

    def to_three(x, y, k):
        calls.append((x.dtype, len(y), k))
        return x.float() / 255, F.one_hot(torch.full_like(y, 3), k).float()

    model = make_classifier(digits.image_shape, K, CLASSIFIER_PRESETS["tiny"])
    x, y = digits.train_x[:50], digits.train_y[:50]
    train_classifier(model, x, y, CLASSIFIER_PRESETS["tiny"], seed=0, device=torch.device("cpu"),
                     augment_labelled=to_three, num_classes=K)
    assert calls and all(c == (torch.uint8, 32, K) for c in calls)
    pred = model_predictor(model, torch.device("cpu"))(digits.test_x[:200]).argmax(1)
    assert (pred == 3).float().mean() > 0.9


def test_augment_batch_runs_before_augment_labelled(digits):
    seen = []
    train_classifier(make_classifier(digits.image_shape, K, CLASSIFIER_PRESETS["tiny"]), digits.train_x[:20],
                     digits.train_y[:20], CLASSIFIER_PRESETS["tiny"], seed=0, device=torch.device("cpu"),
                     augment=lambda x: torch.zeros_like(x), num_classes=K,
                     augment_labelled=lambda x, y, k: (seen.append(int(x.max())) or x, F.one_hot(y, k).float()))
    assert seen and set(seen) == {0}


@pytest.mark.parametrize("out, message", [
    (lambda x, t: x, "must return (images, targets)"),
    (lambda x, t: (x[:, :, :4], t), "images of shape"),
    (lambda x, t: (x.float() * 2 / 255, t), "outside [0, 1]"),
    (lambda x, t: (x, t * 0.5), "summing to 1"),
    (lambda x, t: (x, t[:, :5]), "targets of shape"),
    (lambda x, t: (x.int(), t), "uint8 or float"),
])
def test_bad_hook_output_is_refused_in_one_line(out, message):
    x, y = grey_batch()
    with pytest.raises(BenchError, match=re.escape(message)) as err:
        check_labelled(out(x, F.one_hot(y, K).float()), x.shape, K)
    assert "\n" not in str(err.value)


def test_float_blend_rounding_above_one_is_accepted_and_clamped():
    x, y = grey_batch()
    xb, _ = check_labelled((torch.full(x.shape, 1.0000001), F.one_hot(y, K).float()), x.shape, K)
    assert float(xb.max()) == 1.0


def test_to_input_reads_float_images_as_uint8_over_255():
    v = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = v.float() / 255
    assert torch.allclose(to_input(v), to_input(f), atol=1e-6)
    assert float(to_input(v).min()) == -1.0 and float(to_input(v).max()) == 1.0
    f_before = f.clone()
    to_input(f)
    assert torch.equal(f, f_before), "to_input must not modify its input"


# --- mixup ---------------------------------------------------------------------------------------------


def test_mixup_images_and_targets_are_the_same_lambda_mix():
    m = method("mixup")
    x, y = grey_batch()
    for _ in range(20):
        xm, t = m.augment_labelled(x, y, K)
        assert xm.dtype == torch.float32
        assert torch.allclose(t.sum(1), torch.ones(K), atol=1e-6)
        lams = []
        for i in range(K):
            j = partner_of(t, i)
            lam = float(t[i, i]) if j != i else 1.0
            onehot = F.one_hot(torch.tensor([i, j]), K).float()
            assert torch.allclose(t[i], lam * onehot[0] + (1 - lam) * onehot[1], atol=1e-6)
            # the image is the same λ-blend of the pair (pixels reconstruct from λ and the partner)
            expect = lam * x[i].float() / 255 + (1 - lam) * x[j].float() / 255
            assert torch.allclose(xm[i], expect, atol=1e-6)
            if j != i:
                lams.append(lam)
        assert len({round(v, 6) for v in lams}) <= 1, "one λ per batch"
    assert m.details()["mixed_batches"] == 20


def test_mixup_alpha_zero_is_identity_and_small_alpha_keeps_one_image_of_the_pair():
    x, y = grey_batch()
    xm, t = method("mixup", alpha=0.0).augment_labelled(x, y, K)
    assert torch.equal(xm, x) and torch.equal(t, F.one_hot(y, K).float())
    m = method("mixup", alpha=1e-3)  # λ ~ Beta(α, α) piles up at 0 and 1 as α → 0
    xm, t = m.augment_labelled(x, y, K)
    nearest = (xm[:, None] * 255 - x.float()[None]).abs().amax(dim=(2, 3, 4)).min(1).values
    assert float(nearest.max()) < 2.0  # every output is (within 2 grey levels) one of the batch's images


# --- cutmix --------------------------------------------------------------------------------------------


def test_cutmix_label_share_is_the_pasted_box_area_exactly():
    m = method("cutmix", seed=3)
    x, y = grey_batch(side=8)
    for _ in range(40):
        xm, t = m.augment_labelled(x, y, K)
        assert xm.dtype == torch.uint8
        for i in range(K):
            j = partner_of(t, i)
            if j == i:
                continue
            from_partner = xm[i] == x[j, 0, 0, 0]
            assert bool(((xm[i] == x[i, 0, 0, 0]) | from_partner).all())  # every pixel is one of the pair's
            rows, cols = from_partner[0].any(1).nonzero().flatten(), from_partner[0].any(0).nonzero().flatten()
            box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
            assert int(from_partner.sum()) == int(box)  # a filled rectangle
            assert abs(float(t[i, j]) - int(box) / 64) < 1e-6
            assert abs(float(t[i, i]) - (1 - int(box) / 64)) < 1e-6


def test_cutmix_box_clips_at_the_border():
    from bench.methods.cutmix import box_for

    assert box_for(0.75, 8, 8, 0, 0) == (0, 2, 0, 2)  # 4×4 box centred on the corner: a quarter survives
    assert box_for(0.0, 8, 8, 4, 4) == (0, 8, 0, 8)
    assert box_for(1.0, 8, 8, 4, 4)[1] - box_for(1.0, 8, 8, 4, 4)[0] == 0


# --- paste ---------------------------------------------------------------------------------------------


def ink_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Black 12×12 images, image i with a random rectangle of grey 60 + 15·i."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(K, 1, 12, 12, dtype=torch.uint8)
    for i in range(K):
        h, w = (int(v) for v in torch.randint(2, 7, (2,), generator=g))
        t, lft = (int(v) for v in torch.randint(1, 12 - 7, (2,), generator=g))
        x[i, :, t:t + h, lft:lft + w] = 60 + 15 * i
    return x, torch.arange(K)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paste_label_is_the_share_of_visible_ink(seed):
    m = method("paste", seed=seed)
    x, y = ink_batch(seed)
    pasted = 0
    for _ in range(10):
        xm, t = m.augment_labelled(x, y, K)
        assert torch.allclose(t.sum(1), torch.ones(K), atol=1e-6)
        for i in range(K):
            j = partner_of(t, i)
            own, other = int((xm[i] == 60 + 15 * i).sum()), 0
            if j != i:
                other = int((xm[i] == 60 + 15 * j).sum())
                pasted += 1
                assert abs(float(t[i, j]) - other / (own + other)) < 1e-6
                assert int((xm[i] != 0).sum()) == own + other  # nothing but the two objects on black
                # the paste is the partner's object, at most its own size (scale ≤ 1)
                assert other <= int((x[j] != 0).sum())
            else:  # no paste, or π(i) = i (a copy of its own object): the label stays
                assert int((xm[i] != 0).sum()) == own and float(t[i, i]) == 1.0
    assert pasted > 0


def test_paste_from_an_empty_partner_changes_nothing():
    from bench.methods.paste import foreground, paste_object

    x, _ = ink_batch()
    blank = torch.zeros_like(x[0])
    fg = foreground(torch.stack([x[0], blank]), 0.2).numpy()
    img, p, o = paste_object(x[0].numpy(), fg[0], blank.numpy(), fg[1], 1.0, (0.5, 0.5))
    assert p == 0 and o == int((x[0] != 0).sum()) and (img == x[0].numpy()).all()


def test_foreground_uses_the_border_colour():
    from bench.methods.paste import foreground

    x = torch.full((1, 3, 6, 6), 200, dtype=torch.uint8)  # white background
    x[0, :, 2:4, 2:4] = 10  # dark object
    fg = foreground(x, 0.2)[0]
    assert int(fg.sum()) == 4 and bool(fg[2:4, 2:4].all())


# --- every mix method: determinism, bad settings ---------------------------------------------------------


@pytest.mark.parametrize("name", ["mixup", "cutmix", "paste"])
def test_same_seed_same_batches_other_seed_other_batches(name):
    x, y = ink_batch()
    (xa, ta), (xb, tb), (xc, tc) = (method(name, seed=s).augment_labelled(x, y, K) for s in (5, 5, 6))
    assert torch.equal(xa, xb) and torch.equal(ta, tb)
    assert not (torch.equal(xa, xc) and torch.equal(ta, tc))


@pytest.mark.parametrize("name, overrides, words", [
    ("mixup", {"alpha": -0.5}, ["mixup", "alpha"]),
    ("cutmix", {"alpha": -1.0}, ["cutmix", "alpha"]),
    ("cutmix", {"prob": 1.5}, ["cutmix", "prob"]),
    ("paste", {"threshold": 1.0}, ["paste", "threshold", "(0, 1)"]),
    ("paste", {"scale_min": 0.0}, ["paste", "scale_min"]),
])
def test_bad_settings_refused_in_one_line(name, overrides, words):
    with pytest.raises(BenchError) as err:
        METHODS.get(name).make_config("quick", overrides)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_negative_alpha_stops_bench_run_before_any_cell(tmp_path, capsys):
    from bench.cli import main

    suite = tmp_path / "bad.toml"
    suite.write_text('datasets = ["digits"]\nmethods = ["baseline", "mixup"]\nshots = [1]\nseeds = [0]\n'
                     'preset = "tiny"\nclassifier = "tiny"\n[method_overrides.mixup]\nalpha = -1.0\n')
    code = main(["run", "--suite", str(suite), "--results-dir", str(tmp_path / "r"), "--reports-dir", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "mixup" in err and "alpha" in err
    assert not list((tmp_path / "r").rglob("*.json"))


# --- an out-of-tree plugin written from CONTRIBUTING alone ----------------------------------------------


def test_contributing_example_runs_as_an_out_of_tree_plugin(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    text = (ROOT / "CONTRIBUTING.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert "augment_labelled" in code, "the CONTRIBUTING example should show the label-aware hook"
    name = re.search(r'@register_method\("([^"]+)"\)', code).group(1)
    (tmp_path / "contrib_plugin.py").write_text(textwrap.dedent(code))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import contrib_plugin  # noqa: F401  (registers the method, as an entry point would)

        rc = main(["run", "--suite", "tiny", "--methods", f"baseline,{name}", "--shots", "3", "--seeds", "0",
                   "--results-dir", str(tmp_path / "r"), "--reports-dir", str(tmp_path / "p")])
        out = capsys.readouterr().out
        assert rc == 0, out
        import json

        recs = {r["method"]["name"]: r for r in map(json.loads, map(Path.read_text, (tmp_path / "r").rglob("*.json")))}
        assert set(recs) == {"baseline", name} and all(r["status"] == "ok" for r in recs.values())
        # the hook really ran: same draw, same classifier init and batches, different result
        assert recs[name]["metrics"] != recs["baseline"]["metrics"]
    finally:
        METHODS._items.pop(name, None)
        sys.modules.pop("contrib_plugin", None)
