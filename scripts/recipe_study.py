"""The classifier recipe study (issue 28, item 1): a faster recipe against the 4800-step protocol,
on development draws only (seeds >= 1000).

    # write a study suite: methods x recipes as variants METHOD@RECIPE (a recipe = classifier settings)
    python scripts/recipe_study.py suite --dataset digits --shots 5,10,50 --methods baseline,classic \
        --recipes oc3-960,cos2-960 --out results/protocol/recipe-digits.toml
    bench run --suite results/protocol/recipe-digits.toml --results-dir results/protocol/records
    # every recipe row against the old recipe's records of the same draws (the protocol study)
    python scripts/recipe_study.py table --suite recipe-digits --old protocol-digits --out results/protocol/recipe-digits

The old recipe (Adam, constant lr 1e-3, no normalisation, 4800 steps) is read from the protocol
study's records (``results/protocol/records/protocol-*``): the same methods, presets, draws and
seeds, run once at 4800 steps with the test accuracy also taken at 150 ... 2400 steps. Each new row
is paired with the old one over seeds (the same labelled draw): the difference to the old recipe's
4800-step accuracy, its paired standard error, and the difference to the old recipe's best budget.
Cost: the classifier's training seconds (``train_s``, the part the recipe changes) of both, as a
ratio; the two were measured on different days and hosts, so the ratio that counts is the step
count's (FLOPs per step differ only by BatchNorm's, under 1 %); the wall ratio is printed beside it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the candidate recipes: classifier settings on top of the study's classifier preset
RECIPES: dict[str, dict] = {
    # Adam, one-cycle (peak 3e-3, 30 % warm-up), BatchNorm
    "oc3": {"optimizer": "adam", "schedule": "onecycle", "lr": 3e-3, "norm": "batch"},
    # the same without BatchNorm: what the schedule alone does
    "oc3nobn": {"optimizer": "adam", "schedule": "onecycle", "lr": 3e-3, "norm": "none"},
    # Adam, 5 % linear warm-up then cosine to 0 (peak 2e-3), BatchNorm, label smoothing 0.1
    "cos2ls": {"optimizer": "adam", "schedule": "cosine", "warmup": 0.05, "lr": 2e-3, "norm": "batch",
               "label_smoothing": 0.1},
    # Adam at the old constant lr with BatchNorm, scoring an EMA of the weights (Polyak averaging)
    "constema": {"optimizer": "adam", "schedule": "constant", "lr": 1e-3, "norm": "batch", "ema": 0.995},
    # SGD + Nesterov, one-cycle (peak 0.05), BatchNorm, label smoothing 0.1
    "sgdoc": {"optimizer": "sgd", "schedule": "onecycle", "lr": 0.05, "norm": "batch", "label_smoothing": 0.1},
}
OLD_STEPS = 4800
#: the old study's name for a method where today's default differs (Fashion-MNIST's `classic` is
#: RandAugment from classic version 3 on; the protocol study ran it as `classic@randaugment`)
OLD_NAME = {("fashion-mnist", "classic"): "classic@randaugment"}


def parse_recipe(name: str) -> dict:
    m = re.fullmatch(r"(?P<r>[a-z0-9]+)-(?P<steps>\d+)", name)
    if not m or m["r"] not in RECIPES:
        raise SystemExit(f"recipe {name!r}: write RECIPE-STEPS with RECIPE one of {', '.join(RECIPES)}, e.g. oc3-960")
    return {**RECIPES[m["r"]], "steps": int(m["steps"])}


def toml_value(v) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


def write_suite(args: argparse.Namespace) -> None:
    methods, recipes = args.methods.split(","), args.recipes.split(",")
    names = [f"{m}@{r}" for m in methods for r in recipes]
    settings: dict[str, dict] = {}  # --set METHOD.KEY=VALUE: method settings, e.g. the old study's source
    for item in args.set or []:
        key, _, value = item.partition("=")
        m, _, k = key.partition(".")
        if not (m in methods and k and value):
            raise SystemExit(f"--set {item!r}: write METHOD.KEY=VALUE with METHOD one of {', '.join(methods)}")
        settings.setdefault(m, {})[k] = int(value) if value.isdigit() else value
    lines = [f"# Classifier recipe study (issue 28, item 1), written by scripts/recipe_study.py: {', '.join(methods)}",
             f"# x recipes {', '.join(recipes)}. Development draws only (seeds >= 1000).",
             f'name = "{args.name or "recipe-" + args.dataset}"',
             f'description = "classifier recipe study on {args.dataset}: recipes vs the 4800-step protocol, dev seeds"',
             "development = true", f'datasets = ["{args.dataset}"]',
             "methods = [" + ", ".join(f'"{n}"' for n in names) + "]",
             f"shots = [{args.shots}]", f"seeds = [{args.seeds}]", 'preset = "standard"', 'classifier = "quick"',
             f"test_cap = {args.test_cap}", ""]
    for m in methods:
        for r in recipes:
            body = ", ".join(f"{k} = {toml_value(v)}" for k, v in parse_recipe(r).items())
            extra = [f"{k} = {toml_value(v)}" for k, v in settings.get(m, {}).items()]
            lines += [f'[variants."{m}@{r}"]', *extra, f"classifier = {{ {body} }}", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}: {len(names)} rows x shots [{args.shots}] x seeds [{args.seeds}]")


def load(results_dir: str, suite: str, suite_is_new: bool = True) -> pd.DataFrame:
    from bench.store import ResultStore

    rows = []
    for r in ResultStore(results_dir).records(suite):
        if r.get("status") != "ok":
            continue
        name = r["method"].get("display") or r["method"]["name"]
        base, _, recipe = name.partition("@")
        curve = r["details"].get("classifier_curve") or []
        rows.append({"dataset": r["dataset"]["name"], "name": name, "base": base, "recipe": recipe,
                     "version": int(r["method"]["version"]),
                     "shots": r["task"]["shots"], "seed": r["task"]["seed"], "accuracy": r["metrics"]["accuracy"],
                     "steps": r["details"].get("classifier_steps"), "train_s": r["timings"]["train_s"],
                     "best_old": max([a for _, a in curve] + [r["metrics"]["accuracy"]])})
    df = pd.DataFrame(rows)
    if suite_is_new and not df.empty:  # a method changed since (e.g. fixmatch 3): its latest version only
        df = df[df["version"] == df.groupby("name")["version"].transform("max")]
    return df


def compare(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (dataset, base, recipe, shots), g in new.groupby(["dataset", "base", "recipe", "shots"]):
        o = old[(old["dataset"] == dataset) & (old["name"] == OLD_NAME.get((dataset, base), base))
                & (old["shots"] == shots)]
        m = g.merge(o, on="seed", suffixes=("", "_old"))
        if m.empty:
            continue
        d = m["accuracy"] - m["accuracy_old"]
        db = m["accuracy"] - m["best_old_old"]
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        out.append({"dataset": dataset, "method": base, "recipe": recipe, "shots": shots, "n": len(m),
                    "new": float(m["accuracy"].mean()), "old4800": float(m["accuracy_old"].mean()),
                    "old_best": float(m["best_old_old"].mean()), "diff": float(d.mean()), "se": se,
                    "diff_best": float(db.mean()), "step_ratio": float((m["steps_old"] / m["steps"]).mean()),
                    "train_s": float(m["train_s"].mean()), "train_s_old": float(m["train_s_old"].mean())})
    return pd.DataFrame(out)


def markdown(c: pd.DataFrame) -> str:
    out = ["| dataset | method | shots | recipe | n | new | old 4800 | new − old 4800 ± paired SE | new − old best "
           "| steps old / new | train s new / old |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in c.sort_values(["dataset", "method", "shots", "recipe"]).itertuples():
        out.append(f"| {r.dataset} | {r.method} | {r.shots} | {r.recipe} | {int(r.n)} | {r.new:.3f} | {r.old4800:.3f} | "
                   f"{r.diff:+.3f} ± {r.se:.3f} | {r.diff_best:+.3f} | {r.step_ratio:.1f} | "
                   f"{r.train_s:.1f} / {r.train_s_old:.1f} |")
    summary = c.groupby("recipe").agg(rows=("diff", "size"), mean_diff=("diff", "mean"), worst=("diff", "min"),
                                      below_1se=("diff", lambda s: int((s < -c.loc[s.index, "se"]).sum())),
                                      mean_diff_best=("diff_best", "mean"))
    out += ["", "Per recipe over the rows above: mean and worst difference to the old 4800-step recipe, rows more than "
            "one paired SE below it, mean difference to the old recipe's best budget:", "",
            "| recipe | rows | mean new − old 4800 | worst | rows > 1 SE below | mean new − old best |",
            "|---|---:|---:|---:|---:|---:|"]
    for recipe, s in summary.sort_values("mean_diff", ascending=False).iterrows():
        out.append(f"| {recipe} | {int(s.rows)} | {s.mean_diff:+.4f} | {s.worst:+.3f} | {int(s.below_1se)} | "
                   f"{s.mean_diff_best:+.4f} |")
    return "\n".join(out) + "\n"


def table(args: argparse.Namespace) -> None:
    new = pd.concat([load(args.results_dir, s) for s in args.suite.split(",")], ignore_index=True)
    old = load(args.results_dir, args.old, suite_is_new=False)
    old = old[(old["steps"] == OLD_STEPS) | old["steps"].isna()]  # no steps: its own classifier (fixmatch)
    c = compare(new, old)
    text = markdown(c)
    out = Path(args.out)
    out.with_suffix(".md").write_text(f"Written by `python scripts/recipe_study.py table --suite {args.suite} --old "
                                      f"{args.old} --out {args.out}`.\n\n" + text)
    c.to_csv(out.with_suffix(".csv"), index=False)
    print(text)
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("suite", help="write a study suite (TOML)")
    s.add_argument("--dataset", required=True)
    s.add_argument("--methods", required=True)
    s.add_argument("--recipes", required=True, help="RECIPE-STEPS,... e.g. oc3-960,cos2ls-480")
    s.add_argument("--shots", default="5, 10, 50")
    s.add_argument("--seeds", default="1000, 1001, 1002, 1003, 1004")
    s.add_argument("--test-cap", type=int, default=0)
    s.add_argument("--name")
    s.add_argument("--set", action="append", metavar="METHOD.KEY=VALUE",
                   help="a method setting in every recipe variant of METHOD (repeatable)")
    s.add_argument("--out", required=True)
    t = sub.add_parser("table", help="study records vs the old recipe's -> .md, .csv")
    t.add_argument("--suite", required=True, help="study suite name(s), comma-separated")
    t.add_argument("--old", required=True, help="the protocol study's suite of the same dataset")
    t.add_argument("--results-dir", default="results/protocol/records")
    t.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    {"suite": write_suite, "table": table}[args.cmd](args)


if __name__ == "__main__":
    main()
