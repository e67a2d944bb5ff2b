"""From records to numbers: the pandas long table, mean ± 95 % CI over seeds, and paired tests
against the no-augmentation baseline (same dataset, shots and seed, so the same labelled set)."""

from __future__ import annotations

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
            "method": r["method"]["name"], "method_version": r["method"]["version"],
            "preset": r["method"].get("preset"), "config_hash": r["method"]["config_hash"],
            "shots": r["task"]["shots"], "seed": r["task"]["seed"], "status": r["status"], "key": r["key"],
            "finished_at": r["finished_at"], "device": r["environment"].get("device"),
            "git_commit": r["environment"].get("git_commit"),
            "error": (r.get("error") or {}).get("message"),
        }
        for k, v in r["metrics"].items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                row[k] = v
        for k, v in r["timings"].items():
            row[k] = v
        for k, v in r["memory"].items():
            row[k] = v
        for k, v in (r.get("cost") or {}).items():  # trainable parameters (older records lack it)
            row[k] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=CELL + ["status", "accuracy"])
    # One row per cell: if a config or version changed, the newest record wins.
    df = df.sort_values("finished_at").drop_duplicates(CELL, keep="last")
    return df.sort_values(["dataset", "method", "shots", "seed"]).reset_index(drop=True)


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


def _fmt(mean: float, ci: float, n: int, digits: int = 3) -> str:
    if np.isnan(mean):
        return "—"
    if n < 2 or np.isnan(ci):
        return f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def leaderboard(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> str:
    """Markdown: per dataset, methods × shots of mean ± 95 % CI, then the paired Δ vs baseline."""
    summ = summarize(df, metric)
    if summ.empty:
        return f"(no finished records with {metric})\n"
    paired = paired_vs_baseline(df, metric, baseline)
    order = list(dict.fromkeys([baseline] + sorted(set(summ["method"]))))
    out = []
    for dataset, s in summ.groupby("dataset"):
        n_seeds = int(s["n"].max())
        out.append(f"### {dataset}: test {metric}, mean ± 95 % CI over seeds (n = {n_seeds})\n")
        shots = sorted(s["shots"].unique())
        out.append("| method | " + " | ".join(f"{k}-shot" for k in shots) + " |")
        out.append("|---|" + "---:|" * len(shots))
        for m in [m for m in order if m in set(s["method"])]:
            cells = []
            for k in shots:
                r = s[(s["method"] == m) & (s["shots"] == k)]
                cells.append(_fmt(r["mean"].iat[0], r["ci95"].iat[0], int(r["n"].iat[0])) if len(r) else "—")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        p = paired[paired["dataset"] == dataset] if not paired.empty else paired
        if not p.empty:
            out.append(f"\nPaired difference to `{baseline}` (same labelled set per seed), "
                       "mean ± 95 % CI, two-sided paired t-test p:\n")
            out.append("| method | " + " | ".join(f"{k}-shot" for k in shots) + " |")
            out.append("|---|" + "---:|" * len(shots))
            for m in [m for m in order if m in set(p["method"])]:
                cells = []
                for k in shots:
                    r = p[(p["method"] == m) & (p["shots"] == k)]
                    if not len(r):
                        cells.append("—")
                        continue
                    pv = r["p_value"].iat[0]
                    cells.append(f"{r['diff'].iat[0]:+.3f} ± {r['ci95'].iat[0]:.3f} (p={pv:.2g})"
                                 if not np.isnan(r["ci95"].iat[0]) else f"{r['diff'].iat[0]:+.3f}")
                out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out) + "\n"


COST_COLUMNS = {"fit_s": "fit s", "train_s": "classifier train s", "peak_rss_mb": "peak RSS MB",
                "classifier_trainable_params": "classifier trainable params",
                "method_trainable_params": "method trainable params"}


def cost_table(df: pd.DataFrame) -> str:
    """Markdown: per dataset and method, the median over cells of each cost column (ok records)."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    cols = [c for c in COST_COLUMNS if c in ok]
    if ok.empty or not cols:
        return ""
    out = []
    for dataset, g in ok.groupby("dataset"):
        out.append(f"### {dataset}: cost per cell (median over cells)\n")
        out.append("| method | " + " | ".join(COST_COLUMNS[c] for c in cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        med = g[cols].apply(pd.to_numeric, errors="coerce").groupby(g["method"]).median()
        for m, row in med.iterrows():
            cells = ["—" if pd.isna(row[c]) else (f"{row[c]:.1f}" if c.endswith(("_s", "_mb")) else f"{int(row[c]):,}")
                     for c in cols]
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out) + "\n"
