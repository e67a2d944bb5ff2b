"""Paper-style tables from a long table: methods × shots, rendered as Markdown, LaTeX, HTML.

A :class:`Table` holds plain cells (text plus marks) and a note; the renderers only format.

Marks (decided here, written under every table):

* **bold** — best mean of the column (lowest for FID/KID, highest for accuracy and IS);
* ``†`` — not significantly different from the best: two-sided paired t-test over shared seeds
  (scipy.stats.ttest_rel), Holm-adjusted across the methods of the column, p ≥ α;
* ``↑`` / ``↓`` — significantly better / worse than the baseline: the same paired test against the
  baseline, Holm-adjusted across the non-baseline methods of the column, p < α.

Cells are "mean ± CI95" (t interval over seeds); the number of seeds is in the caption and a cell
that has fewer than the table's n says so, e.g. "0.712 ± 0.031 (n=2)". A column's family for
Holm's correction is one (dataset, metric, shots) column. A column with one method has no best.

Every table whose metric the baseline also has (the accuracies) ends with two **MDE** rows: the
minimum detectable paired effect of the column (two-sided paired t-test, α = 0.05, power 0.8,
exact noncentral t; the SD of the paired differences to the baseline pooled over the column's
methods; see bench.aggregate.column_mde) for one comparison, and the same at α/m, what a gain
needs to get the Holm-corrected ↑/↓ mark over the column's m methods. A true gain smaller than
them is likely to go unseen or unmarked.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.aggregate import (
    MDE_ALPHA,
    MDE_POWER,
    column_mde,
    mde_text,
    paired_vs_baseline,
    real_label_equivalence,
    significance,
)
from bench.costs import COST_COLUMNS, cost_table, fmt_cost
from bench.metric_catalog import describe

ALPHA = 0.05
MDE_LABEL = f"MDE (α = {MDE_ALPHA:g}, power {MDE_POWER:g})"
MDE_HOLM_LABEL = f"MDE for a mark (α/m, power {MDE_POWER:g})"
MDE_NOTE = (f"{MDE_LABEL}: the smallest true paired difference to the baseline that this column's seeds detect "
            f"with probability {MDE_POWER:g} (two-sided paired t-test at α = {MDE_ALPHA:g}, exact noncentral t, "
            "SD of the paired differences pooled over the column's methods): the power of one comparison chosen "
            f"in advance. {MDE_HOLM_LABEL}: the same at α/m, m the methods Holm corrects over in the column "
            "(shown beside it): the gain that gets a ↑/↓ mark with probability "
            f"{MDE_POWER:g} when it is the column's only real effect (Holm's first step); an upper bound when "
            "several methods differ from the baseline.")
RANGE_NOTE = " An MDE shown as \"> span\" is wider than the metric's whole range: these seeds could detect no gain."


def _mde_note(foot: list[list[Cell]]) -> str:
    return MDE_NOTE + (RANGE_NOTE if any(c.text.startswith("> ") for row in foot for c in row) else "")


@dataclass
class Cell:
    text: str
    bold: bool = False
    marks: str = ""  # any of "†", "↑", "↓"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[Cell]]  # first cell of each row is the row label
    note: str = ""
    align: list[str] = field(default_factory=list)  # "l" or "r" per column
    foot: list[list[Cell]] = field(default_factory=list)  # rows about the columns (MDE), set apart


def _digits(metric: str, values: pd.Series) -> int:
    scale = float(np.nanmax(np.abs(values))) if len(values) and np.isfinite(values).any() else 1.0
    return 3 if scale < 10 else (2 if scale < 100 else 1)


def method_order(methods: list[str], baseline: str = "baseline") -> list[str]:
    return list(dict.fromkeys(([baseline] if baseline in methods else []) + sorted(methods)))


def _mde_row(df: pd.DataFrame, metric: str, dataset: str, shots: list, baseline: str, digits: int) -> list[list[Cell]]:
    """The MDE rows of a table, one comparison and Holm-marked (empty when no column has two pairs
    with the baseline). An MDE wider than the metric's whole range (few pairs, many methods) is
    shown as "> range": no gain these seeds could show would be detected."""
    m = column_mde(df, metric, baseline)
    m = m[m["dataset"] == dataset].set_index("shots")
    if m.empty:
        return []
    return [[Cell(MDE_LABEL)] + [Cell(mde_text(m.at[k, "mde"], metric, digits)) if k in m.index else Cell("—")
                                 for k in shots],
            [Cell(MDE_HOLM_LABEL)] + [Cell(f"{mde_text(m.at[k, 'mde_holm'], metric, digits)} (m={int(m.at[k, 'm'])})"
                                           if k in m.index else "—") for k in shots]]


def summary_tables(df: pd.DataFrame, metric: str, baseline: str = "baseline", alpha: float = ALPHA) -> list[Table]:
    """One table per dataset: rows = methods, columns = shots, cells mean ± CI95 with marks."""
    info = describe(metric)
    label, higher = (info.title, info.higher) if info else (metric, None)
    sig = significance(df, metric, higher, baseline, alpha)
    tables = []
    for dataset, s in sig.groupby("dataset"):
        n_max = int(s["n"].max())
        shots = sorted(s["shots"].unique())
        digits = _digits(metric, s["mean"])
        per_col = s.groupby("shots")["method"].nunique()
        rows = []
        for m in method_order(list(s["method"].unique()), baseline):
            row = [Cell(m)]
            for k in shots:
                r = s[(s["method"] == m) & (s["shots"] == k)]
                if not len(r):
                    row.append(Cell("—"))
                    continue
                r = r.iloc[0]
                txt = f"{r['mean']:.{digits}f}"
                if r["n"] >= 2 and np.isfinite(r["ci95"]):
                    txt += f" ± {r['ci95']:.{digits}f}"
                if r["n"] < n_max:
                    txt += f" (n={int(r['n'])})"
                marks = ("†" if r["tie"] else "") + {1: "↑", -1: "↓"}.get(int(r["vs_base"]), "")
                row.append(Cell(txt, bool(r["best"]) and per_col[k] > 1, marks))
            rows.append(row)
        direction = info.direction if info else "no better direction"
        unit = f" ({info.unit})" if info and info.unit else ""
        note = f"Mean ± 95 % CI (t) over n = {n_max} seed(s){unit}; {direction}."
        if higher is not None and (per_col > 1).any():
            note += (f" Bold: best mean. †: not significantly different from the best; ↑/↓: significantly "
                     f"better/worse than `{baseline}`. Two-sided paired t-test over shared seeds "
                     f"(scipy.stats.ttest_rel), Holm correction across the methods of each column, α = {alpha}.")
        foot = _mde_row(df, metric, dataset, shots, baseline, digits)
        if foot:
            note += " " + _mde_note(foot)
        from bench.aggregate import excluded_note

        note += excluded_note(df, dataset)  # failed/diverged cells: named, never averaged, never best
        tables.append(Table(f"{dataset}: {label}", ["method"] + [f"{k}-shot" for k in shots], rows, note,
                            ["l"] + ["r"] * len(shots), foot))
    return tables


def fmt_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def paired_tables(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline",
                  alpha: float = ALPHA) -> list[Table]:
    """The verdict, one table per dataset: each method's mean paired difference to ``baseline``
    (same labelled set per seed) ± 95 % CI, ↑/↓ where the Holm-adjusted paired p (across the
    methods of the column) is below ``alpha``, that p, and the column's MDE row."""
    paired = paired_vs_baseline(df, metric, baseline)
    info = describe(metric)
    higher = info.higher if info else True
    tables = []
    for dataset, p in (paired.groupby("dataset") if not paired.empty else []):
        shots = sorted(p["shots"].unique())
        rows = []
        for m in method_order(list(p["method"].unique()), baseline):
            row = [Cell(m)]
            for k in shots:
                r = p[(p["method"] == m) & (p["shots"] == k)]
                if not len(r):
                    row.append(Cell("—"))
                    continue
                r = r.iloc[0]
                txt = f"{r['diff']:+.3f}"
                mark = ""
                if np.isfinite(r["ci95"]):
                    txt += f" ± {r['ci95']:.3f} ({fmt_p(r['p_holm'])})"
                    if r["p_holm"] < alpha and r["diff"] != 0:
                        mark = "↑" if (r["diff"] > 0) == bool(higher) else "↓"
                row.append(Cell(txt, marks=mark))
            rows.append(row)
        lo, hi = int(p["n_pairs"].min()), int(p["n_pairs"].max())
        n = (f"n = {hi} shared seed(s)" if lo == hi else
             f"n = {lo}–{hi} shared seeds (per cell: fewer where a method has not finished every seed)")
        note = (f"Mean paired difference to `{baseline}` over {n} (same labelled set per seed) "
                f"± 95 % CI (t); p: two-sided paired t-test (scipy.stats.ttest_rel), Holm-adjusted across the "
                f"methods of each column; ↑/↓: significantly better/worse than `{baseline}` at α = {alpha}. ")
        foot = _mde_row(df, metric, dataset, shots, baseline, 3)
        note += _mde_note(foot)
        label = info.title if info else metric
        tables.append(Table(f"{dataset}: gain over {baseline}, {label.lower() if metric == 'accuracy' else label}",
                            ["method"] + [f"{k}-shot" for k in shots], rows, note, ["l"] + ["r"] * len(shots),
                            foot))
    return tables


def leaderboard(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> str:
    """What ``bench run`` prints and writes to leaderboard.md: the summary table of ``metric`` and
    the paired differences to ``baseline``, per dataset, as Markdown."""
    tables = summary_tables(df, metric, baseline) if metric in df else []
    if not tables:
        return f"(no finished records with {metric})\n"
    return "\n".join(to_markdown(t) for t in tables + paired_tables(df, metric, baseline))


def equivalence_table(df: pd.DataFrame, baseline: str = "baseline", metric: str = "accuracy",
                      alpha: float = ALPHA) -> list[Table]:
    """Real-label equivalence: baseline shots per class needed to match each method's accuracy.
    Only where it means something: the baseline was run at two or more shot counts (one point is
    no curve), and the method differs significantly from the baseline at its own shots (Holm,
    ``alpha``); otherwise the cell says "n.s." instead of reading noise off the curve."""
    eq = real_label_equivalence(df, metric, baseline)
    paired = paired_vs_baseline(df, metric, baseline).set_index(["dataset", "method", "shots"])
    tables = []
    for dataset, e in eq.groupby("dataset"):
        shots = sorted(e["shots"].unique())
        base = df[(df["dataset"] == dataset) & (df["method"] == baseline)]["shots"]
        if base.nunique() < 2:
            continue
        lo, hi = int(base.min()), int(base.max())
        rows = []
        for m in method_order(list(e["method"].unique()), baseline):
            row = [Cell(m)]
            for k in shots:
                r = e[(e["method"] == m) & (e["shots"] == k)]
                if not len(r):
                    row.append(Cell("—"))
                    continue
                r = r.iloc[0]
                p = paired["p_holm"].get((dataset, m, k), np.nan)
                if not p < alpha:
                    row.append(Cell("n.s."))
                elif r["range"] == "above":
                    row.append(Cell(f"> {hi}"))
                elif r["range"] == "below":
                    row.append(Cell(f"< {lo}"))
                else:
                    row.append(Cell(f"{r['equiv_shots']:.1f} (×{r['ratio']:.2f})"))
            rows.append(row)
        note = (f"Real shots per class that `{baseline}` needs to reach each method's mean {metric}, "
                f"interpolated linearly on `{baseline}`'s mean {metric}-vs-shots curve (made non-decreasing); "
                f"× = ratio to the method's own shots; \"> {hi}\" / \"< {lo}\": outside the measured range; "
                f"n.s.: not significantly different from `{baseline}` at those shots (paired t-test, Holm, "
                f"α = {alpha}), so no equivalence is read off.")
        tables.append(Table(f"{dataset}: real-label equivalence", ["method"] + [f"{k}-shot" for k in shots],
                            rows, note, ["l"] + ["r"] * len(shots)))
    return tables


def cost_tables(df: pd.DataFrame, baseline: str = "baseline") -> list[Table]:
    costs = cost_table(df)
    tables = []
    for dataset, c in costs.groupby("dataset"):
        cols = [(col, head, kind) for col, head, kind in COST_COLUMNS
                if col in c and c[col].notna().any() and (c[col].fillna(0) != 0).any()]  # drop all-zero phases
        rows = []
        for m in method_order(list(c["method"]), baseline):
            r = c[c["method"] == m].iloc[0]
            rows.append([Cell(m), Cell(str(int(r["cells"])))] + [Cell(fmt_cost(r[col], kind)) for col, _, kind in cols])
        devices = ", ".join(sorted(set(df.loc[df["dataset"] == dataset, "device"].dropna().astype(str)))) if "device" in df else "?"
        note = (f"Mean per finished cell (all shots and seeds) on {devices}. Times are wall-clock seconds of each "
                "phase; peak RSS is the process's resident memory; method params = parameters the method trains "
                "itself; model size = serialized state dict of the model that predicts (for `prune`: its sparse "
                "serialization) and classifier params = its parameters (for `prune`: the non-zero ones).")
        tables.append(Table(f"{dataset}: cost per cell", ["method", "cells"] + [h for _, h, _ in cols], rows, note,
                            ["l", "r"] + ["r"] * len(cols)))
    return tables


# ---------------------------------------------------------------------------------------------- renderers

def to_markdown(t: Table) -> str:
    def cell(c: Cell) -> str:
        txt = c.text.replace("|", "\\|")
        return (f"**{txt}**" if c.bold else txt) + c.marks

    out = [f"#### {t.title}", "", "| " + " | ".join(t.header) + " |",
           "|" + "|".join("---:" if a == "r" else "---" for a in (t.align or ["l"] * len(t.header))) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    out += ["| " + " | ".join(f"*{cell(c)}*" if c.text != "—" else "—" for c in row) + " |" for row in t.foot]
    if t.note:
        out += ["", t.note]
    return "\n".join(out) + "\n"


_TEX_MARKS = {"†": r"$^{\dagger}$", "↑": r"$^{\uparrow}$", "↓": r"$^{\downarrow}$"}


def tex_escape(s: str) -> str:
    rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "`": "",
           "±": r"$\pm$", "×": r"$\times$", "†": r"$^{\dagger}$", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
           "α": r"$\alpha$", "≥": r"$\geq$", "—": "--", "–": "--", "<": r"$<$", ">": r"$>$"}
    return "".join(rep.get(ch, ch) for ch in s)


def to_latex(t: Table) -> str:
    """A booktabs ``table`` environment; needs ``\\usepackage{booktabs}`` only."""
    def cell(c: Cell) -> str:
        txt = tex_escape(c.text)
        return (rf"\textbf{{{txt}}}" if c.bold else txt) + "".join(_TEX_MARKS[m] for m in c.marks)

    lines = [r"\begin{table}[ht]", r"\centering", r"\small",
             r"\begin{tabular}{" + "".join(t.align or ["l"] * len(t.header)) + "}", r"\toprule",
             " & ".join(tex_escape(h) for h in t.header) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in t.rows]
    if t.foot:
        lines += [r"\midrule"] + [" & ".join(rf"\textit{{{tex_escape(c.text)}}}" for c in row) + r" \\" for row in t.foot]
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex_escape(t.title)}. {tex_escape(t.note)}}}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex_document(tables: list[Table]) -> str:
    body = "\n".join(to_latex(t) for t in tables)
    return ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
            "\\usepackage[margin=2cm,landscape]{geometry}\n\\begin{document}\n" + body + "\\end{document}\n")


MARK_CLASS = {"↑": ("up", "significantly better than the baseline"),
              "↓": ("down", "significantly worse than the baseline"),
              "†": ("tie", "not significantly different from the best")}


_P_SUFFIX = re.compile(r" (\(p(?:=|&lt;)[^)]*\))$")


def to_html(t: Table) -> str:
    """A ``<table class="results">`` in a horizontally scrollable wrapper (phones), the note below.
    Marks get a class each (``up``/``down``/``tie``), so CSS tells them apart by colour and shape."""
    def cell(c: Cell, tag: str = "td") -> str:
        txt = html.escape(c.text)
        # the verdict's "(p=…)" in a smaller grey run, so four shot columns fit a 1280-px page
        txt = _P_SUFFIX.sub(r' <span class="p">\1</span>', txt)
        if c.bold:
            txt = f"<strong>{txt}</strong>"
        for m in c.marks:
            cls, title = MARK_CLASS[m]
            txt += f'<sup class="mark {cls}" title="{title}">{html.escape(m)}</sup>'
        return f"<{tag}>{txt}</{tag}>"

    def row_html(row: list[Cell]) -> str:
        return "<tr>" + cell(row[0], "th") + "".join(cell(c) for c in row[1:]) + "</tr>"

    align = t.align or ["l"] * len(t.header)
    head = "".join(f'<th class="{"num" if a == "r" else ""}">{html.escape(h)}</th>' for h, a in zip(t.header, align, strict=True))
    body = "\n".join(row_html(row) for row in t.rows)
    foot = ("<tfoot>\n" + "\n".join(row_html(row) for row in t.foot) + "\n</tfoot>\n") if t.foot else ""
    return (f'<div class="scroll"><table class="results">\n<caption>{html.escape(t.title)}</caption>\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n{foot}</table></div>\n"
            f"<p class=\"note\">{html.escape(t.note)}</p>\n")


def per_class_tables(df: pd.DataFrame, baseline: str = "baseline") -> list[Table]:
    """One table per dataset whose records name their classes: mean test accuracy per class (columns,
    the dataset's class names in label order) per method, at the dataset's largest shot count."""
    if "classes" not in df:
        return []
    ok = df[(df["status"] == "ok") & df["classes"].notna()]
    tables = []
    for dataset, g in ok.groupby("dataset"):
        classes = str(g["classes"].iat[0]).split("; ")
        cols = [f"accuracy[{c}]" for c in classes]
        if not all(c in g for c in cols):
            continue
        shots = int(g["shots"].max())
        g = g[g["shots"] == shots]
        means = g.groupby("method")[cols].mean()
        n = g.groupby("method").size()
        rows = [[Cell(m)] + [Cell(f"{means.at[m, c]:.3f}" if np.isfinite(means.at[m, c]) else "—") for c in cols]
                for m in method_order(list(means.index), baseline)]
        note = (f"Mean test accuracy per class over seeds (n = {int(n.min())}"
                + (f"–{int(n.max())}" if n.max() != n.min() else "") + f") at {shots} shots per class; "
                "columns are the dataset's classes in label order.")
        tables.append(Table(f"{dataset}: accuracy per class, {shots}-shot", ["method"] + classes, rows, note,
                            ["l"] + ["r"] * len(classes)))
    return tables
