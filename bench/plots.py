"""Figures from a long table (matplotlib, Agg): each is written as PNG and SVG.

* ``accuracy_vs_shots`` — mean test accuracy per method against shots per class (log axis), 95 % CI band;
* ``<metric>_vs_shots`` — the same for generation metrics (FID, KID, IS, memorisation) when records have them;
* ``gain_heatmap`` — paired accuracy gain over the baseline (percentage points), method × shots, with
  the significance marks of the tables;
* ``accuracy_vs_cost`` — mean accuracy against mean compute seconds per cell (fit + generate + train),
  one panel per shot count, Pareto front (no other method is both cheaper and more accurate) marked;
* ``sample_grids`` — a montage of the sample-grid PNGs that generating cells write beside their record.

Legends sit outside the axes; axes carry units. SVGs are written with a fixed hash salt and no
date so that re-rendering the same records gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from bench.aggregate import metric_info, paired_vs_baseline, significance, summarize  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "augbench", "figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "font.size": 10})


def _save(fig: plt.Figure, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{name}.png"
    fig.savefig(png, bbox_inches="tight", dpi=130)
    fig.savefig(out / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return png


MARKERS = "os^Dv"


def _styles(methods: list[str]) -> dict[str, dict]:
    """A colour and a marker per method, no two methods alike: tab10 up to ten methods; beyond
    that tab20, whose neighbours are light/dark pairs of one hue, so the marker differs too."""
    cmap = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    return {m: {"color": cmap(i % cmap.N), "marker": MARKERS[i % len(MARKERS)] if len(methods) > 10 else "o"}
            for i, m in enumerate(methods)}


def _order(methods, baseline: str) -> list[str]:
    methods = list(methods)
    return list(dict.fromkeys(([baseline] if baseline in methods else []) + sorted(methods)))


def metric_vs_shots(df: pd.DataFrame, metric: str, out: Path, baseline: str = "baseline") -> Path | None:
    summ = summarize(df, metric)
    if summ.empty:
        return None
    label = (metric_info(metric) or (metric, None))[0]
    datasets = sorted(summ["dataset"].unique())
    methods = _order(summ["method"].unique(), baseline)
    styles = _styles(methods)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        s = summ[summ["dataset"] == dataset]
        for m in methods:
            r = s[s["method"] == m].sort_values("shots")
            if r.empty:
                continue
            x, y, ci = r["shots"].to_numpy(), r["mean"].to_numpy(), np.nan_to_num(r["ci95"].to_numpy())
            ax.plot(x, y, **styles[m], label=m, lw=2 if m == baseline else 1.5,
                    ls="--" if m == baseline else "-")
            lo, hi = y - ci, y + ci
            if metric.endswith("accuracy"):  # a t interval over 2-3 seeds can leave [0, 1]: clip the band
                lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
            ax.fill_between(x, lo, hi, color=styles[m]["color"], alpha=0.15, lw=0)
        shots = sorted(s["shots"].unique())
        ax.set_xscale("log")
        ax.set_xticks(shots, [str(k) for k in shots])
        ax.minorticks_off()
        ax.set_xlabel("labelled images per class (shots, log scale)")
        ax.set_ylabel(label + (" (fraction correct)" if metric == "accuracy" else ""))
        ax.set_title(f"{dataset}: {label}\nmean ± 95 % CI over n = {int(s['n'].max())} seeds", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), title="method", frameon=False)
    fig.tight_layout()
    return _save(fig, out, f"{metric}_vs_shots")


def gain_heatmap(df: pd.DataFrame, out: Path, metric: str = "accuracy", baseline: str = "baseline") -> Path | None:
    paired = paired_vs_baseline(df, metric, baseline)
    if paired.empty:
        return None
    sig = significance(df, metric, True, baseline)
    datasets = sorted(paired["dataset"].unique())
    n_methods = paired["method"].nunique()
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 + 1.2 * paired["shots"].nunique() * len(datasets),
                                                         1.8 + 0.5 * n_methods), squeeze=False)
    lim = max(1e-9, float(np.nanmax(np.abs(paired["diff"]))) * 100)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        p = paired[paired["dataset"] == dataset]
        methods = sorted(p["method"].unique())
        shots = sorted(p["shots"].unique())
        grid = np.full((len(methods), len(shots)), np.nan)
        for i, m in enumerate(methods):
            for j, k in enumerate(shots):
                r = p[(p["method"] == m) & (p["shots"] == k)]
                if len(r):
                    grid[i, j] = r["diff"].iat[0] * 100
        im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for i, m in enumerate(methods):
            for j, k in enumerate(shots):
                if np.isnan(grid[i, j]):
                    continue
                s = sig[(sig["dataset"] == dataset) & (sig["method"] == m) & (sig["shots"] == k)]
                mark = {1: "↑", -1: "↓"}.get(int(s["vs_base"].iat[0]), "") if len(s) else ""
                ax.text(j, i, f"{grid[i, j]:+.1f}{mark}", ha="center", va="center", fontsize=9,
                        color="white" if abs(grid[i, j]) > 0.6 * lim else "black")
        ax.set_xticks(range(len(shots)), [f"{k}-shot" for k in shots])
        ax.set_yticks(range(len(methods)), methods)
        ax.grid(False)
        ax.set_title(f"{dataset}: {metric} gain over {baseline}", fontsize=10)
        ax.set_xlabel("labelled images per class")
        fig.colorbar(im, ax=ax, label="Δ accuracy (pp)")
    fig.text(0.0, -0.02, "↑/↓: paired t-test over seeds, Holm-corrected, α = 0.05", fontsize=8)
    fig.tight_layout()
    return _save(fig, out, f"{metric}_gain_heatmap")


def pareto_front(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both (lower cost, higher value), by rising cost."""
    order = np.lexsort((-value, cost))
    front, best = [], -np.inf
    for i in order:
        if value[i] > best:
            front.append(i)
            best = value[i]
    return np.array(front, dtype=int)


def accuracy_vs_cost(df: pd.DataFrame, out: Path, baseline: str = "baseline") -> Path | None:
    ok = df[df["status"] == "ok"].copy()
    parts = [c for c in ("fit_s", "generate_s", "train_s") if c in ok]
    if ok.empty or not parts or "accuracy" not in ok:
        return None
    ok["compute_s"] = ok[parts].fillna(0).sum(axis=1)
    g = ok.groupby(["dataset", "shots", "method"]).agg(acc=("accuracy", "mean"), cost=("compute_s", "mean")).reset_index()
    panels = list(g.groupby(["dataset", "shots"]))
    methods = _order(g["method"].unique(), baseline)
    styles = _styles(methods)
    ncols = min(2, len(panels))  # at most two panels a row: readable when the page scales the image down
    nrows = -(-len(panels) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    axes = [list(grid.flat)[: len(panels)]]
    for ax in list(grid.flat)[len(panels):]:
        ax.set_visible(False)
    for ax, ((dataset, shots), p) in zip(axes[0], panels, strict=True):
        for _, r in p.iterrows():
            ax.scatter(r["cost"], r["acc"], **styles[r["method"]], s=45, label=r["method"], zorder=3)
        idx = pareto_front(p["cost"].to_numpy(), p["acc"].to_numpy())
        front = p.iloc[idx]
        ax.step(front["cost"], front["acc"], where="post", color="0.3", lw=1, ls=":", zorder=2, label="Pareto front")
        ax.scatter(front["cost"], front["acc"], s=140, facecolors="none", edgecolors="0.2", zorder=4)
        costs = p["cost"].to_numpy()
        log = costs.min() > 0 and costs.max() / costs.min() > 10
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.15, y=0.15)
        ax.set_xlabel(f"compute per cell (s{', log' if log else ''}; fit + generate + train)")
        ax.set_ylabel("mean test accuracy")
        ax.set_title(f"{dataset}, {shots}-shot", fontsize=10)
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               title="method (ringed: on the front)")
    fig.tight_layout()
    return _save(fig, out, "accuracy_vs_cost")


def sample_montage(df: pd.DataFrame, out: Path) -> Path | None:
    """One sample grid per (generating method, shots): seed-0 (else lowest seed) cell's PNG."""
    if "_path" not in df:
        return None
    ok = df[df["status"] == "ok"].copy()
    ok["grid"] = [Path(p).with_suffix(".png") if isinstance(p, str) else None for p in ok["_path"]]
    ok = ok[[g is not None and g.is_file() for g in ok["grid"]]]
    if ok.empty:
        return None
    ok = ok.sort_values("seed").drop_duplicates(["dataset", "method", "shots"])
    rows = list(ok.groupby(["dataset", "method"]))
    shots = sorted(ok["shots"].unique())
    fig, axes = plt.subplots(len(rows), len(shots), figsize=(2.4 * len(shots), 2.5 * len(rows)), squeeze=False)
    for i, ((dataset, method), g) in enumerate(rows):
        for j, k in enumerate(shots):
            ax = axes[i][j]
            ax.axis("off")
            r = g[g["shots"] == k]
            if len(r):
                ax.imshow(plt.imread(r["grid"].iat[0]), cmap="gray", interpolation="nearest")
                ax.set_title(f"{k}-shot, seed {int(r['seed'].iat[0])}", fontsize=8)
            if j == 0:
                ax.text(-0.08, 0.5, f"{method}\n({dataset})", transform=ax.transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle("generated samples: the grid each generating cell wrote (lowest seed)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out, "sample_grids")


def all_figures(df: pd.DataFrame, out: Path, metrics: list[str], baseline: str = "baseline") -> dict[str, Path]:
    figs: dict[str, Path | None] = {}
    for m in metrics:
        figs[f"{m}_vs_shots"] = metric_vs_shots(df, m, out, baseline)
    figs["accuracy_gain_heatmap"] = gain_heatmap(df, out, "accuracy", baseline)
    figs["accuracy_vs_cost"] = accuracy_vs_cost(df, out, baseline)
    figs["sample_grids"] = sample_montage(df, out)
    return {k: v for k, v in figs.items() if v is not None}
