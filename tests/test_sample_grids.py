"""Sample grids label their rows with the class names (drawn in a left margin); the tiles are the
same pixels as without labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.metrics.grids import save_sample_grid


def test_rows_are_labelled_with_class_names(tmp_path, digits):
    x, y = digits.train_x[:300], digits.train_y[:300]
    plain = np.asarray(Image.open(save_sample_grid(x, y, 10, tmp_path / "plain.png")).convert("RGB"))
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "ankle boot"]
    labelled = np.asarray(Image.open(save_sample_grid(x, y, 10, tmp_path / "labelled.png", classes=names)).convert("RGB"))
    margin = labelled.shape[1] - plain.shape[1]
    assert labelled.shape[0] == plain.shape[0] and margin > 30  # room for "ankle boot"
    assert np.array_equal(labelled[:, margin:], plain)
    ink = labelled[:, :margin].min(axis=(1, 2)) < 128  # dark text pixels per image row
    row = (plain.shape[0] - 2) // 10
    for k in range(10):  # every class row has its label, and only there
        band = ink[2 + k * row: 2 + (k + 1) * row]
        assert band.any(), k
    assert not ink[:2].any()


def test_one_name_per_class(tmp_path, digits):
    with pytest.raises(BenchError, match="one class name per class"):
        save_sample_grid(digits.train_x[:50], digits.train_y[:50], 10, tmp_path / "g.png", classes=["a", "b"])
