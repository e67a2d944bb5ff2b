from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.tasks import derive_seed, draw_task, evaluation_subset


def test_stratified_draw(digits):
    t = draw_task(digits, 5, 0)
    assert np.bincount(t.y.numpy(), minlength=10).tolist() == [5] * 10
    assert t.x.shape == (50, 1, 8, 8)
    assert len(np.intersect1d(t.labelled_idx, t.pool_idx)) == 0
    assert len(t.labelled_idx) + len(t.pool_idx) == len(digits.train_y)
    assert len(t.test_idx) == len(digits.test_y)  # full test split by default


def test_draw_depends_only_on_hash_shots_seed(digits):
    a, b = draw_task(digits, 5, 3), draw_task(digits, 5, 3)
    assert np.array_equal(a.labelled_idx, b.labelled_idx) and a.fingerprint() == b.fingerprint()
    assert not np.array_equal(a.labelled_idx, draw_task(digits, 5, 4).labelled_idx)


def test_draws_are_nested_across_shots(digits):
    small, big = draw_task(digits, 2, 1), draw_task(digits, 10, 1)
    assert set(small.labelled_idx) <= set(big.labelled_idx)


def test_shots_larger_than_smallest_class_is_an_error(digits):
    with pytest.raises(BenchError, match=r"shots=200 is larger than the smallest class of digits \(117 .*use --shots 117"):
        draw_task(digits, 200, 0)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed(digits, seed):
    with pytest.raises(BenchError, match="non-negative"):
        draw_task(digits, 1, seed)


def test_test_cap_is_stratified_and_seed_independent(digits):
    idx = evaluation_subset(digits, 100)
    assert 90 <= len(idx) <= 110
    counts = np.bincount(digits.test_y[idx].numpy(), minlength=10)
    assert counts.min() >= 8
    assert np.array_equal(idx, evaluation_subset(digits, 100))


def test_derive_seed_is_stable():
    # pinned: a change here silently changes every few-shot draw of every suite
    assert derive_seed("few-shot", "abc", 0) == derive_seed("few-shot", "abc", 0)
    assert derive_seed("a", 1) != derive_seed("a", 2)
    assert 0 <= derive_seed("x") < 2**63
