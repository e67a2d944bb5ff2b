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


def _legacy_is(metric: str, record: dict[str, Any]) -> bool:
    """True for an Inception Score recorded before augbench shuffled samples ahead of IS's splits
    (see bench.metrics.inception_score): class-grouped splits made it ~1 whatever the generator,
    so such values are left out of every table rather than compared with valid ones."""
    if not metric.startswith("is_"):
        return False
    gen = (record.get("details") or {}).get("generation") or {}
    entry = gen.get(metric[3:].removesuffix("_std"))
    return isinstance(entry, dict) and "is_splits" in entry and "is_order" not in entry


def ci95(values: np.ndarray) -> float:
    """Half-width of the t-based 95 % confidence interval of the mean (nan for n < 2)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))


def summarize(df: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """mean, std, ci95 and n of ``metric`` over seeds, per (dataset, method, shots); ok records only."""
    ok = df[(df["status"] == "ok")] if "status" in df else df
    if ok.empty or metric not in ok:
        return pd.DataFrame(columns=["dataset", "method", "shots", "n", "mean", "std", "ci95"])
    g = ok.dropna(subset=[metric]).groupby(["dataset", "method", "shots"])[metric]
    out = g.agg(n="count", mean="mean", std="std").reset_index()
    out["ci95"] = g.apply(lambda s: ci95(s.to_numpy())).to_numpy()
    return out


def paired_vs_baseline(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> pd.DataFrame:
    """Per (dataset, method, shots): mean paired difference to ``baseline`` over shared seeds,
    its 95 % CI, and the two-sided paired t-test p-value (scipy.stats.ttest_rel)."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    rows = []
    if ok.empty or baseline not in set(ok["method"]):
        return pd.DataFrame(columns=["dataset", "method", "shots", "n_pairs", "diff", "ci95", "p_value"])
    base = ok[ok["method"] == baseline].set_index(["dataset", "shots", "seed"])[metric]
    for (dataset, method, shots), grp in ok[ok["method"] != baseline].groupby(["dataset", "method", "shots"]):
        g = grp.set_index(["dataset", "shots", "seed"])[metric]
        common = g.index.intersection(base.index)
        a, b = g.loc[common].to_numpy(float), base.loc[common].to_numpy(float)
        d = a - b
        p = float(stats.ttest_rel(a, b).pvalue) if len(d) >= 2 and np.any(d != d[0]) else float("nan")
        rows.append({"dataset": dataset, "method": method, "shots": shots, "n_pairs": len(d),
                     "diff": float(d.mean()) if len(d) else float("nan"), "ci95": ci95(d), "p_value": p})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Paper-table statistics: which metrics, which direction, significance marks, Holm, equivalence.
# ---------------------------------------------------------------------------------------------

#: (pattern, label, higher_is_better). Metrics matching none are kept in the long table only.
#: ``None`` = no "better" direction (e.g. memorisation ratio: < 1 flags copying, > 1 is not "better").
METRIC_INFO: list[tuple[str, str, bool | None]] = [
    (r"^accuracy$", "test accuracy", True),
    (r"^(.+)_accuracy$", "{0} accuracy", True),
    (r"^fid(_(.+))?$", "FID ({1})", False),
    (r"^kid(_(.+))?$", "KID ({1})", False),
    (r"^is(_(.+))?$", "Inception score ({1})", True),
    (r"^memorisation_ratio$", "memorisation ratio (NN distance generated / held-out real)", None),
]


def metric_info(name: str) -> tuple[str, bool | None] | None:
    """(label, higher_is_better) for a table metric, or None if it is not a table metric."""
    import re

    for pattern, label, higher in METRIC_INFO:
        m = re.match(pattern, name)
        if m:
            groups = [g or "" for g in m.groups()]
            return label.format(*groups, *([""] * 3)).replace(" ()", ""), higher
    return None


def table_metrics(df: pd.DataFrame) -> list[str]:
    """The metric columns present in ``df`` that get summary tables, accuracy first. Left out:
    within-cell spreads (``*_std``, e.g. IS over splits) and facts about the metric machinery
    (``detail_generation_*``, e.g. the reference classifier's own test accuracy)."""
    cols = [c for c in df.columns if metric_info(c) is not None and pd.api.types.is_numeric_dtype(df[c])
            and df[c].notna().any() and not c.endswith("_std") and not c.startswith("detail_generation_")]
    return sorted(cols, key=lambda c: (c != "accuracy", not c.endswith("accuracy"), c))


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
