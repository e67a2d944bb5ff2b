"""font-digits, the transfer source that ships with the Python dependencies: what it holds, that it
is reproducible and cached, that it carries digit information, and that the transfer methods run
on digits with every Debian dataset hidden."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench import font_digits
from bench.cli import main
from bench.datasets import load_dataset


@pytest.fixture(scope="module")
def fd(tmp_path_factory):
    return load_dataset("font-digits", tmp_path_factory.mktemp("fd"))


def test_splits_shapes_and_balance(fd):
    assert fd.image_shape == (1, 28, 28) and fd.family == "handwriting"
    assert fd.classes == tuple(str(i) for i in range(10))
    assert np.bincount(fd.train_y.numpy()).tolist() == [600] * 10
    assert np.bincount(fd.test_y.numpy()).tolist() == [100] * 10
    assert "synthetic printed digits" in fd.source and "matplotlib" in fd.source
    # white on black, centred like MNIST: the border rows are (almost) empty, the middle is not
    x = fd.train_x.float()
    assert x[:, :, :2].mean() < 1 and x[:, :, 10:18, 10:18].mean() > 40


def test_every_font_draws_every_digit(fd):
    """The first images cycle the fonts, each drawing 0-9; a font without real digit glyphs would
    draw the same box ten times."""
    n = len(font_digits.font_paths())
    assert n == len(font_digits.FONT_FILES) == 21  # matplotlib ships all of them
    first = fd.train_x[: 10 * n, 0].reshape(n, 10, 28 * 28).float()
    for f in range(n):
        d = torch.cdist(first[f], first[f])
        assert (d + torch.eye(10) * 1e9).min() > 100, f"font {font_digits.FONT_FILES[f]} draws two digits alike"


def test_rendering_is_reproducible(tmp_path, monkeypatch):
    monkeypatch.setattr(font_digits, "N_TRAIN_PER_CLASS", 5)
    monkeypatch.setattr(font_digits, "N_TEST_PER_CLASS", 2)
    a, b = font_digits.make_split("train"), font_digits.make_split("train")
    assert a[0].tobytes() == b[0].tobytes() and a[0].shape == (50, 28, 28)
    assert font_digits.make_split("test")[0].tobytes() != a[0][:20].tobytes()  # another draw


def test_cached_once_then_read_from_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setattr(font_digits, "N_TRAIN_PER_CLASS", 3)
    monkeypatch.setattr(font_digits, "N_TEST_PER_CLASS", 1)
    monkeypatch.setattr(font_digits, "_RENDERED", {})
    arrays, _ = font_digits.load_arrays(tmp_path)
    files = list((tmp_path / "font-digits").glob("*.npz"))
    assert len(files) == 1

    def boom(split):
        raise AssertionError("rendered again although the cache file is there")

    monkeypatch.setattr(font_digits, "make_split", boom)
    again, where = font_digits.load_arrays(tmp_path)
    assert str(files[0]) in where
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)


def test_it_teaches_digits(fd, digits):
    """A source worth pretraining on: a linear classifier fitted on font-digits only, shrunk to 8×8,
    labels scikit-learn's handwritten digits (train split) well above chance (0.1)."""
    from sklearn.linear_model import LogisticRegression

    from bench.sources import to_shape

    x = to_shape(fd.train_x, digits.image_shape).reshape(len(fd.train_x), -1).float().numpy() / 255
    clf = LogisticRegression(max_iter=300).fit(x, fd.train_y.numpy())
    xt = digits.train_x.reshape(len(digits.train_x), -1).float().numpy() / 255
    assert (clf.predict(xt) == digits.train_y.numpy()).mean() > 0.2


def test_transfer_methods_run_on_digits_without_debian_data(tmp_path, monkeypatch):
    """The README's first command needs no Debian package: with every system dataset folder hidden,
    the transfer rows run on digits and their records name font-digits as the source."""
    monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", str(tmp_path / "no-system-data"))
    code = main(["run", "--suite", "tiny", "--methods", "finetune,finetune-head,transfer-gan", "--shots", "1",
                 "--seeds", "0", "--results-dir", str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep"),
                 "--data-root", str(tmp_path / "data")])
    assert code == 0
    recs = [json.loads(p.read_text()) for p in (tmp_path / "res").rglob("*.json") if p.name != "environment.json"]
    recs = [r for r in recs if "status" in r]
    assert sorted(r["method"]["name"] for r in recs) == ["finetune", "finetune-head", "transfer-gan"]
    assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
    assert {r["details"]["source"] for r in recs} == {"font-digits"}
    assert not (tmp_path / "data" / "FashionMNIST").exists()
