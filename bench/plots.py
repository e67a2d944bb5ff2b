"""Figures from a long table (matplotlib, Agg): each is written as PNG and SVG.

* ``accuracy_gain_heatmap`` — the verdict: paired accuracy gain over the baseline (percentage
  points), method × shots per dataset, with the tables' Holm-corrected marks and each column's MDE;
* ``<metric>_vs_shots`` — small multiples, one panel per method: its mean against shots per class
  (log axis) with the 95 % CI band, the baseline drawn in every panel for reference where it has
  the metric; bands are clipped to the metric's range (FID, KID ≥ 0; accuracies in [0, 1]);
* ``accuracy_vs_cost`` — mean accuracy against mean compute seconds per cell (fit + generate + train),
  one panel per shot count, Pareto front (no other method is both cheaper and more accurate) marked;
* ``sample_grids`` — a montage of the sample-grid PNGs that generating cells write beside their
  record (the HTML report shows the grids themselves, large, see :func:`sample_grid_files`).

Every figure colours a method with :func:`method_styles` over all the methods of the report, so a
method has one colour throughout; the baseline is always dark grey. Legends sit outside the axes;
axes carry units. SVGs are written with a fixed hash salt and no date so that re-rendering the
same records gives the same files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from bench.aggregate import column_mde, mde_text, paired_vs_baseline, summarize  # noqa: E402
from bench.metric_catalog import describe  # noqa: E402
from bench.store import atomic_write  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "augbench", "figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "font.size": 10})

BASELINE_COLOR = "#333333"
MARKERS = "os^Dv"
# tab20's hues but grey (the baseline's), dark shades then light, then tab20b's darkest and middle shades
PALETTE = ([plt.get_cmap("tab20")(2 * i) for i in range(10) if i != 7]
           + [plt.get_cmap("tab20")(2 * i + 1) for i in range(10) if i != 7]
           + [plt.get_cmap("tab20b")(4 * i) for i in range(5)] + [plt.get_cmap("tab20b")(4 * i + 2) for i in range(5)])


def _save(fig: plt.Figure, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{name}.png"
    # atomic: two runs of one suite may write the same report at once, and the HTML reads the PNGs
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight", dpi=130))
    atomic_write(out / f"{name}.svg",
                 lambda tmp: fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None}))
    plt.close(fig)
    return png


def method_styles(methods, baseline: str = "baseline") -> dict[str, dict]:
    """The one colour/marker mapping of a report: the baseline dark grey, every other method a
    colour by its place in the sorted list. Up to ten methods: tab10, circles. Beyond ten:
    :data:`PALETTE` (28 distinct colours: tab20's dark shades but grey, then its light ones, which
    share a hue with a dark one, then tab20b's darkest and middle shades) with the markers cycling
    too, so every (colour, marker) pair is unique and colours repeat only past 28 methods (then
    with another marker)."""
    others = sorted(m for m in set(methods) if m != baseline)
    if len(others) <= 10:
        return {**{m: {"color": plt.get_cmap("tab10")(i), "marker": "o"} for i, m in enumerate(others)},
                baseline: {"color": BASELINE_COLOR, "marker": "s"}}
    n = len(PALETTE)
    styles = {m: {"color": PALETTE[i % n], "marker": MARKERS[(i + i // n) % len(MARKERS)]}
              for i, m in enumerate(others)}
    styles[baseline] = {"color": BASELINE_COLOR, "marker": "s"}
    return styles


def _order(methods, baseline: str) -> list[str]:
    methods = list(methods)
    return list(dict.fromkeys(([baseline] if baseline in methods else []) + sorted(methods)))


def _band(metric: str, y: np.ndarray, ci: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mean ± CI, clipped to the metric's range (a t interval over 2-3 seeds leaves it easily)."""
    info = describe(metric)
    lo, hi = y - ci, y + ci
    if info is not None:
        lo, hi = np.clip(lo, info.lo, info.hi), np.clip(hi, info.lo, info.hi)
    return lo, hi


def metric_vs_shots(df: pd.DataFrame, metric: str, out: Path, baseline: str = "baseline",
                    styles: dict[str, dict] | None = None, ncols: int = 4) -> Path | None:
    """Small multiples: one panel per (dataset, method), the baseline in grey behind each method."""
    summ = summarize(df, metric)
    if summ.empty:
        return None
    info = describe(metric)
    label = info.axis_label if info else metric
    styles = styles or method_styles(df["method"].unique(), baseline)
    panels = [(d, m) for d in sorted(summ["dataset"].unique())
              for m in _order(summ.loc[summ["dataset"] == d, "method"].unique(), baseline)
              if m != baseline or (summ.loc[summ["dataset"] == d, "method"] == baseline).all()]
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(2.9 * ncols + 0.6, 2.5 * nrows + 0.9), squeeze=False,
                             sharex=True, sharey=True)
    for ax in list(grid.flat)[len(panels):]:
        ax.set_visible(False)
    for ax, (dataset, m) in zip(grid.flat, panels, strict=False):
        s = summ[summ["dataset"] == dataset]
        for who in ([baseline] if m != baseline else []) + [m]:
            r = s[s["method"] == who].sort_values("shots")
            if r.empty:
                continue
            x, y, ci = r["shots"].to_numpy(), r["mean"].to_numpy(), np.nan_to_num(r["ci95"].to_numpy())
            lo, hi = _band(metric, y, ci)
            st = styles.get(who, {"color": "C0", "marker": "o"})
            ax.plot(x, y, color=st["color"], marker=st["marker"], ms=4, lw=1.8 if who == m else 1.2,
                    ls="--" if who == baseline and who != m else "-", label=who, zorder=3 if who == m else 2)
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.18 if who == m else 0.08, lw=0)
            if len(x) == 1:  # one shot count: a band has no width, show the interval as an error bar
                ax.errorbar(x, y, yerr=[y - lo, hi - y], color=st["color"], capsize=3, lw=1)
        # the title in black: light palette colours are hard to read as text; the line carries the colour
        ax.set_title(m + (f" ({dataset})" if summ["dataset"].nunique() > 1 else ""), fontsize=9)
        shots = sorted(s["shots"].unique())
        ax.set_xscale("log")
        ax.set_xticks(shots, [str(k) for k in shots])
        ax.minorticks_off()
        if len(shots) == 1:
            ax.set_xlim(shots[0] / 1.5, shots[0] * 1.5)
        ax.tick_params(labelbottom=True, labelsize=8)  # sharex hides them above the last row
    for ax in grid[:, 0]:
        ax.set_ylabel("\n".join(textwrap.wrap(label, 28)), fontsize=9)
    fig.supxlabel("labelled images per class (shots, log scale)", fontsize=9)
    n = int(summ["n"].max())
    base_note = f"; dashed grey: {baseline}" if baseline in set(summ["method"]) else ""
    title = f"{info.title if info else metric}: mean ± 95 % CI over n = {n} seeds{base_note}"
    lines = textwrap.wrap(title, 40 * ncols)
    fig.suptitle("\n".join(lines), fontsize=10)
    # keep a band for the suptitle: tight_layout alone let it touch the first row's panel titles
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.1 + 0.2 * len(lines)) / fig.get_figheight()))
    return _save(fig, out, f"{metric}_vs_shots")


def gain_heatmap(df: pd.DataFrame, out: Path, metric: str = "accuracy", baseline: str = "baseline",
                 alpha: float = 0.05) -> Path | None:
    paired = paired_vs_baseline(df, metric, baseline)
    if paired.empty:
        return None
    mdes = column_mde(df, metric, baseline)
    datasets = sorted(paired["dataset"].unique())
    n_methods = paired["method"].nunique()
    n_shots = paired["shots"].nunique()
    fig, axes = plt.subplots(1, len(datasets), figsize=(2.6 + 1.25 * n_shots * len(datasets), 1.5 + 0.42 * n_methods),
                             squeeze=False)
    lim = max(1e-9, float(np.nanmax(np.abs(paired["diff"]))) * 100)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        p = paired[paired["dataset"] == dataset]
        methods = sorted(p["method"].unique())
        shots = sorted(p["shots"].unique())
        grid = np.full((len(methods), len(shots)), np.nan)
        marks = {}
        for i, m in enumerate(methods):
            for j, k in enumerate(shots):
                r = p[(p["method"] == m) & (p["shots"] == k)]
                if len(r):
                    grid[i, j] = r["diff"].iat[0] * 100
                    ph = r["p_holm"].iat[0]
                    marks[i, j] = ("↑" if grid[i, j] > 0 else "↓") if ph < alpha and grid[i, j] != 0 else ""
        im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for (i, j), mark in marks.items():
            ax.text(j, i, f"{grid[i, j]:+.1f}{mark}", ha="center", va="center", fontsize=9,
                    fontweight="bold" if mark else "normal",
                    color="white" if abs(grid[i, j]) > 0.6 * lim else "black")
        md = mdes[mdes["dataset"] == dataset].set_index("shots")
        ax.set_xticks(range(len(shots)), [f"{k}-shot" + (f"\nMDE {mde_text(md.at[k, 'mde'], metric, 1, 100)}"
                                                          f"\nmark {mde_text(md.at[k, 'mde_holm'], metric, 1, 100)}"
                                                         if k in md.index else "") for k in shots])
        ax.set_yticks(range(len(methods)), methods)
        ax.grid(False)
        ax.set_title(f"{dataset}: gain over {baseline}", fontsize=10)
        fig.colorbar(im, ax=ax, label=f"Δ {metric} (pp)")
    fig.text(0.0, -0.03, "bold ↑/↓: paired t-test over seeds, Holm-corrected per column, α = 0.05.\n"
             "MDE: smallest gain (pp) one comparison detects with power 0.8; mark: the same for a Holm ↑/↓ "
             "(α/m, m methods per column)", fontsize=8)
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


def accuracy_vs_cost(df: pd.DataFrame, out: Path, baseline: str = "baseline",
                     styles: dict[str, dict] | None = None) -> Path | None:
    ok = df[df["status"] == "ok"].copy()
    parts = [c for c in ("fit_s", "generate_s", "train_s") if c in ok]
    if ok.empty or not parts or "accuracy" not in ok:
        return None
    ok["compute_s"] = ok[parts].fillna(0).sum(axis=1)
    g = ok.groupby(["dataset", "shots", "method"]).agg(acc=("accuracy", "mean"), cost=("compute_s", "mean")).reset_index()
    panels = list(g.groupby(["dataset", "shots"]))
    styles = styles or method_styles(df["method"].unique(), baseline)
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


def sample_grid_files(df: pd.DataFrame) -> pd.DataFrame:
    """One sample grid per (dataset, generating method, shots): the lowest seed's PNG written beside
    its record. Columns dataset, method, shots, seed, grid (a Path), labelled (the PNG carries its
    rows' class names; older records' grids do not); sorted."""
    cols = ["dataset", "method", "shots", "seed", "grid", "labelled"]
    if "_path" not in df:
        return pd.DataFrame(columns=cols)
    ok = df[df["status"] == "ok"].copy()
    ok["grid"] = [Path(p).with_suffix(".png") if isinstance(p, str) else None for p in ok["_path"]]
    ok = ok[[g is not None and g.is_file() for g in ok["grid"]]]
    rows = ok["detail_generation_grid_label_rows"] if "detail_generation_grid_label_rows" in ok else pd.Series(0, ok.index)
    ok["labelled"] = rows.fillna(0) > 0
    ok = ok.sort_values(["dataset", "method", "shots", "seed"]).drop_duplicates(["dataset", "method", "shots"])
    return ok[cols].reset_index(drop=True)


def sample_montage(df: pd.DataFrame, out: Path) -> Path | None:
    """All of :func:`sample_grid_files` in one figure (for papers; the HTML shows them one by one)."""
    ok = sample_grid_files(df)
    if ok.empty:
        return None
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
    styles = method_styles(df["method"].unique(), baseline)  # one mapping for every figure
    figs: dict[str, Path | None] = {}
    figs["accuracy_gain_heatmap"] = gain_heatmap(df, out, "accuracy", baseline)
    for m in metrics:
        figs[f"{m}_vs_shots"] = metric_vs_shots(df, m, out, baseline, styles)
    figs["accuracy_vs_cost"] = accuracy_vs_cost(df, out, baseline, styles)
    figs["sample_grids"] = sample_montage(df, out)
    return {k: v for k, v in figs.items() if v is not None}
