from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.aggregate import ci95, paired_vs_baseline, summarize


def frame():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(5):
        base = 0.5 + rng.normal(0, 0.03)
        rows.append({"dataset": "d", "method": "baseline", "shots": 5, "seed": seed, "status": "ok", "accuracy": base})
        rows.append({"dataset": "d", "method": "m", "shots": 5, "seed": seed, "status": "ok", "accuracy": base + 0.05 + rng.normal(0, 0.01)})
    rows.append({"dataset": "d", "method": "m", "shots": 5, "seed": 9, "status": "failed", "accuracy": np.nan})
    return pd.DataFrame(rows)


def test_ci95_matches_scipy_t_interval():
    x = np.array([0.61, 0.64, 0.58, 0.66, 0.62])
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert ci95(x) == pytest.approx((hi - lo) / 2, rel=1e-12)
    assert np.isnan(ci95(np.array([0.5])))


def test_summarize_uses_ok_records_only():
    s = summarize(frame()).set_index("method")
    assert s.loc["m", "n"] == 5 and s.loc["baseline", "n"] == 5


def test_paired_test_matches_scipy():
    df = frame()
    p = paired_vs_baseline(df).iloc[0]
    a = df[(df.method == "m") & (df.status == "ok")].sort_values("seed").accuracy.to_numpy()
    b = df[df.method == "baseline"].sort_values("seed").accuracy.to_numpy()
    assert p["n_pairs"] == 5
    assert p["diff"] == pytest.approx((a - b).mean())
    assert p["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)


def test_long_table_drops_inception_scores_from_class_grouped_splits():
    from bench.aggregate import long_table

    def rec(seed: int, gen_entry: dict) -> dict:
        return {"suite": "s", "dataset": {"name": "d", "hash": "h"}, "task": {"shots": 1, "seed": seed},
                "method": {"name": "gan", "version": "1", "preset": "tiny", "config_hash": "c"},
                "status": "ok", "key": f"k{seed}", "finished_at": f"2026-01-0{seed + 1}", "environment": {},
                "metrics": {"accuracy": 0.5, "is_domain": 1.01, "is_domain_std": 0.01, "fid_domain": 9.0},
                "details": {"generation": {"domain": gen_entry}}, "timings": {}, "memory": {}}

    df = long_table([rec(0, {"is_splits": 10}), rec(1, {"is_splits": 10, "is_order": "shuffled, seed 0"})])
    old, new = df[df["seed"] == 0].iloc[0], df[df["seed"] == 1].iloc[0]
    assert pd.isna(old["is_domain"]) and pd.isna(old["is_domain_std"]) and old["fid_domain"] == 9.0
    assert new["is_domain"] == 1.01 and new["is_domain_std"] == 0.01
