"""The agreement table of issue 28, item 2: the pre-registered criterion of
results/protocol/agreement-criterion.md, applied to two runs of the `standard` suite.

    python scripts/agreement.py --old results/reference-4800/records --new results/reference/records \
        --out results/protocol/agreement

For every row ≠ baseline × shots: each run's paired gain over baseline ± its 95 % CI and its
Holm-corrected mark (bench.aggregate.paired_vs_baseline, as the report computes them), whether the
gains agree within the combined CI (criterion 1), whether a mark flips sign (criterion 2), and the
verdict (criterion 3: no flip, and criterion 1 on at least 90 % of the entries). Methods whose
version differs between the runs are flagged. Writes OUT.md and OUT.csv. Entries only one run has
are listed as missing, never dropped silently.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.aggregate import ci95, long_table, paired_vs_baseline  # noqa: E402
from bench.store import ResultStore  # noqa: E402

ALPHA, SHARE = 0.05, 0.90


def gains(results_dir: str, suite: str) -> tuple[pd.DataFrame, dict[str, str], pd.Series, set[str]]:
    """Paired gains with marks, method versions, accuracy per (method, shots, seed), and the
    methods with their own classifier (records with ``classifier: null``: the harness's downstream
    classifier is not trained on their output, though some, like distill-quant, train with the recipe)."""
    recs = [r for r in ResultStore(results_dir).records(suite) if r.get("status") == "ok"]
    versions = {(r["method"].get("display") or r["method"]["name"]): str(r["method"]["version"]) for r in recs}
    own = {(r["method"].get("display") or r["method"]["name"]) for r in recs if r.get("classifier") is None}
    table = long_table(recs)
    g = paired_vs_baseline(table, "accuracy")
    g["mark"] = [("↑" if d > 0 else "↓") if p < ALPHA else "" for d, p in zip(g["diff"], g["p_holm"].fillna(1.0), strict=True)]
    acc = table.set_index(["method", "shots", "seed"])["accuracy"]
    return g, versions, acc, own


def why(t: pd.DataFrame, acc_old: pd.Series, acc_new: pd.Series, own: set[str]) -> pd.DataFrame:
    """The criterion's "which run to believe": for each entry, how much the run change moved
    baseline's and the method's own accuracy (new − old, paired by seed: both runs draw the same
    few-shot sets), and for an entry outside the combined CI which kind it is —
    ``baseline rose more`` (the method's own accuracy did not fall; the new run is the one to
    believe), ``own classifier`` (its accuracy fell, but the method trains no downstream
    classifier, so the recipe did not cause it: host or seed noise), ``method fell`` (its own
    accuracy fell under the new recipe: a defect of the recipe), or ``no shared seeds`` (the
    method or baseline has no seed in both runs, so no move can be paired)."""
    moved = (acc_new - acc_old).dropna()
    by = moved.groupby(level=["method", "shots"])
    shift = by.mean().rename("moved").to_frame().join(by.apply(lambda v: ci95(v.to_numpy())).rename("moved_ci"))
    t = t.join(shift, on=["method", "shots"])
    base = shift.xs("baseline", level="method")["moved"]
    t["baseline_moved"] = t["shots"].map(base)
    t["kind"] = [kind(r, own) for r in t.itertuples()]
    return t


def kind(r, own: set[str]) -> str:
    """Which kind of disagreement one entry of :func:`why` is ("" when it agrees or is missing)."""
    if r.within or r.missing:
        return ""
    if pd.isna(r.moved) or pd.isna(r.baseline_moved):
        return "no shared seeds"
    if r.moved >= 0:
        return "baseline rose more"
    return "own classifier" if r.method in own else "method fell"


def agreement(old: pd.DataFrame, new: pd.DataFrame, v_old: dict, v_new: dict) -> pd.DataFrame:
    m = old.merge(new, on=["dataset", "method", "shots"], how="outer", suffixes=("_old", "_new"), indicator="side")
    rows = []
    for r in m.itertuples():
        both = r.side == "both"
        combined = math.sqrt(r.ci95_old ** 2 + r.ci95_new ** 2) if both else float("nan")
        delta = r.diff_new - r.diff_old if both else float("nan")
        rows.append({"method": r.method, "shots": int(r.shots), "n_old": r.n_pairs_old, "n_new": r.n_pairs_new,
                     "gain_old": r.diff_old, "ci_old": r.ci95_old, "mark_old": r.mark_old if both else "",
                     "gain_new": r.diff_new, "ci_new": r.ci95_new, "mark_new": r.mark_new if both else "",
                     "delta": delta, "combined_ci": combined, "within": bool(both and abs(delta) <= combined),
                     "flip": bool(both and {r.mark_old, r.mark_new} == {"↑", "↓"}),
                     "mark_change": bool(both and r.mark_old != r.mark_new),
                     "version_changed": v_old.get(r.method) != v_new.get(r.method),
                     "missing": "" if both else ("new run" if r.side == "left_only" else "old run")})
    return pd.DataFrame(rows).sort_values(["method", "shots"])


def fmt(v: float, ci: float) -> str:
    return "—" if pd.isna(v) else f"{v:+.3f} ± {ci:.3f}"


def kinds(both: pd.DataFrame) -> str:
    """One line: the entries outside the combined CI by kind (see :func:`why`), naming those where
    the method's own accuracy fell."""
    out = both[~both["within"]]
    count = out["kind"].value_counts()
    fell = [f"{r.method} @ {r.shots} ({r.moved:+.3f})" for r in out[out["kind"] == "method fell"].itertuples()]
    return (f"Outside the combined CI: {len(out)} — baseline rose more than the method: {count.get('baseline rose more', 0)}; "
            f"own accuracy fell but the method trains no downstream classifier (not the recipe's doing): {count.get('own classifier', 0)}; "
            f"method's own accuracy fell under the new recipe: {count.get('method fell', 0)}"
            + (f" ({', '.join(fell)})" if fell else "")
            + (f"; no seed in both runs, so not sorted: {count['no shared seeds']}" if count.get("no shared seeds") else "")
            + ". \"Moved\" = new − old accuracy, paired by seed.")


def markdown(t: pd.DataFrame, old: str, new: str) -> str:
    both = t[t["missing"] == ""]
    n, within, flips = len(both), int(both["within"].sum()), int(both["flip"].sum())
    agrees = flips == 0 and n > 0 and within >= math.ceil(SHARE * n)
    out = [f"Old: `{old}`; new: `{new}`. Criterion: results/protocol/agreement-criterion.md.", "",
           f"**Verdict: the new run {'agrees' if agrees else 'does not agree'} with the reference** — "
           f"{within} of {n} entries within the combined 95 % CI (needed: {math.ceil(SHARE * n)}), "
           f"{flips} mark flip(s), {int(both['mark_change'].sum())} mark change(s) that are not flips"
           + (f"; {int((t['missing'] != '').sum())} entries missing from one run" if (t["missing"] != "").any() else "")
           + ".", "",
           kinds(both), "",
           "| method | shots | gain old ± CI | mark | gain new ± CI | mark | new − old | combined CI | within | "
           "baseline moved | method moved ± CI | note |",
           "|---|---:|---:|:-:|---:|:-:|---:|---:|:-:|---:|---:|---|"]
    for r in t.itertuples():
        note = "; ".join(filter(None, ["**mark flips**" if r.flip else "", "mark changes" if r.mark_change and not r.flip else "",
                                       r.kind, "method version differs" if r.version_changed else "",
                                       f"missing in the {r.missing}" if r.missing else ""]))
        out.append(f"| {r.method} | {r.shots} | {fmt(r.gain_old, r.ci_old)} | {r.mark_old} | {fmt(r.gain_new, r.ci_new)} | "
                   f"{r.mark_new} | {'—' if pd.isna(r.delta) else f'{r.delta:+.3f}'} | "
                   f"{'—' if pd.isna(r.combined_ci) else f'{r.combined_ci:.3f}'} | {'yes' if r.within else '**no**'} | "
                   f"{'—' if pd.isna(r.baseline_moved) else f'{r.baseline_moved:+.3f}'} | {fmt(r.moved, r.moved_ci)} | {note} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--suite", default="standard")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    (old, v_old, acc_old, own_old), (new, v_new, acc_new, own_new) = gains(args.old, args.suite), gains(args.new, args.suite)
    t = why(agreement(old, new, v_old, v_new), acc_old, acc_new, own_old & own_new)
    text = markdown(t, args.old, args.new)
    args.out.with_suffix(".md").write_text(f"Written by `python scripts/agreement.py --old {args.old} --new {args.new} "
                                           f"--out {args.out}`.\n\n" + text)
    t.to_csv(args.out.with_suffix(".csv"), index=False)
    print(text)


if __name__ == "__main__":
    main()
