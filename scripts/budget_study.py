"""The downstream-classifier budget study (issue 12, item 1): accuracy vs classifier steps per
method and shots, on development draws.

    # write the suite: every method once at the largest budget, with the test accuracy also
    # measured after each smaller budget (the classifier's ``checkpoints``)
    python scripts/budget_study.py suite --dataset digits --shots 5,10,50 \
        --out results/protocol/budget-digits.toml
    # run it (records under results/protocol/records/budget-digits/)
    nice -n 10 bench run --suite results/protocol/budget-digits.toml --results-dir results/protocol/records
    # table + plot
    python scripts/budget_study.py table --suite budget-digits --results-dir results/protocol/records \
        --out results/protocol/budget-digits
    # every candidate budget against every row of one or more such tables
    python scripts/budget_study.py choose results/protocol/budget-digits.csv ...

The table gives, per method and shots, the mean accuracy at each budget; ``*`` marks budgets
within one paired standard error of that method's best budget (paired over seeds: the same
labelled draw, the same classifier initialisation), i.e. on its plateau; ``plateau from`` is the
smallest such budget. Methods with their own classifier (fixmatch) have no downstream budget and
are left out of the study.

One run per method, read at every budget. The classifier's ``checkpoints`` record the test
accuracy after k steps, which equals what a run of k steps ends with (same batches, same
initialisation; ``tests/test_budget.py`` checks it), so the study trains each (method, shots,
seed) once at the largest budget instead of once per budget, and a method's ``fit`` (a GAN's
training) runs once. Exceptions, marked ``†`` in the table: methods whose own training uses the
classifier budget (``pseudo-label``'s labelling rounds, ``distill-quant``'s teacher, ``prune``'s
schedule) ran those parts at the largest budget, so their smaller-budget points are upper bounds
of a real short run. Cost at k steps is the record's measured parts with the classifier's training
time scaled by k / largest (the training loop's cost is linear in steps); suites of the older
form (one variant per budget, ``--per-budget``) are read too, with their own measured times.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ["baseline", "classic", "gan", "vae", "ae-pretrain", "pseudo-label", "finetune"]
BUDGET_IN_FIT = {"pseudo-label", "distill-quant", "prune"}  # their curve's short budgets are upper bounds
STEPS = [150, 300, 600, 1200, 2400, 4800]


def write_suite(args: argparse.Namespace) -> None:
    methods = args.methods.split(",")
    steps = sorted(int(s) for s in args.steps.split(","))
    if args.per_budget:
        names = [f"{m}@s{s}" for m in methods for s in steps]
        budget = ['classifier = "quick"']
    else:
        names = methods
        budget = ['classifier = "quick"', "", "[classifier_overrides]",
                  f"steps = {steps[-1]}", f"checkpoints = [{', '.join(map(str, steps[:-1]))}]"]
    lines = [
        f"# Budget study (issue 12, item 1), written by scripts/budget_study.py: {', '.join(methods)} at",
        f"# classifier steps {', '.join(map(str, steps))}. Development draws only (seeds >= 1000).",
        f'name = "{args.name or "budget-" + args.dataset}"',
        f'description = "classifier budget study on {args.dataset}: accuracy vs steps, dev seeds"',
        "development = true",
        f'datasets = ["{args.dataset}"]',
        "methods = [" + ", ".join(f'"{n}"' for n in names) + "]",
        f"shots = [{args.shots}]",
        f"seeds = [{args.seeds}]",
        f'preset = "{args.preset}"',
        f"test_cap = {args.test_cap}",
        *budget,
        "",
    ]
    if args.per_budget:
        for m in methods:
            for s in steps:
                lines += [f'[variants."{m}@s{s}"]', f"classifier = {{ steps = {s} }}", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}: {len(names)} methods × shots [{args.shots}] × seeds [{args.seeds}]")


def load(results_dir: str, suite: str) -> pd.DataFrame:
    """One row per (record, budget): a per-budget record gives one, a record with a classifier
    curve one per checkpoint."""
    import re

    from bench.store import ResultStore

    rows = []
    for r in ResultStore(results_dir).records(suite):
        name = r["method"].get("display", r["method"]["name"])
        m = re.fullmatch(r"(?P<base>.+)@s(?P<steps>\d+)", name)  # the per-budget form: one variant per budget
        curve = r["details"].get("classifier_curve") or ([[int(m["steps"]), r["metrics"]["accuracy"]]] if m else None)
        if r.get("status") != "ok" or curve is None:  # own-classifier methods have no budget
            continue
        t = r["timings"]
        last = curve[-1][0]
        for k, acc in curve:
            rows.append({"dataset": r["dataset"]["name"], "base": m["base"] if m else name, "shots": r["task"]["shots"],
                         "seed": r["task"]["seed"], "steps": int(k), "accuracy": acc,
                         "total_s": t["total_s"] - t["train_s"] * (1 - k / last)})
    return pd.DataFrame(rows)


def plateau(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, base, shots, steps): mean accuracy, the paired gap to the best budget and its
    standard error over seeds, and whether it is within one paired SE of the best."""
    rows = []
    for (dataset, base, shots), g in df.groupby(["dataset", "base", "shots"]):
        acc = g.pivot_table(index="seed", columns="steps", values="accuracy").dropna()
        means = acc.mean()
        best = int(means.idxmax())
        for s in acc.columns:
            gap = acc[best] - acc[s]
            se = float(gap.std(ddof=1) / np.sqrt(len(gap))) if len(gap) > 1 else float("nan")
            rows.append({"dataset": dataset, "method": base, "shots": shots, "steps": int(s),
                         "n": len(gap), "mean": float(means[s]), "best_steps": best,
                         "gap_to_best": float(gap.mean()), "se": se,
                         "on_plateau": bool(s == best or gap.mean() <= se),
                         "total_s": float(g[g["steps"] == s]["total_s"].mean())})
    return pd.DataFrame(rows)


def markdown(p: pd.DataFrame) -> str:
    steps = sorted(p["steps"].unique())
    out = []
    for dataset, d in p.groupby("dataset"):
        out += [f"### {dataset}: test accuracy vs classifier steps (mean over seeds; * = within one paired SE "
                "of the method's best budget; plateau from: the smallest budget from which every larger one up to the best is *)", "",
                "| method | shots | " + " | ".join(map(str, steps)) + " | best | plateau from | n |",
                "|---|---:|" + "---:|" * len(steps) + "---:|---:|---:|"]
        for (m, k), g in d.groupby(["method", "shots"], sort=False):
            g = g.set_index("steps")
            cells = [f"{g.at[s, 'mean']:.3f}{'*' if g.at[s, 'on_plateau'] else ''}" if s in g.index else "—"
                     for s in steps]
            # the smallest budget from which every larger one up to the best is on the plateau too
            best = g["best_steps"].iat[0]
            off = [s for s in g.index[~g["on_plateau"]] if s < best]
            first = min(s for s in g.index if s > max(off, default=0))
            mark = " †" if m in BUDGET_IN_FIT else ""
            out.append(f"| {m}{mark} | {k} | " + " | ".join(cells) + f" | {g['best_steps'].iat[0]} | {first} | {g['n'].max()} |")
        if d["method"].isin(BUDGET_IN_FIT).any():
            out.append("\n† part of this method's own training used the largest budget, so its smaller budgets "
                       "are upper bounds of a real short run")
        out.append("")
    return "\n".join(out)


def at_budget(p: pd.DataFrame, chosen: int) -> str:
    """For each method and shots: accuracy at ``chosen`` vs its best budget, and the cell cost ratio
    chosen / 300 steps (today's quick budget), both from this one run."""
    out = [f"### accuracy at {chosen} steps vs each method's best budget; cost of {chosen} vs 300 steps", "",
           "| dataset | method | shots | at chosen | best (steps) | gap ± paired SE | on plateau | cell s at 300 | "
           f"cell s at {chosen} | ratio |", "|---|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for (dataset, m, k), g in p.groupby(["dataset", "method", "shots"], sort=False):
        g = g.set_index("steps")
        if chosen not in g.index:
            continue
        r, best = g.loc[chosen], g["best_steps"].iat[0]
        t300 = g.at[300, "total_s"] if 300 in g.index else float("nan")
        out.append(f"| {dataset} | {m} | {k} | {r['mean']:.3f} | {g.at[best, 'mean']:.3f} ({best}) | "
                   f"{r['gap_to_best']:+.3f} ± {r['se']:.3f} | {'yes' if r['on_plateau'] else 'NO'} | "
                   f"{t300:.1f} | {r['total_s']:.1f} | {r['total_s'] / t300:.2f} |")
    return "\n".join(out) + "\n"


def plot(p: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shots = sorted(p["shots"].unique())
    methods = list(dict.fromkeys(p["method"]))  # one colour per method in every panel, even where it has no row
    cmap = plt.get_cmap("tab20" if len(methods) > 10 else "tab10")
    colour = {m: cmap(i % cmap.N) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(shots), figsize=(4.2 * len(shots), 3.6), squeeze=False)
    for ax, k in zip(axes[0], shots, strict=True):
        for m, g in p[p["shots"] == k].groupby("method", sort=False):
            g = g.sort_values("steps")
            ax.plot(g["steps"], g["mean"], marker="o", ms=3, color=colour[m])
            on = g[g["on_plateau"]]
            ax.scatter(on["steps"], on["mean"], s=40, facecolors="none", edgecolors=colour[m])
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(p["steps"].unique()), [str(s) for s in sorted(p["steps"].unique())], fontsize=7)
        ax.set_title(f"{p['dataset'].iat[0]}, {k} shots")
        ax.set_xlabel("classifier steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (mean over dev seeds)")
    handles = [plt.Line2D([], [], color=colour[m], marker="o", ms=3, label=m) for m in methods]
    fig.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("open circles: within one paired SE of the method's best budget", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")


#: rows with fewer seeds than this are left out of ``choose`` (still running)
MIN_SEEDS = 3


def choose(args: argparse.Namespace) -> None:
    """Every candidate budget against every row of the given study tables (``.csv`` from
    ``table``): how many rows are on their plateau (within one paired SE of their best budget), the
    largest and mean gap to a row's best, and each miss, marked *short* (the row's best is a larger
    budget: it was still rising) or *past* (its best is smaller: it declines from there)."""
    p = pd.concat([pd.read_csv(c) for c in args.csv], ignore_index=True)
    few = p.groupby(["dataset", "method", "shots"])["n"].transform("max") < MIN_SEEDS
    left_out = sorted({f"{r.dataset} {r.method} {r.shots}" for r in p[few].itertuples()})
    p = p[~few]  # a row still being run: its paired SE is missing or rests on too few draws
    rows = p.groupby(["dataset", "method", "shots"]).ngroups
    out = ["### choosing the budget: every candidate against every row of the study", "",
           "| budget | rows | on plateau | largest gap to the row's best | mean gap | misses (gap ± paired SE) |",
           "|---:|---:|---:|---:|---:|---|"]
    for steps, g in p.groupby("steps"):
        if g.groupby(["dataset", "method", "shots"]).ngroups < rows:
            continue  # a candidate must be measured on every row
        miss = g[~g["on_plateau"]].sort_values("gap_to_best", ascending=False)
        worst = g.loc[g["gap_to_best"].idxmax()]
        desc = "; ".join(f"{r.dataset} {r.method} {r.shots}: {r.gap_to_best:.3f} ± {r.se:.3f} "
                         f"({'short' if r.best_steps > steps else 'past'})" for r in miss.head(8).itertuples())
        short = int((miss["best_steps"] > steps).sum())
        desc += (f"; … {len(miss) - 8} more" if len(miss) > 8 else "") + (f" ({short} short, {len(miss) - short} past)"
                                                                          if len(miss) else "")
        out.append(f"| {steps} | {len(g)} | {int(g['on_plateau'].sum())} | {worst['gap_to_best']:.3f} "
                   f"({worst['dataset']} {worst['method']} {worst['shots']}) | {g['gap_to_best'].mean():.4f} | "
                   f"{desc or '—'} |")
    if left_out:
        out += ["", f"Left out (fewer than {MIN_SEEDS} seeds so far): {', '.join(left_out)}."]
    text = "\n".join(out) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


def table(args: argparse.Namespace) -> None:
    p = plateau(load(args.results_dir, args.suite))
    out = Path(args.out)
    text = markdown(p)
    if args.chosen:
        text += "\n" + at_budget(p, args.chosen)
    out.with_suffix(".md").write_text(text)
    p.to_csv(out.with_suffix(".csv"), index=False)
    plot(p, out.with_suffix(".png"))
    print(text)
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')}, {out.with_suffix('.png')}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("suite", help="write the study suite (TOML)")
    s.add_argument("--dataset", required=True)
    s.add_argument("--methods", default=",".join(METHODS))
    s.add_argument("--steps", default=",".join(map(str, STEPS)))
    s.add_argument("--shots", default="5, 10, 50")
    s.add_argument("--seeds", default="1000, 1001, 1002, 1003, 1004")
    s.add_argument("--preset", default="quick")
    s.add_argument("--test-cap", type=int, default=0)
    s.add_argument("--name", help="suite name (default: budget-DATASET)")
    s.add_argument("--per-budget", action="store_true", help="one variant per budget (the older, costlier form)")
    s.add_argument("--out", required=True)
    t = sub.add_parser("table", help="records -> table (.md, .csv) and plot (.png)")
    t.add_argument("--suite", required=True)
    t.add_argument("--results-dir", default="results/protocol/records")
    t.add_argument("--chosen", type=int, help="the chosen budget: accuracy there vs each method's best")
    t.add_argument("--out", required=True, help="path stem for .md, .csv, .png")
    c = sub.add_parser("choose", help="every candidate budget against the rows of study tables (.csv)")
    c.add_argument("csv", nargs="+", help="tables written by `table` (.csv)")
    c.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args(argv)
    {"suite": write_suite, "table": table, "choose": choose}[args.cmd](args)


if __name__ == "__main__":
    main()
