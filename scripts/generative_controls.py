"""The generative positive controls of issue 30 (results/protocol/generative-controls.md), judged
from records, and the per-generator screen table (domain features; mean over seeds).

    # the screen: every generator row, and FID of each row against another (paired over seeds)
    python scripts/generative_controls.py gan-screen-fashion-mnist \
        --fid-pairs diffaug-gan:gan,diffaug-gan@ema-black:gan@ema --out results/protocol/gan-screen-fashion-mnist.md
    # the controls on final versions (no-collapse thresholds for every generator row)
    python scripts/generative_controls.py gan-controls-fashion-mnist --fid-pairs diffaug-gan:gan --controls

``--fid-pairs A:B`` tests "A's FID < B's FID": the mean paired difference A − B over the seeds both
have, its 95 % CI and the two-sided paired-t p; it passes when the mean is < 0 and p < 0.05.
``--controls`` adds the no-collapse verdict per row and shot count: mean recall ≥ 0.10 and mean
coverage ≥ 0.08. ``--baseline-suite S`` adds each row's accuracy gain over S's ``baseline`` cells on the
same draws (paired over the seeds both have: mean ± 95 % CI and the paired-t p). ``--acc-pairs A:B``
tests "A's accuracy > B's accuracy" the same way, with Holm's correction over all the pairs asked for
(the gen-use rule: a variant replaces its default only when it passes); rows from several suites pair by dataset draw, so the defaults
can come from another suite run on the same seeds (where a draw is in several suites, the suite named
first wins):

    python scripts/generative_controls.py gen-use-fashion-mnist gan-controls-fashion-mnist \
        --baseline-suite gen-use-fashion-mnist --acc-pairs gan@rf0.25:gan,vae@n500:vae
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLUMNS = [("accuracy", "accuracy", 3), ("fid_domain", "FID", 1), ("kid_norm_x1e3_domain", "KID ×10³", 1),
           ("precision_domain", "precision", 3), ("recall_domain", "recall", 3), ("density_domain", "density", 2),
           ("coverage_domain", "coverage", 3), ("cas", "CAS", 3), ("memorisation_ratio", "memorisation", 2),
           ("total_s", "s / cell", 0)]
RECALL_MIN, COVERAGE_MIN, ALPHA = 0.10, 0.08, 0.05


def paired(df: pd.DataFrame, a: str, b: str, shots: int, metric: str = "fid_domain", lower: bool = True) -> dict:
    pa = df[(df["method"] == a) & (df["shots"] == shots)].set_index("seed")[metric]
    pb = df[(df["method"] == b) & (df["shots"] == shots)].set_index("seed")[metric]
    seeds = sorted(set(pa.dropna().index) & set(pb.dropna().index))
    d = (pa.loc[seeds] - pb.loc[seeds]).to_numpy(dtype=float)
    n = len(d)
    if n < 2:
        return {"n": n, "diff": float(d.mean()) if n else float("nan"), "ci95": float("nan"), "p": float("nan"), "pass": False}
    se = d.std(ddof=1) / np.sqrt(n)
    p = float(stats.ttest_rel(pa.loc[seeds], pb.loc[seeds]).pvalue) if se > 0 else 0.0
    return {"n": n, "diff": float(d.mean()), "ci95": float(stats.t.ppf(0.975, n - 1) * se), "p": p,
            "pass": bool((d.mean() < 0 if lower else d.mean() > 0) and p < ALPHA), "per_seed": [round(float(v), 1) for v in d], "per_seed_raw": [float(v) for v in d]}


def pair_table(df: pd.DataFrame, pairs: list[list[str]], metric: str, fmt: str, holm) -> list[str]:
    """Markdown rows testing A against B at every shot count. A pair with fewer than two shared
    seeds at a shot count gets an "n/a" row (no test is possible) and stays out of Holm's
    correction, so it is shown rather than silently dropped; shot counts where neither has a cell
    are left out."""
    acc = metric == "accuracy"
    rows = [(shots, a, b, paired(df, a, b, int(shots), metric, lower=not acc))
            for a, b in pairs for shots in sorted(df["shots"].unique())
            if ((df["method"].isin([a, b])) & (df["shots"] == shots)).any()]
    tested = [r for r in rows if r[3]["n"] >= 2]
    adj = dict(zip(map(id, tested), holm([r[3]["p"] for r in tested]) if acc else [r[3]["p"] for r in tested]))
    lines = [f"| shots | A | B | n | {'accuracy' if acc else 'FID'} A − B ± 95 % CI | per seed | p (paired t) |"
             + (" p (Holm) |" if acc else "") + " verdict |",
             "|---:|---|---|---:|---:|---|---:|" + ("---:|" if acc else "") + "---|"]
    for row in rows:
        shots, a, b, r = row
        if r["n"] < 2:
            lines.append(f"| {shots} | {a} | {b} | {r['n']} | n/a | – | – |" + (" – |" if acc else "")
                         + f" n/a ({r['n']} shared seed{'' if r['n'] == 1 else 's'}; a paired test needs 2) |")
            continue
        p_adj = adj[id(row)]
        per_seed = (", ".join(f"{v:+.3f}" for v in r["per_seed_raw"]) if acc else ", ".join(map(str, r["per_seed"])))
        ok = r["pass"] and p_adj < ALPHA
        lines.append(f"| {shots} | {a} | {b} | {r['n']} | {fmt.format(r['diff'], r['ci95'])} | {per_seed} | {r['p']:.4f} |"
                     + (f" {p_adj:.4f} |" if acc else "") + f" {'pass' if ok else 'FAIL'} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    from bench.aggregate import holm, long_table
    from bench.store import ResultStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="+", help="suite name(s) whose records to read")
    ap.add_argument("--results-dir", default="results/protocol/records")
    ap.add_argument("--fid-pairs", default="", help="comma-separated A:B, each testing FID(A) < FID(B)")
    ap.add_argument("--acc-pairs", default="", help="comma-separated A:B, each testing accuracy(A) > accuracy(B)")
    ap.add_argument("--controls", action="store_true", help="add the no-collapse verdicts")
    ap.add_argument("--baseline-suite", help="suite whose baseline cells give the accuracy gain column")
    ap.add_argument("--seeds", help="comma-separated seeds to keep (default: all)")
    ap.add_argument("--out", help="also write the Markdown here")
    args = ap.parse_args(argv)
    store = ResultStore(args.results_dir)
    df = long_table([r for s in args.suite for r in store.records(s)])
    df = df[(df["status"] == "ok") & df["fid_domain"].notna()]
    # the same draw in several suites (a cell rerun on another host): the suite named first wins
    df = (df.assign(_rank=df["suite"].map({s: i for i, s in enumerate(args.suite)}))
            .sort_values("_rank").drop_duplicates(["dataset", "method", "shots", "seed"]).drop(columns="_rank"))
    if args.seeds:
        df = df[df["seed"].isin([int(s) for s in args.seeds.split(",")])]
    if df.empty:
        sys.exit(f"no generative records for {', '.join(args.suite)} under {args.results_dir}")
    base = None
    if args.baseline_suite:
        bdf = long_table(store.records(args.baseline_suite))
        base = bdf[(bdf["status"] == "ok") & (bdf["method"] == "baseline")]
        if base.empty:
            sys.exit(f"no baseline records for {args.baseline_suite} under {args.results_dir}")
    cols = [c for c in COLUMNS if c[0] in df]
    lines = [f"#### {', '.join(args.suite)}: generated samples, domain features (mean over seeds)", "",
             "| shots | method | n | " + " | ".join(h for _, h, _ in cols)
             + (" | gain over baseline ± 95 % CI (n, p)" if base is not None else "") + (" | no collapse |" if args.controls else " |"),
             "|---:|---|---:|" + "---:|" * (len(cols) + (base is not None)) + ("---|" if args.controls else "")]
    for (shots, method), sub in df.groupby(["shots", "method"]):
        vals = " | ".join(f"{sub[c].mean():.{d}f}" for c, _, d in cols)
        row = f"| {shots} | {method} | {len(sub)} | {vals} |"
        if base is not None:
            g = paired(pd.concat([sub, base[base["shots"] == shots]]), method, "baseline", int(shots), "accuracy")
            row += (f" {g['diff']:+.3f} ± {g['ci95']:.3f} ({g['n']}, {g['p']:.2f}) |" if g["n"] >= 2 else " – |")
        if args.controls:
            ok = sub["recall_domain"].mean() >= RECALL_MIN and sub["coverage_domain"].mean() >= COVERAGE_MIN
            row += f" {'pass' if ok else 'FAIL'} |"
        lines.append(row)
    for spec, metric, title, fmt in ((args.fid_pairs, "fid_domain", f"FID(A) < FID(B), paired over seeds (pass: mean < 0 and p < {ALPHA})", "{:+.1f} ± {:.1f}"),
                                     (args.acc_pairs, "accuracy", f"accuracy(A) > accuracy(B), paired over seeds (pass: mean > 0 and Holm p < {ALPHA} over this table's rows)", "{:+.3f} ± {:.3f}")):
        pairs = [p.split(":") for p in spec.split(",") if p]
        if pairs:
            lines += ["", f"#### {title}", ""] + pair_table(df, pairs, metric, fmt, holm)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
