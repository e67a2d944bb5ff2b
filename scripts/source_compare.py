"""Two runs of the same transfer rows that differ only in the transfer source: per method x shots,
the paired difference of the two sources (same seeds = same labelled draws), and each source's
paired gain over ``baseline`` (95 % CI (t), two-sided paired t-test p, no multiplicity correction).

    bench run                                                  # quick suite, auto source
    bench run --methods baseline,finetune,finetune-head,transfer-gan --source fashion-mnist \
        --results-dir /tmp/src/records
    python scripts/source_compare.py --a quick --a-dir results --b SUITE_NAME --b-dir /tmp/src/records

Each record names the source it used (``details.source``); the script refuses runs whose baselines
differ, since then the two runs did not see the same draws and classifier.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load(results_dir: str, suite: str) -> dict:
    from bench.store import ResultStore

    out = {}
    for r in ResultStore(results_dir).records(suite):
        if r.get("status") == "ok":
            key = (r["method"]["name"], r["task"]["shots"], r["task"]["seed"])
            out[key] = (r["metrics"]["accuracy"], r["details"].get("source", ""))
    return out


def paired(x: list[float], y: list[float]) -> str:
    from bench.aggregate import ci95, paired_p

    d = np.asarray(x) - np.asarray(y)
    if len(d) < 2:
        return f"{d.mean():+.3f} (n = {len(d)})"
    return f"{d.mean():+.3f} ± {ci95(d):.3f} (p {paired_p(x, y):.3f})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="suite of run A")
    ap.add_argument("--a-dir", default="results")
    ap.add_argument("--b", required=True, help="suite of run B")
    ap.add_argument("--b-dir", default="results")
    args = ap.parse_args(argv)
    a, b = load(args.a_dir, args.a), load(args.b_dir, args.b)
    shared = sorted(set(a) & set(b))
    base = [k for k in shared if k[0] == "baseline"]
    if not base or any(a[k][0] != b[k][0] for k in base):
        raise SystemExit("the two runs' baseline records are missing or differ: they are not the same draws and classifier")
    rows = ["| method | shots | n | source A | source B | A − B | A − baseline | B − baseline |",
            "|---|---:|---:|---|---|---:|---:|---:|"]
    for method, shots in sorted({(m, k) for m, k, _ in shared if m != "baseline"}):
        seeds = [s for m, k, s in shared if (m, k) == (method, shots) and ("baseline", k, s) in a]
        xa = [a[(method, shots, s)][0] for s in seeds]
        xb = [b[(method, shots, s)][0] for s in seeds]
        bl = [a[("baseline", shots, s)][0] for s in seeds]
        rows.append(f"| {method} | {shots} | {len(seeds)} | {a[(method, shots, seeds[0])][1]} | "
                    f"{b[(method, shots, seeds[0])][1]} | {paired(xa, xb)} | {paired(xa, bl)} | {paired(xb, bl)} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
