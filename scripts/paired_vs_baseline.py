"""Every method (and variant) of a suite minus ``baseline``: mean paired difference over seeds, its
95 % CI, the raw paired-t p and the Holm-adjusted p (Holm across the methods of each dataset ×
shots column, as ``bench report``'s tables mark them), and seconds per cell.

    python scripts/paired_vs_baseline.py fixmatch-dev --results-dir results/protocol/records
    # only some rows (plus baseline): methods and their variants by base name
    python scripts/paired_vs_baseline.py protocol-digits --methods classic,fixmatch
    # sensitivity: each variant METHOD@LABEL minus its own default METHOD (Holm across the variants
    # of one method per column), beside the default's difference to baseline
    python scripts/paired_vs_baseline.py protocol-digits --sensitivity --shots 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> None:
    from bench.aggregate import long_table, paired_vs_baseline, significance
    from bench.store import ResultStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--results-dir", default="results/protocol/records")
    ap.add_argument("--out", help="also write the Markdown table here")
    ap.add_argument("--methods", help="comma-separated base methods to show (with their variants); default: all")
    ap.add_argument("--shots", help="comma-separated shots to show; default: all")
    ap.add_argument("--sensitivity", action="store_true", help="variants minus their own default method")
    args = ap.parse_args(argv)
    df = long_table(ResultStore(args.results_dir).records(args.suite))
    df["base"] = df["method"].str.split("@").str[0]
    if args.methods:
        df = df[df["base"].isin({"baseline", *args.methods.split(",")})]
    if args.shots:
        df = df[df["shots"].isin([int(k) for k in args.shots.split(",")])]
    if args.sensitivity:
        return sensitivity(df, args)
    paired = paired_vs_baseline(df)
    sig = significance(df, "accuracy", True)[["dataset", "method", "shots", "mean", "p_base"]]
    secs = df[df["status"] == "ok"].groupby(["dataset", "method", "shots"])["total_s"].mean().rename("s_per_cell")
    t = paired.merge(sig, on=["dataset", "method", "shots"]).join(secs, on=["dataset", "method", "shots"])
    lines = [f"#### {args.suite}: accuracy − baseline (paired over seeds)", "",
             "| dataset | shots | method | n | mean acc | diff ± 95 % CI | p (paired t) | p (Holm) | s/cell |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for _, r in t.sort_values(["dataset", "shots", "method"]).iterrows():
        lines.append(f"| {r['dataset']} | {r['shots']} | {r['method']} | {r['n_pairs']} | {r['mean']:.3f} | "
                     f"{r['diff']:+.3f} ± {r['ci95']:.3f} | {r['p_value']:.4f} | {r['p_base']:.4f} | "
                     f"{r['s_per_cell']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def sensitivity(df, args) -> None:
    """Per method with variants: each variant minus the default (paired over seeds), Holm across
    that method's variants per (dataset, shots); the default's own difference to baseline beside."""
    import pandas as pd

    from bench.aggregate import paired_vs_baseline

    vs_base = paired_vs_baseline(df).set_index(["dataset", "method", "shots"])
    lines = [f"#### {args.suite}: sensitivity — each variant minus its default (paired over seeds)", "",
             "| dataset | shots | method | default − baseline | variant | n | variant − default ± 95 % CI | p (Holm) |",
             "|---|---:|---|---:|---|---:|---:|---:|"]
    for base, sub in df.groupby("base"):
        if base == "baseline" or not (sub["method"] != base).any() or base not in set(sub["method"]):
            continue
        t = paired_vs_baseline(sub, baseline=base)
        for _, r in t.sort_values(["dataset", "shots", "method"]).iterrows():
            key = (r["dataset"], base, r["shots"])
            db = vs_base.loc[key] if key in vs_base.index else pd.Series({"diff": float("nan"), "ci95": float("nan")})
            lines.append(f"| {r['dataset']} | {r['shots']} | {base} | {db['diff']:+.3f} ± {db['ci95']:.3f} | "
                         f"{r['method']} | {r['n_pairs']} | {r['diff']:+.3f} ± {r['ci95']:.3f} | {r['p_holm']:.4f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
