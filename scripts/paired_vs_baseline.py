"""Every method (and variant) of a suite minus ``baseline``: mean paired difference over seeds, its
95 % CI, the raw paired-t p and the Holm-adjusted p (Holm across the methods of each dataset ×
shots column, as ``bench report``'s tables mark them), and seconds per cell.

    python scripts/paired_vs_baseline.py fixmatch-dev --results-dir results/protocol/records
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
    args = ap.parse_args(argv)
    df = long_table(ResultStore(args.results_dir).records(args.suite))
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


if __name__ == "__main__":
    main()
