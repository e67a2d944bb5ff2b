"""One table per shot count of everything measured about the generative methods' samples (issue 15):
accuracy, FID, IS, KID ×10³, precision, recall, density, coverage (domain features), CAS,
memorisation ratio and seconds per cell, mean ± SD over seeds; then how well each sample metric
ranks the cells by what the samples did for the classifier (Spearman ρ, over method × seed cells,
against the paired accuracy gain over ``baseline``).

    python scripts/generation_table.py results/reference/records.csv --shots 10,50

The input is the long table ``bench report`` writes (``records.csv``). Only ``ok`` records count.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from scipy.stats import spearmanr

from bench.metric_catalog import describe

# (column in records.csv, short header, decimals); which way is better comes from the catalogue
METRICS = [
    ("accuracy", "accuracy", 3),
    ("fid_domain", "FID", 0),
    ("is_domain", "IS", 2),
    ("kid_norm_x1e3_domain", "KID ×10³", 1),
    ("precision_domain", "precision", 2),
    ("recall_domain", "recall", 2),
    ("density_domain", "density", 2),
    ("coverage_domain", "coverage", 2),
    ("cas", "CAS", 3),
    ("memorisation_ratio", "memorisation", 2),
    ("total_s", "s / cell", 0),
]


def _cell(values: pd.Series, decimals: int) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    sd = values.std(ddof=1)  # NaN for one seed
    sd_text = "" if pd.isna(sd) else f" ± {sd:.{decimals}f}"
    return f"{values.mean():.{decimals}f}{sd_text}"


def table(df: pd.DataFrame, shots: int) -> str:
    sub = df[df["shots"] == shots]
    generative = sorted(sub.loc[sub["fid_domain"].notna(), "method"].unique())
    rows = ["baseline", *generative]
    head = "| method | n | " + " | ".join(h for _, h, _ in METRICS) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(METRICS)]
    for method in rows:
        m = sub[sub["method"] == method]
        if m.empty:
            continue
        cells = [_cell(m[col], dec) if col in m else "—" for col, _, dec in METRICS]
        lines.append(f"| {method} | {m['seed'].nunique()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rank_agreement(df: pd.DataFrame, shots: int) -> str:
    """Spearman ρ between each sample metric and the cell's paired accuracy gain over baseline
    (same dataset, shots and seed), over every generative cell at these shots."""
    sub = df[df["shots"] == shots]
    base = sub[sub["method"] == "baseline"].set_index(["dataset", "seed"])["accuracy"]
    gen = sub[sub["fid_domain"].notna()].copy()
    gen["gain"] = gen["accuracy"].to_numpy() - base.reindex(list(zip(gen["dataset"], gen["seed"], strict=True))).to_numpy()
    gen = gen[gen["gain"].notna()]
    out = [f"Spearman ρ with the paired accuracy gain over baseline, {len(gen)} generative cells at {shots} shots "
           "(sign flipped for lower-is-better metrics, so ρ > 0 means the metric ranks the more useful samples higher):", ""]
    for col, header, _ in METRICS:
        spec = describe(col)
        higher = spec.higher if spec else None
        if col == "accuracy" or higher is None or col not in gen or gen[col].notna().sum() < 3:
            continue
        ok = gen[[col, "gain"]].dropna()
        rho, p = spearmanr(ok[col] * (1 if higher else -1), ok["gain"])
        out.append(f"- {header}: ρ = {rho:+.2f} (p = {p:.2g}, n = {len(ok)})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", help="records.csv written by bench report")
    parser.add_argument("--shots", default="10,50", help="comma-separated shot counts (default 10,50)")
    args = parser.parse_args(argv)
    df = pd.read_csv(args.records)
    df = df[df["status"] == "ok"]
    for shots in (int(s) for s in args.shots.split(",")):
        if not (df["shots"] == shots).any():
            print(f"error: no ok records at {shots} shots in {args.records}", file=sys.stderr)
            return 2
        print(f"#### {shots} shots per class (mean ± SD over seeds)\n")
        print(table(df, shots))
        print()
        print(rank_agreement(df, shots))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
