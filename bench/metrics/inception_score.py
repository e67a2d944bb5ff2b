"""Inception Score from class probabilities: ``exp(E_x KL(p(y|x) || p(y)))``, mean ± std over splits.

As in Salimans et al. (2016) and torch-fidelity, the samples are cut into ``splits`` contiguous
equal parts (the remainder is dropped), the score is computed per part with that part's marginal
``p(y)``, and the mean and (population) standard deviation over parts are reported.

The probabilities here come from the dataset's reference classifier (the ``domain`` extractor), so
the score lies in [1, num_classes]. The classic 10 splits need enough samples per part for the
marginal to mean anything: we use ``min(10, n // MIN_PER_SPLIT)`` splits (at least 1), i.e. parts
of at least 50 samples; the record says how many splits were used.

Order. Generators return samples grouped by class (all of class 0, then class 1, …). Cut into
contiguous parts as they come, each part would hold one class, its marginal would equal every
p(y|x), and the score would collapse to about 1 whatever the generator. So the rows are first put
in a fixed pseudo-random order (``order_seed``, default 0; ``None`` keeps the given order, as
torch-fidelity does for its already-shuffled inputs). augbench versions before this fix recorded
IS from class-grouped order; :func:`bench.aggregate.long_table` drops those values.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError

MAX_SPLITS = 10
MIN_PER_SPLIT = 50


def default_splits(n: int) -> int:
    return max(1, min(MAX_SPLITS, n // MIN_PER_SPLIT))


def inception_score(probs: np.ndarray, splits: int | None = None, eps: float = 1e-12,
                    order_seed: int | None = 0) -> tuple[float, float, int]:
    """``(mean, std, splits)`` of the Inception Score of an N×K matrix of class probabilities,
    rows shuffled with ``order_seed`` before splitting (None: split in the given order)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise BenchError(f"inception score needs an N×K probability matrix with N >= 1, got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise BenchError("inception score needs probabilities (non-negative rows summing to 1); pass softmax outputs")
    splits = default_splits(len(p)) if splits is None else splits
    if not 1 <= splits <= len(p):
        raise BenchError(f"inception score: splits must be in [1, {len(p)}], got {splits}")
    if order_seed is not None:
        p = p[np.random.default_rng(order_seed).permutation(len(p))]
    size = len(p) // splits
    scores = []
    for k in range(splits):
        part = p[k * size:(k + 1) * size]
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(marginal + eps))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores)), splits
