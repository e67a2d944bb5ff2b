"""From records to numbers: the pandas long table, mean ± 95 % CI over seeds, and paired tests
against the no-augmentation baseline (same dataset, shots and seed, so the same labelled set)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

CELL = ["suite", "dataset", "method", "shots", "seed"]


def long_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per record: identifiers, status, scalar metrics (``m_*``), timings, memory."""
    rows = []
    for r in records:
        row = {
            "suite": r["suite"], "dataset": r["dataset"]["name"], "dataset_hash": r["dataset"]["hash"],
            "method": r["method"].get("display") or r["method"]["name"], "method_version": r["method"]["version"],
            "preset": r["method"].get("preset"), "config_hash": r["method"]["config_hash"],
            "shots": r["task"]["shots"], "seed": r["task"]["seed"], "status": r["status"], "key": r["key"],
            "finished_at": r["finished_at"], "device": r["environment"].get("device"),
            "git_commit": r["environment"].get("git_commit"),
            "error": (r.get("error") or {}).get("message"),
        }
        for k, v in r["metrics"].items():
            if isinstance(v, int | float) and not isinstance(v, bool) and not _legacy_is(k, r):
                row[k] = v
        row.update(class_columns(r))
        for k, v in r["timings"].items():
            row[k] = v
        for k, v in r["memory"].items():
            row[k] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=CELL + ["status", "accuracy"])
    # One row per cell: if a config or version changed, the newest record wins.
    df = df.sort_values("finished_at").drop_duplicates(CELL, keep="last")
    return df.sort_values(["dataset", "method", "shots", "seed"]).reset_index(drop=True)


def class_columns(record: dict[str, Any]) -> dict[str, Any]:
    """``classes`` (the class names in label order, ``"; "``-joined) and ``accuracy[<class>]`` per
    class, for records that name their classes (``dataset.classes``; older records do not)."""
    classes = record["dataset"].get("classes") or []
    if not classes:
        return {}
    per_class = record["metrics"].get("per_class_accuracy") or []
    return {"classes": "; ".join(classes), **{f"accuracy[{c}]": v for c, v in zip(classes, per_class, strict=False)}}


def _legacy_is(metric: str, record: dict[str, Any]) -> bool:
    """True for an Inception Score recorded before augbench shuffled samples ahead of IS's splits
    (see bench.metrics.inception_score): class-grouped splits made it ~1 whatever the generator,
    so such values are left out of every table rather than compared with valid ones."""
    if not metric.startswith("is_"):
        return False
    gen = (record.get("details") or {}).get("generation") or {}
    entry = gen.get(metric[3:].removesuffix("_std"))
    return isinstance(entry, dict) and "is_splits" in entry and "is_order" not in entry


def excluded_note(df: pd.DataFrame, dataset: str) -> str:
    """Names the cells of ``dataset`` left out of every mean and every "best" because they did not
    finish ok (failed or diverged), e.g. " Not in the table: gan 1-shot seeds 0, 1 (diverged)."."""
    if "status" not in df:
        return ""
    bad = df[(df["dataset"] == dataset) & (df["status"] != "ok")]
    if bad.empty:
        return ""
    parts = [f"{m} {k}-shot seed{'s' if len(g) > 1 else ''} {', '.join(str(s) for s in sorted(g['seed']))} ({st})"
             for (m, k, st), g in bad.groupby(["method", "shots", "status"])]
    return " Not in the table: " + "; ".join(parts) + "."


def ci95(values: np.ndarray) -> float:
    """Half-width of the t-based 95 % confidence interval of the mean (nan for n < 2)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))


def summarize(df: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """mean, std, ci95 and n of ``metric`` over seeds, per (dataset, method, shots); ok records only.
    ``ci_lo``/``ci_hi``: mean ∓ ci95 clipped to the values the metric can take (:func:`metric_range`),
    the band to draw (FID/KID bands never go below 0, accuracy bands stay in [0, 1])."""
    ok = df[(df["status"] == "ok")] if "status" in df else df
    if ok.empty or metric not in ok:
        return pd.DataFrame(columns=["dataset", "method", "shots", "n", "mean", "std", "ci95", "ci_lo", "ci_hi"])
    g = ok.dropna(subset=[metric]).groupby(["dataset", "method", "shots"])[metric]
    out = g.agg(n="count", mean="mean", std="std").reset_index()
    out["ci95"] = g.apply(lambda s: ci95(s.to_numpy())).to_numpy()
    lo, hi = metric_range(metric)
    out["ci_lo"] = np.clip(out["mean"] - out["ci95"], lo, hi)
    out["ci_hi"] = np.clip(out["mean"] + out["ci95"], lo, hi)
    return out


def paired_vs_baseline(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> pd.DataFrame:
    """Per (dataset, method, shots): mean paired difference to ``baseline`` over shared seeds,
    its 95 % CI, the two-sided paired t-test p-value (scipy.stats.ttest_rel), ``sd`` (standard
    deviation of the paired differences), ``mde`` (:func:`mde`) and ``p_holm`` (Holm-adjusted
    across the methods of one (dataset, shots) column)."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    if metric in ok:
        ok = ok.dropna(subset=[metric])
    rows = []
    cols = ["dataset", "method", "shots", "n_pairs", "diff", "ci95", "p_value", "sd", "mde", "p_holm"]
    if ok.empty or metric not in ok or baseline not in set(ok["method"]):
        return pd.DataFrame(columns=cols)
    base = ok[ok["method"] == baseline].set_index(["dataset", "shots", "seed"])[metric]
    for (dataset, method, shots), grp in ok[ok["method"] != baseline].groupby(["dataset", "method", "shots"]):
        g = grp.set_index(["dataset", "shots", "seed"])[metric]
        common = g.index.intersection(base.index)
        a, b = g.loc[common].to_numpy(float), base.loc[common].to_numpy(float)
        d = a - b
        rows.append({"dataset": dataset, "method": method, "shots": shots, "n_pairs": len(d),
                     "diff": float(d.mean()) if len(d) else float("nan"), "ci95": ci95(d), "p_value": paired_p(a, b),
                     "sd": float(d.std(ddof=1)) if len(d) >= 2 else float("nan"), "mde": mde(d)})
    out = pd.DataFrame(rows, columns=cols[:-1])
    out["p_holm"] = np.nan
    for _, col in out.groupby(["dataset", "shots"]):
        out.loc[col.index, "p_holm"] = holm(col["p_value"])
    return out


# ---------------------------------------------------------------------------------------------
# Power: the smallest paired effect the protocol can see.
# ---------------------------------------------------------------------------------------------

MDE_ALPHA = 0.05
MDE_POWER = 0.8


def paired_power(effect_size: float, n: int, alpha: float = MDE_ALPHA) -> float:
    """Power of the two-sided paired (one-sample) t-test with ``n`` pairs at standardised effect
    ``effect_size`` = true mean difference / SD of the differences: P(|T| > t_{1-α/2, n-1}) with T
    noncentral t, n - 1 degrees of freedom, noncentrality effect_size·√n (scipy.stats.nct)."""
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = effect_size * np.sqrt(n)
    # lower tail as the upper tail at -nc (symmetry): nct.cdf returns nan far out in the tail at df = 1
    lower = stats.nct.sf(crit, df, -nc)
    return float(stats.nct.sf(crit, df, nc) + (0.0 if np.isnan(lower) else lower))


def mde_effect_size(n: int, alpha: float = MDE_ALPHA, power: float = MDE_POWER) -> float:
    """The standardised effect the two-sided paired t-test detects with probability ``power``:
    the exact root of :func:`paired_power`. The common approximation
    ``(t_{1-α/2, n-1} + t_{power, n-1}) / √n`` is 14 % too small at 2 pairs, 5 % at 3 and 1 % at 5,
    the pair counts a benchmark has, hence the exact root. nan for fewer than two pairs."""
    if n < 2:
        return float("nan")
    from scipy.optimize import brentq

    hi = 1.0
    while paired_power(hi, n, alpha) < power:
        hi *= 2
    return float(brentq(lambda d: paired_power(d, n, alpha) - power, 0.0, hi, xtol=1e-12, rtol=1e-12))


def mde(differences: np.ndarray, alpha: float = MDE_ALPHA, power: float = MDE_POWER) -> float:
    """Minimum detectable paired effect, in the metric's units: the true mean difference that a
    two-sided paired t-test over these n pairs detects at ``alpha`` with probability ``power``,
    if the differences spread as they did here (their sample SD). nan for fewer than two pairs."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return float("nan")
    return mde_effect_size(len(d), alpha, power) * float(d.std(ddof=1))


def column_mde(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline",
               alpha: float = MDE_ALPHA, power: float = MDE_POWER) -> pd.DataFrame:
    """Minimum detectable effects per (dataset, shots) column of a table: the SD of the paired
    differences to ``baseline`` pooled over the column's methods (degrees-of-freedom weighted
    variance), with the column's median number of pairs.

    ``mde`` is for one comparison at ``alpha`` (a comparison chosen before the run, e.g. the
    positive control). The tables' ↑/↓ marks are Holm-corrected over the column's ``m`` methods,
    and Holm's first step tests the smallest p at ``alpha / m``; so ``mde_holm`` (the MDE at
    ``alpha / m``) is what a gain needs to be marked with probability ``power`` when it is the
    column's only real effect. With several real effects Holm's later steps are less strict, so it
    is an upper bound. Columns: dataset, shots, n_pairs, m, sd, mde, mde_holm."""
    paired = paired_vs_baseline(df, metric, baseline)
    rows = []
    for (dataset, shots), col in paired.groupby(["dataset", "shots"]):
        m = int(col["p_value"].notna().sum())  # the comparisons Holm corrects over (paired_vs_baseline)
        col = col[col["n_pairs"] >= 2]
        if col.empty:
            continue
        dof = col["n_pairs"] - 1
        sd = float(np.sqrt((dof * col["sd"] ** 2).sum() / dof.sum()))
        n = int(np.median(col["n_pairs"]))
        rows.append({"dataset": dataset, "shots": shots, "n_pairs": n, "m": m, "sd": sd,
                     "mde": mde_effect_size(n, alpha, power) * sd,
                     "mde_holm": mde_effect_size(n, alpha / max(m, 1), power) * sd})
    return pd.DataFrame(rows, columns=["dataset", "shots", "n_pairs", "m", "sd", "mde", "mde_holm"])


# ---------------------------------------------------------------------------------------------
# Paper-table statistics: which metrics, which direction, significance marks, Holm, equivalence.
# ---------------------------------------------------------------------------------------------

#: (pattern, lowest, highest) values a metric can take. A mean ± CI band is clipped to this range
#: (``summarize``'s ``ci_lo``/``ci_hi``): a t interval over a few seeds can leave it, e.g. FID < 0.
#: KID's estimator is unbiased and can itself be slightly negative; the band is still clipped at 0,
#: the smallest value of the distance it estimates.
METRIC_RANGE: list[tuple[str, float, float]] = [
    (r"^(.+_)?accuracy(_.+)?$", 0.0, 1.0),
    (r"^(precision|recall|coverage)_.+$", 0.0, 1.0),
    (r"^cas$", 0.0, 1.0),
    (r"^(fid|kid|kid_norm_x1e3|density)(_.+)?$", 0.0, np.inf),
    (r"^is(_.+)?$", 1.0, np.inf),
    (r"^memorisation_ratio$", 0.0, np.inf),
]


def metric_info(name: str) -> tuple[str, bool | None] | None:
    """(human title, higher_is_better) for a table metric, or None if it is not a table metric
    (see bench.metric_catalog, which says so for every metric the report knows)."""
    from bench.metric_catalog import describe

    m = describe(name)
    return (m.title, m.higher) if m else None


def metric_range(name: str) -> tuple[float, float]:
    """(lowest, highest) value ``name`` can take; (-inf, inf) when not known."""
    import re

    for pattern, lo, hi in METRIC_RANGE:
        if re.match(pattern, name):
            return lo, hi
    return -np.inf, np.inf


def mde_text(value: float, metric: str, digits: int, scale: float = 1.0) -> str:
    """An MDE for display (times ``scale``, e.g. 100 for pp): "> span" when it is wider than the
    metric's whole range, since no gain these seeds could show would then be detected."""
    lo, hi = metric_range(metric)
    return f"> {(hi - lo) * scale:g}" if value > hi - lo else f"{value * scale:.{digits}f}"


def table_metrics(df: pd.DataFrame) -> list[str]:
    """The metric columns present in ``df`` that get summary tables, in the catalogue's order
    (accuracy first). Left out: within-cell spreads (``*_std``, e.g. IS over splits) and facts about
    the metric machinery (``detail_generation_*``, e.g. the reference classifier's own accuracy)."""
    from bench.metric_catalog import describe

    cols = [c for c in df.columns if describe(c) is not None and pd.api.types.is_numeric_dtype(df[c])
            and df[c].notna().any() and not c.endswith("_std") and not c.startswith("detail_generation_")]
    return sorted(cols, key=lambda c: (describe(c).order, c))


def holm(p_values: Iterable[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in input order; nan stays nan and is not counted."""
    p = np.asarray(list(p_values), dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value (scipy.stats.ttest_rel); 1 for identical pairs, 0 for a
    constant non-zero difference, nan for fewer than two pairs."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2:
        return float("nan")
    d = a - b
    if np.all(d == 0):
        return 1.0
    if np.all(d == d[0]):
        return 0.0
    with warnings.catch_warnings():  # near-constant differences: scipy warns, the p-value is still defined
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(a, b).pvalue)


def significance(df: pd.DataFrame, metric: str, higher: bool | None, baseline: str = "baseline",
                 alpha: float = 0.05) -> pd.DataFrame:
    """Per (dataset, shots, method): mean, ci95, n, ``best`` (best mean of the column), ``tie``
    (not significantly different from the best: Holm-adjusted paired p ≥ alpha), ``vs_base``
    (+1 / -1 significantly better / worse than ``baseline``, 0 otherwise) and both adjusted p."""
    summ = summarize(df, metric)
    if summ.empty:
        return summ
    ok = df[(df["status"] == "ok")].dropna(subset=[metric]) if "status" in df else df.dropna(subset=[metric])
    summ = summ.assign(best=False, tie=False, vs_base=0, p_best=np.nan, p_base=np.nan)
    for (dataset, shots), col in summ.groupby(["dataset", "shots"]):
        vals = {m: g.set_index("seed")[metric] for m, g in ok[(ok["dataset"] == dataset) & (ok["shots"] == shots)]
                .groupby("method")}

        def p_between(m1: str, m2: str, vals: dict = vals) -> float:
            common = vals[m1].index.intersection(vals[m2].index)
            return paired_p(vals[m1].loc[common].to_numpy(), vals[m2].loc[common].to_numpy())

        if higher is not None:
            best_i = col["mean"].idxmax() if higher else col["mean"].idxmin()
            best = summ.at[best_i, "method"]
            summ.at[best_i, "best"] = True
            others = [i for i in col.index if i != best_i]
            adj = holm([p_between(summ.at[i, "method"], best) for i in others])
            for i, p in zip(others, adj, strict=True):
                summ.at[i, "p_best"] = p
                summ.at[i, "tie"] = bool(p >= alpha)
            if baseline in vals:
                rest = [i for i in col.index if summ.at[i, "method"] != baseline]
                base_mean = col.loc[col["method"] == baseline, "mean"].iat[0]
                adj = holm([p_between(summ.at[i, "method"], baseline) for i in rest])
                for i, p in zip(rest, adj, strict=True):
                    summ.at[i, "p_base"] = p
                    if p < alpha:
                        better = (summ.at[i, "mean"] > base_mean) == higher
                        summ.at[i, "vs_base"] = 1 if better else -1
    return summ


def real_label_equivalence(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> pd.DataFrame:
    """For each (dataset, method, shots): how many real labelled shots per class the baseline needs
    to reach the method's mean ``metric``, read off the baseline's mean-vs-shots curve by linear
    interpolation in shots. The curve is made non-decreasing first (running maximum), so the answer
    is the first crossing. ``below``/``above`` flag values outside the measured range."""
    summ = summarize(df, metric)
    rows = []
    for dataset, s in summ.groupby("dataset"):
        base = s[s["method"] == baseline].sort_values("shots")
        if len(base) == 0:
            continue
        xs = base["shots"].to_numpy(float)
        env = np.maximum.accumulate(base["mean"].to_numpy(float))
        for _, r in s[s["method"] != baseline].iterrows():
            eq, where = equivalent_shots(r["mean"], xs, env)
            rows.append({"dataset": dataset, "method": r["method"], "shots": r["shots"], "mean": r["mean"],
                         "equiv_shots": eq, "range": where, "ratio": eq / r["shots"] if where == "in" else np.nan})
    return pd.DataFrame(rows, columns=["dataset", "method", "shots", "mean", "equiv_shots", "range", "ratio"])


def equivalent_shots(value: float, xs: np.ndarray, curve: np.ndarray) -> tuple[float, str]:
    """First x where the non-decreasing ``curve`` reaches ``value`` (linear between points):
    (x, "in"), or (xs[0], "below") / (xs[-1], "above") outside the curve's range."""
    if value > curve[-1]:
        return float(xs[-1]), "above"
    if value < curve[0]:
        return float(xs[0]), "below"
    i = int(np.argmax(curve >= value))
    if i == 0 or curve[i] == curve[i - 1]:
        return float(xs[i]), "in"
    t = (value - curve[i - 1]) / (curve[i] - curve[i - 1])
    return float(xs[i - 1] + t * (xs[i] - xs[i - 1])), "in"
