"""Report statistics on synthetic frames, checked against independent computations: Holm by hand,
paired t-tests with scipy, equivalence with numpy.interp, CI with scipy's t interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.aggregate import (
    ci95,
    equivalent_shots,
    holm,
    metric_info,
    real_label_equivalence,
    significance,
    table_metrics,
)
from bench.plots import pareto_front


def frame(values: dict[str, list[float]], shots: int = 5, metric: str = "accuracy", dataset: str = "d") -> pd.DataFrame:
    rows = [{"dataset": dataset, "method": m, "shots": shots, "seed": s, "status": "ok", metric: v}
            for m, vs in values.items() for s, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_holm_matches_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = holm([0.2, np.nan, 0.6])  # nan is not part of the family: m = 2
    np.testing.assert_allclose(out[[0, 2]], [0.4, 0.6])
    assert np.isnan(out[1])
    assert np.all(holm([0.9, 0.8]) <= 1.0)


def test_ci95_is_the_t_interval():
    x = np.array([0.61, 0.65, 0.58, 0.70, 0.66])
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert ci95(x) == pytest.approx((hi - lo) / 2)
    assert np.isnan(ci95(np.array([0.5])))


def test_significance_marks_match_scipy_and_holm():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.6, 6)
    vals = {"baseline": base, "good": base + 0.08 + rng.normal(0, 0.01, 6),
            "same": base + np.array([0.02, -0.02, 0.01, -0.01, 0.03, -0.03]), "bad": base - 0.05 + rng.normal(0, 0.01, 6)}
    sig = significance(frame({k: list(v) for k, v in vals.items()}), "accuracy", True).set_index("method")
    # vs baseline: Holm over the three non-baseline methods
    others = ["bad", "good", "same"]
    raw = [stats.ttest_rel(vals[m], vals["baseline"]).pvalue for m in others]
    np.testing.assert_allclose(sig.loc[others, "p_base"], holm(raw))
    assert sig.loc["good", "vs_base"] == 1 and sig.loc["bad", "vs_base"] == -1 and sig.loc["same", "vs_base"] == 0
    # best and "not significantly different from the best"
    assert sig["best"].sum() == 1 and sig.loc["good", "best"]
    rest = ["baseline", "bad", "same"]
    raw = [stats.ttest_rel(vals[m], vals["good"]).pvalue for m in rest]
    np.testing.assert_allclose(sig.loc[rest, "p_best"], holm(raw))
    assert not sig.loc[rest, "tie"].any()  # 'good' is clearly ahead of all
    # a method indistinguishable from the best is marked as a tie
    close = vals["good"] + rng.normal(0, 0.01, 6)
    sig2 = significance(frame({"baseline": list(base), "good": list(vals["good"]), "close": list(close)}),
                        "accuracy", True).set_index("method")
    best = sig2.index[sig2["best"]][0]
    other = "close" if best == "good" else "good"
    assert sig2.loc[other, "tie"] and not sig2.loc["baseline", "tie"]


def test_lower_is_better_metrics_flip_best_and_direction():
    base = [40.0, 42.0, 41.0, 43.0]
    df = frame({"baseline": base, "gan": [b - 10 + d for b, d in zip(base, [0.1, -0.2, 0.3, 0.0], strict=True)]},
               metric="fid_domain")
    assert metric_info("fid_domain") == ("FID (domain features)", False)
    assert table_metrics(df) == ["fid_domain"]
    extra = df.assign(is_domain_std=0.1, detail_generation_domain_reference_test_accuracy=0.9, is_domain=1.5)
    assert table_metrics(extra) == ["fid_domain", "is_domain"]  # spreads and metric-machinery facts are not tables
    sig = significance(df, "fid_domain", False).set_index("method")
    assert sig.loc["gan", "best"] and sig.loc["gan", "vs_base"] == 1  # lower FID = better


def test_equivalence_matches_numpy_interp_on_increasing_curve():
    shots = np.array([1, 5, 10, 50])
    base_acc = np.array([0.40, 0.60, 0.68, 0.80])
    for acc in (0.40, 0.45, 0.6, 0.7, 0.79, 0.80):
        x, where = equivalent_shots(acc, shots, base_acc)
        assert where == "in" and x == pytest.approx(np.interp(acc, base_acc, shots))
    assert equivalent_shots(0.81, shots, base_acc) == (50.0, "above")
    assert equivalent_shots(0.39, shots, base_acc) == (1.0, "below")


def test_equivalence_table_uses_first_crossing_of_running_maximum():
    rows = []
    for k, a in zip([1, 5, 10, 50], [0.40, 0.62, 0.60, 0.80], strict=True):  # dip at 10 shots
        rows += [{"dataset": "d", "method": "baseline", "shots": k, "seed": s, "status": "ok", "accuracy": a} for s in (0, 1)]
    for k, a in zip([1, 5], [0.61, 0.9], strict=True):
        rows += [{"dataset": "d", "method": "aug", "shots": k, "seed": s, "status": "ok", "accuracy": a} for s in (0, 1)]
    eq = real_label_equivalence(pd.DataFrame(rows)).set_index("shots")
    # running max curve: 0.40, 0.62, 0.62, 0.80 -> 0.61 is reached between 1 and 5 shots
    assert eq.loc[1, "equiv_shots"] == pytest.approx(np.interp(0.61, [0.40, 0.62], [1, 5]))
    assert eq.loc[1, "ratio"] == pytest.approx(eq.loc[1, "equiv_shots"] / 1)
    assert eq.loc[5, "range"] == "above" and np.isnan(eq.loc[5, "ratio"])


def test_pareto_front():
    cost = np.array([1.0, 2.0, 3.0, 2.5, 0.5])
    acc = np.array([0.6, 0.7, 0.65, 0.9, 0.5])
    # 0.5->0.5, 1->0.6, 2->0.7, 2.5->0.9 are each better than everything cheaper; 3->0.65 is dominated
    assert list(pareto_front(cost, acc)) == [4, 0, 1, 3]


# ------------------------------------------------------------------------------ minimum detectable effect

@pytest.mark.parametrize("n", [2, 3, 5, 10, 30])
def test_mde_effect_size_matches_statsmodels(n):
    """Independent oracle: statsmodels' TTestPower (its own noncentral-t power and root finder)."""
    power = pytest.importorskip("statsmodels.stats.power")
    from bench.aggregate import mde_effect_size

    expected = power.TTestPower().solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    assert mde_effect_size(n) == pytest.approx(expected, rel=1e-5)
    assert np.isnan(mde_effect_size(1))


@pytest.mark.parametrize("n", [3, 5])
def test_mde_has_the_stated_power_in_simulation(n):
    """Monte Carlo with a fixed seed: paired experiments whose true mean difference is the MDE
    (differences normal, SD sigma) are detected by scipy's paired t-test 80 % of the time; at half
    the MDE far less often. 40 000 draws: the binomial SE of 0.8 is 0.002."""
    from bench.aggregate import mde_effect_size

    rng = np.random.default_rng(1234)
    sigma, draws = 0.02, 40_000
    for scale, lo, hi in ((1.0, 0.79, 0.81), (0.5, 0.0, 0.45)):
        delta = scale * mde_effect_size(n) * sigma
        base = rng.uniform(0.5, 0.7, (draws, n))
        method = base + rng.normal(delta, sigma, (draws, n))
        p = stats.ttest_rel(method, base, axis=1).pvalue
        assert lo <= np.mean(p < 0.05) <= hi, (n, scale, np.mean(p < 0.05))


def test_mde_scales_the_observed_spread_and_the_common_approximation_is_smaller():
    from bench.aggregate import mde, mde_effect_size

    d = np.array([0.01, 0.03, -0.01, 0.02, 0.00])
    assert mde(d) == pytest.approx(mde_effect_size(5) * d.std(ddof=1), rel=1e-12)
    assert np.isnan(mde(np.array([0.1])))
    approx = (stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) / np.sqrt(5)
    assert approx < mde_effect_size(5) < 1.02 * approx


def test_column_mde_pools_paired_spread_over_the_column():
    from bench.aggregate import column_mde, mde_effect_size

    base = [0.50, 0.55, 0.60, 0.52]
    da, db = np.array([0.01, 0.03, 0.02, 0.06]), np.array([-0.02, 0.00, 0.04, 0.01])
    df = frame({"baseline": base, "a": list(np.add(base, da)), "b": list(np.add(base, db))})
    col = column_mde(df).iloc[0]
    pooled = np.sqrt((da.var(ddof=1) + db.var(ddof=1)) / 2)  # equal n: the plain mean of the variances
    assert col["n_pairs"] == 4 and col["sd"] == pytest.approx(pooled)
    assert col["mde"] == pytest.approx(mde_effect_size(4) * pooled)
    # a Holm-corrected mark over the column's two methods: the same test at α/2
    assert col["m"] == 2 and col["mde_holm"] == pytest.approx(mde_effect_size(4, 0.025) * pooled)
    assert col["mde_holm"] > col["mde"]
    assert column_mde(frame({"baseline": [0.5], "a": [0.6]})).empty  # one pair: no spread, no MDE


def test_mde_for_a_mark_has_the_stated_power_under_holm():
    """Monte Carlo with a fixed seed: a column of m methods, one with a true paired gain of the
    Holm MDE (the MDE at α/m), the others none. The real method gets its Holm-adjusted p below α
    (the ↑ mark) 80 % of the time — a little more, since Holm's later steps can still mark it when
    a null method happens to come first — while at the plain MDE it is marked far less often."""
    from bench.aggregate import holm, mde_effect_size

    rng = np.random.default_rng(99)
    n, m, sigma, draws = 5, 10, 0.02, 4000
    for alpha_mde, lo, hi in ((0.05 / m, 0.79, 0.84), (0.05, 0.0, 0.45)):
        delta = mde_effect_size(n, alpha_mde) * sigma
        d = rng.normal(0.0, sigma, (draws, m, n))
        d[:, 0] += delta
        p = stats.ttest_1samp(d, 0.0, axis=2).pvalue  # the paired test on the differences
        marked = np.mean([holm(row)[0] < 0.05 for row in p])
        assert lo <= marked <= hi, (alpha_mde, marked)


# ------------------------------------------------------------------------------ metric catalogue

def test_catalogue_gives_every_known_metric_a_human_title_and_direction():
    from bench.metric_catalog import describe

    expected = {
        "accuracy": ("Test accuracy", True), "fid_domain": ("FID (domain features)", False),
        "kid_norm_x1e3_inception": ("KID ×10³ (Inception features)", False), "is_domain": ("Inception Score (domain features)", True),
        "precision_domain": ("Precision (domain features)", True), "recall_domain": ("Recall (domain features)", True),
        "density_domain": ("Density (domain features)", True), "coverage_domain": ("Coverage (domain features)", True),
        "cas": ("Classification Accuracy Score (CAS)", True), "cas_domain": ("Classification Accuracy Score (CAS)", True),
        "memorisation_ratio": ("Memorisation ratio", None),
        "detail_pseudo_label_true_accuracy": ("Pseudo-label correctness", True),
        "gen_label_accuracy_domain": ("Generated-label agreement (domain features)", True),
        "student_fp32_accuracy": ("Student accuracy (fp32, before quantisation)", True),
    }
    for key, (title, higher) in expected.items():
        m = describe(key)
        assert (m.title, m.higher) == (title, higher), key
        assert m.glossary and "_" not in m.title
    for key in ("kid_domain_std", "is_domain_std", "detail_generation_domain_reference_test_accuracy", "fit_s"):
        assert describe(key) is None, key
    assert describe("fid_domain").lo == 0 and describe("accuracy").hi == 1  # CI bands are clipped to these


def test_a_new_catalogue_entry_is_all_a_new_metric_needs(monkeypatch):
    from bench import metric_catalog
    from bench.metric_catalog import MetricSpec, describe

    df = frame({"gan": [0.1, 0.2]}, metric="sharpness_domain")
    assert describe("sharpness_domain") is None and table_metrics(df) == []
    entry = MetricSpec(r"^sharpness(?:_(?P<space>[a-z0-9]+))?$", "Sharpness ({space})", True, "", "How sharp.", 0)
    monkeypatch.setattr(metric_catalog, "CATALOG", [*metric_catalog.CATALOG, entry])
    assert table_metrics(df) == ["sharpness_domain"]
    assert metric_info("sharpness_domain") == ("Sharpness (domain features)", True)
