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
Holm's correction is one (dataset, metric, shots) column.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.aggregate import metric_info, paired_vs_baseline, real_label_equivalence, significance
from bench.costs import COST_COLUMNS, cost_table, fmt_cost

ALPHA = 0.05


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


def _digits(metric: str, values: pd.Series) -> int:
    scale = float(np.nanmax(np.abs(values))) if len(values) and np.isfinite(values).any() else 1.0
    return 3 if scale < 10 else (2 if scale < 100 else 1)


def method_order(methods: list[str], baseline: str = "baseline") -> list[str]:
    return list(dict.fromkeys(([baseline] if baseline in methods else []) + sorted(methods)))


def summary_tables(df: pd.DataFrame, metric: str, baseline: str = "baseline", alpha: float = ALPHA) -> list[Table]:
    """One table per dataset: rows = methods, columns = shots, cells mean ± CI95 with marks."""
    info = metric_info(metric)
    label, higher = info if info else (metric, None)
    sig = significance(df, metric, higher, baseline, alpha)
    tables = []
    for dataset, s in sig.groupby("dataset"):
        n_max = int(s["n"].max())
        shots = sorted(s["shots"].unique())
        digits = _digits(metric, s["mean"])
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
                row.append(Cell(txt, bool(r["best"]), marks))
            rows.append(row)
        direction = {True: "higher is better", False: "lower is better", None: "no better direction"}[higher]
        note = f"Mean ± 95 % CI (t) over n = {n_max} seed(s); {direction}."
        if higher is not None:
            note += (f" Bold: best mean. †: not significantly different from the best; ↑/↓: significantly "
                     f"better/worse than `{baseline}`. Two-sided paired t-test over shared seeds "
                     f"(scipy.stats.ttest_rel), Holm correction across the methods of each column, α = {alpha}.")
        from bench.aggregate import excluded_note  # here, not at the top: keeps this edit to one place

        note += excluded_note(df, dataset)  # failed/diverged cells: named, never averaged, never best
        tables.append(Table(f"{dataset}: {label}", ["method"] + [f"{k}-shot" for k in shots], rows, note,
                            ["l"] + ["r"] * len(shots)))
    return tables


def paired_tables(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> list[Table]:
    """One table per dataset: each method's mean paired difference to ``baseline`` (same labelled
    set per seed), its 95 % CI and the uncorrected paired t-test p."""
    paired = paired_vs_baseline(df, metric, baseline)
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
                if np.isfinite(r["ci95"]):
                    txt += f" ± {r['ci95']:.3f} (p={r['p_value']:.2g})"
                row.append(Cell(txt))
            rows.append(row)
        note = (f"Mean paired difference to `{baseline}` over shared seeds (same labelled set per seed) ± 95 % CI; "
                "p: two-sided paired t-test (scipy.stats.ttest_rel), not corrected for multiple comparisons "
                "(the summary table's marks are Holm-corrected).")
        tables.append(Table(f"{dataset}: {metric} − {baseline}", ["method"] + [f"{k}-shot" for k in shots],
                            rows, note, ["l"] + ["r"] * len(shots)))
    return tables


def leaderboard(df: pd.DataFrame, metric: str = "accuracy", baseline: str = "baseline") -> str:
    """What ``bench run`` prints and writes to leaderboard.md: the summary table of ``metric`` and
    the paired differences to ``baseline``, per dataset, as Markdown."""
    tables = summary_tables(df, metric, baseline) if metric in df else []
    if not tables:
        return f"(no finished records with {metric})\n"
    return "\n".join(to_markdown(t) for t in tables + paired_tables(df, metric, baseline))


def equivalence_table(df: pd.DataFrame, baseline: str = "baseline", metric: str = "accuracy") -> list[Table]:
    """Real-label equivalence: baseline shots per class needed to match each method's accuracy."""
    eq = real_label_equivalence(df, metric, baseline)
    tables = []
    for dataset, e in eq.groupby("dataset"):
        shots = sorted(e["shots"].unique())
        base = df[(df["dataset"] == dataset) & (df["method"] == baseline)]["shots"]
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
                if r["range"] == "above":
                    row.append(Cell(f"> {hi}"))
                elif r["range"] == "below":
                    row.append(Cell(f"< {lo}"))
                else:
                    row.append(Cell(f"{r['equiv_shots']:.1f} (×{r['ratio']:.2f})"))
            rows.append(row)
        note = (f"Real shots per class that `{baseline}` needs to reach each method's mean {metric}, "
                f"interpolated linearly on `{baseline}`'s mean {metric}-vs-shots curve (made non-decreasing); "
                f"× = ratio to the method's own shots; \"> {hi}\" / \"< {lo}\": outside the measured range.")
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
                "itself; model size = serialized state dict of the model that predicts.")
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
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex_escape(t.title)}. {tex_escape(t.note)}}}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex_document(tables: list[Table]) -> str:
    body = "\n".join(to_latex(t) for t in tables)
    return ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
            "\\usepackage[margin=2cm,landscape]{geometry}\n\\begin{document}\n" + body + "\\end{document}\n")


def to_html(t: Table) -> str:
    def cell(c: Cell, tag: str = "td") -> str:
        txt = html.escape(c.text)
        if c.bold:
            txt = f"<strong>{txt}</strong>"
        if c.marks:
            txt += f'<sup class="mark">{html.escape(c.marks)}</sup>'
        return f"<{tag}>{txt}</{tag}>"

    align = t.align or ["l"] * len(t.header)
    head = "".join(f'<th class="{"num" if a == "r" else ""}">{html.escape(h)}</th>' for h, a in zip(t.header, align, strict=True))
    body = "\n".join("<tr>" + cell(row[0], "th") + "".join(cell(c) for c in row[1:]) + "</tr>" for row in t.rows)
    return (f'<table class="results">\n<caption>{html.escape(t.title)}</caption>\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody>\n</table>\n<p class=\"note\">{html.escape(t.note)}</p>\n")
