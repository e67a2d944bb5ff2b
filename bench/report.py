"""``bench report SUITE``: everything a reader needs, rebuilt from the records alone (no training).

Writes into ``<reports>/<suite>/``:

* ``records.csv`` / ``records.parquet`` — the long table (one row per cell; metrics, timings,
  memory, costs, numeric details);
* ``leaderboard.md`` — the plain Markdown leaderboard ``bench run`` prints;
* ``tables/summary.{md,tex,html}`` — paper-style tables per dataset and metric (see bench.tables),
  the gain over the baseline, real-label equivalence and cost; ``summary.tex`` is a complete LaTeX
  document (booktabs), ``tables/*.csv`` the numbers behind them (``gain_accuracy.csv``: paired
  differences, p, Holm-adjusted p and per-method MDE; ``mde_accuracy.csv``: the MDE rows);
* ``figures/*.{png,svg}`` — see bench.plots;
* ``environment.json`` — versions, devices, commits and the commands that made the records;
* ``index.html`` — one self-contained page (figures embedded as data URIs, no scripts, no network)
  that leads with the verdict — each method's paired accuracy gain over the baseline per shot
  count (CI, Holm-corrected significance, minimum detectable effect), as a table and a heatmap —
  then one section per metric with a human title (bench.metric_catalog), real-label equivalence,
  cost, the sample grids (large, rows labelled with class names when records carry them), a
  glossary, the environment and the command to reproduce. This module chooses the sections;
  bench.report_html renders the page, laid out for 1280 px desktop and 390 px phone widths
  (tests/test_report_browser.py measures both).
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.aggregate import (
    column_mde,
    long_table,
    paired_vs_baseline,
    real_label_equivalence,
    significance,
    table_metrics,
)
from bench.costs import add_details, cost_table
from bench.errors import BenchError
from bench.metric_catalog import describe
from bench.report_html import Section, render_html
from bench.store import ResultStore, atomic_write, atomic_write_text
from bench.tables import (
    cost_tables,
    equivalence_table,
    latex_document,
    leaderboard,
    paired_tables,
    per_class_tables,
    summary_tables,
    to_html,
    to_markdown,
)


def load_frame(suite: str, results_dir: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The enriched long table of a suite's records, and the records themselves."""
    if not (Path(results_dir) / suite).is_dir():
        raise BenchError(f"no results for suite {suite!r} in {results_dir}; run `bench run --suite {suite}` first")
    records = list(ResultStore(results_dir).records(suite))
    df = long_table(records)
    if df.empty:
        raise BenchError(f"no readable records under {Path(results_dir) / suite}; run `bench run --suite {suite}` first")
    paths = pd.DataFrame({"key": [r["key"] for r in records], "_path": [r.get("_path") for r in records]})
    df = df.merge(paths.drop_duplicates("key", keep="last"), on="key", how="left")
    return add_details(df, records), records


def busy_wall(records: list[dict]) -> float:
    """Seconds in which at least one cell was running: the union of the records' [started_at,
    finished_at] intervals, so pauses between sessions of a resumed run do not count."""
    spans = sorted((pd.Timestamp(r["started_at"]), pd.Timestamp(r["finished_at"])) for r in records)
    total, cur_start, cur_end = 0.0, None, None
    for a, b in spans:
        if cur_end is None or a > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_end is not None:
        total += (cur_end - cur_start).total_seconds()
    return total


def environment_summary(records: list[dict[str, Any]], suite: str, df: pd.DataFrame) -> dict[str, Any]:
    envs = [r["environment"] for r in records]

    def distinct(key: str) -> list:
        return sorted({json.dumps(e.get(key), sort_keys=True) for e in envs})

    argv = Counter(shlex.join(["bench", *e["argv"]]) for e in envs if e.get("argv"))
    ok = df[df["status"] == "ok"]
    total = pd.to_numeric(df.get("total_s"), errors="coerce").sum() if "total_s" in df else float("nan")
    return {
        "suite": suite,
        "cells": int(len(df)), "ok": int(len(ok)), "failed": int((df["status"] == "failed").sum()),
        "datasets": sorted(df["dataset"].unique()), "methods": sorted(df["method"].unique()),
        "shots": sorted(int(k) for k in df["shots"].unique()), "seeds": sorted(int(s) for s in df["seed"].unique()),
        "sum_cell_seconds": round(float(total), 1),
        "first_started": min(r["started_at"] for r in records), "last_finished": max(r["finished_at"] for r in records),
        "span_s": (pd.Timestamp(max(r["finished_at"] for r in records))
                   - pd.Timestamp(min(r["started_at"] for r in records))).total_seconds(),
        "busy_s": round(busy_wall(records), 1),
        "devices": sorted({f"{e.get('device')} ({e.get('device_name')}), {e.get('threads')} torch thread(s)" for e in envs}),
        "hosts_platforms": sorted({f"{e.get('platform')}, {e.get('cpu_count')} CPUs" for e in envs}),
        "python": [json.loads(x) for x in distinct("python")],
        "packages": [json.loads(x) for x in distinct("packages")],
        "git_commits": sorted({f"{e.get('git_commit')}{' (dirty)' if e.get('git_dirty') else ''}" for e in envs}),
        "commands": [c for c, _ in argv.most_common()],
        "reproduce": reproduce_command(suite, df, records),
    }


def suite_argument(suite: str, records: list[dict]) -> str:
    """What ``--suite`` must say to rerun ``suite``: its name if built in, else the suite file the
    records were run with (from their command lines; a name alone would not be found)."""
    from bench.suite import builtin_suites

    if suite in builtin_suites():
        return suite
    for r in records:  # an ad-hoc run (bench run --datasets …): the suite it was derived from
        origin = (r.get("suite_info") or {}).get("derived_from")
        if origin:
            return origin
    for r in records:
        argv = r.get("environment", {}).get("argv") or []
        for i, a in enumerate(argv[:-1]):
            if a == "--suite" and argv[i + 1] != suite:
                return argv[i + 1]
    return suite


def reproduce_command(suite: str, df: pd.DataFrame, records: list[dict] | None = None) -> str:
    """The ``bench run`` that recomputes these records. Datasets are given as the specs the
    records were run with (``fashion-mnist[5-9]``), not their display names (``fashion-mnist-c5-9``)."""
    records = records or []
    presets = sorted(set(df["preset"].dropna())) if "preset" in df else []
    specs = {r["dataset"]["name"]: r["dataset"].get("spec") or r["dataset"]["name"] for r in records}
    datasets = sorted(specs.get(d, d) for d in df["dataset"].unique())
    suite_arg = suite_argument(suite, records)
    named = ["--name", suite] if any((r.get("suite_info") or {}).get("derived_from") for r in records) else []
    sources = {((r.get("method") or {}).get("config") or {}).get("source") for r in records} - {None, "auto"}
    if named and len(sources) == 1:  # bench run --source
        named += ["--source", sources.pop()]
    parts = ["bench", "run", "--suite", suite_arg, *named, "--datasets", ",".join(datasets),
             "--methods", ",".join(sorted(df["method"].unique(), key=lambda m: (m != "baseline", m))),
             "--shots", ",".join(str(k) for k in sorted(df["shots"].unique())),
             "--seeds", ",".join(str(s) for s in sorted(df["seed"].unique()))]
    if len(presets) == 1:
        parts += ["--preset", presets[0]]
    return shlex.join(parts + classifier_argument(records))


def classifier_argument(records: list[dict]) -> list[str]:
    """``["--classifier", NAME]``: the classifier preset that today gives the records' classifier
    config (by its hash), so the line still recomputes them after a preset changed (the 4800-step
    ``standard`` of the earlier reference is ``adam-4800`` now). Empty where cells differ in their
    classifier (variants with classifier settings: their suite file says) or no preset matches."""
    from bench.store import stable_hash
    from bench.training import CLASSIFIER_PRESETS, classifier_key

    clfs = [r["classifier"] for r in records if r.get("classifier")]
    hashes = {c.get("config_hash") for c in clfs}
    if len(hashes) != 1:
        return []
    recorded, wanted = {c.get("preset") for c in clfs}, hashes.pop()
    now = {name: stable_hash(classifier_key(cfg)) for name, cfg in CLASSIFIER_PRESETS.items()}
    names = [n for n in recorded if now.get(n) == wanted] or [n for n, h in now.items() if h == wanted]
    return ["--classifier", names[0]] if names else []


def build_report(suite: str, results_dir: Path, reports_dir: Path, output: Path | None = None) -> dict[str, Path]:
    """Write everything listed in the module docstring into ``output`` (default ``reports_dir/suite``)."""
    df, records = load_frame(suite, results_dir)
    out = Path(output) if output is not None else Path(reports_dir) / suite
    (out / "tables").mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"csv": out / "records.csv", "parquet": out / "records.parquet",
                              "markdown": out / "leaderboard.md"}
    public = df.drop(columns=["_path"])
    atomic_write_text(files["csv"], public.to_csv(index=False))
    try:
        atomic_write(files["parquet"], lambda tmp: public.to_parquet(tmp, index=False))
    except ImportError:  # pyarrow is a dependency; a broken install should not cost the other files
        files.pop("parquet")
    failed = df[df["status"] == "failed"]
    text = f"# {suite}\n\n" + leaderboard(df)
    if len(failed):
        text += f"\n{len(failed)} failed cell(s): see the `error` column of records.csv.\n"
    atomic_write_text(files["markdown"], text)

    metrics = table_metrics(df)
    sections = report_sections(df, metrics)
    tables = [t for sec in sections for t in sec.tables]
    files["summary_md"] = out / "tables" / "summary.md"
    atomic_write_text(files["summary_md"], f"# {suite}\n\n" + "\n".join(to_markdown(t) for t in tables))
    files["summary_tex"] = out / "tables" / "summary.tex"
    atomic_write_text(files["summary_tex"], latex_document(tables))
    files["summary_html"] = out / "tables" / "summary.html"
    atomic_write_text(files["summary_html"], "\n".join(to_html(t) for t in tables))
    for m in metrics:
        atomic_write_text(out / "tables" / f"summary_{m}.csv", significance(df, m, _higher(m)).to_csv(index=False))
    if "accuracy" in metrics:
        for name, frame in [("equivalence", real_label_equivalence(df)), ("gain_accuracy", paired_vs_baseline(df, "accuracy")),
                            ("mde_accuracy", column_mde(df, "accuracy"))]:
            atomic_write_text(out / "tables" / f"{name}.csv", frame.to_csv(index=False))
    atomic_write_text(out / "tables" / "cost.csv", cost_table(df).to_csv(index=False))

    from bench.plots import all_figures, sample_grid_files

    figures = all_figures(df, out / "figures", metrics)
    env = environment_summary(records, suite, df)
    env["report_command"] = shlex.join(["bench", "report", suite, "--results-dir", str(results_dir)]
                                       + (["--output", str(output)] if output is not None
                                          else ["--reports-dir", str(reports_dir)]))
    files["environment"] = out / "environment.json"
    atomic_write_text(files["environment"], json.dumps(env, indent=1) + "\n")
    files["html"] = out / "index.html"
    grids = sample_grid_files(df)
    atomic_write_text(files["html"], render_html(suite, sections, figures, env, out, grids, class_names(records)))
    return files


def _higher(metric: str) -> bool | None:
    info = describe(metric)
    return info.higher if info else None


def report_sections(df: pd.DataFrame, metrics: list[str], baseline: str = "baseline") -> list[Section]:
    """The report's sections in reading order: the verdict, one per metric (catalogue order),
    real-label equivalence, cost. summary.md/.tex hold the same tables in the same order."""
    sections = []
    if "accuracy" in metrics:
        sections.append(Section(
            "verdict", f"Verdict: accuracy gain over {baseline}",
            verdict_text(df, baseline) + " Each cell: the method's mean paired difference to the baseline over seeds "
            "(same labelled images per seed) ± 95 % CI and the Holm-adjusted p; the MDE rows are the smallest gains "
            "the seeds detect with power 0.8, for one comparison and for a Holm-corrected mark.",
            paired_tables(df, "accuracy", baseline), ["accuracy_gain_heatmap"]))
    for m in metrics:
        info = describe(m)
        sections.append(Section(f"metric-{m}", info.title if info else m,
                                f"{info.glossary} {info.direction.capitalize()}." if info else "",
                                summary_tables(df, m, baseline), [f"{m}_vs_shots"]))
    if "accuracy" in metrics:
        eq = equivalence_table(df, baseline)
        sections.append(Section(
            "equivalence", "Real-label equivalence",
            f"How many real labelled images per class {baseline} needs to match each method.", eq,
            empty=f"Not computed: {baseline} was run at fewer than two shot counts, so there is no curve to "
                  "read an equivalent shot count off."))
        per_class = per_class_tables(df, baseline)
        if per_class:
            sections.append(Section("per-class", "Accuracy per class",
                                    "Where each method wins or loses: mean test accuracy per class.", per_class))
    sections.append(Section("cost", "Cost per cell", "What a cell costs each method, and what that buys.",
                            cost_tables(df), ["accuracy_vs_cost"]))
    return sections


def verdict_text(df: pd.DataFrame, baseline: str = "baseline", alpha: float = 0.05) -> str:
    """One sentence per dataset: which methods beat or trail the baseline significantly (Holm),
    at which shots and by how much, and the range of minimum detectable effects."""
    paired = paired_vs_baseline(df, "accuracy", baseline)
    if paired.empty:
        return f"No paired comparison: no {baseline} cells with accuracy."
    mdes = column_mde(df, "accuracy", baseline)
    out = []
    for dataset, p in paired.groupby("dataset"):
        sig = p[p["p_holm"] < alpha]
        better, worse = sig[sig["diff"] > 0], sig[sig["diff"] < 0]

        def says(rows: pd.DataFrame) -> str:
            return ", ".join(f"{m} ({', '.join(f'{r.diff * 100:+.1f} pp at {r.shots}-shot' for r in g.itertuples())})"
                             for m, g in rows.groupby("method"))

        n_methods = p["method"].nunique()
        text = f"{dataset}: {better['method'].nunique()} of {n_methods} method(s) beat {baseline} significantly"
        text += f" — {says(better)}" if len(better) else ""
        text += f"; {worse['method'].nunique()} trail it" + (f" — {says(worse)}" if len(worse) else "") + "."
        md = mdes[mdes["dataset"] == dataset].dropna(subset=["mde"])
        if len(md):
            span = {}
            for col in ("mde", "mde_holm"):
                lo, hi = md[col].min() * 100, md[col].max() * 100
                span[col] = f"{lo:.1f} pp" if np.isclose(lo, hi) else f"{lo:.1f}–{hi:.1f} pp"
            text += (f" Smallest gains these seeds detect with power 0.8 (MDE, by shot count): {span['mde']} for one "
                     f"comparison chosen in advance, {span['mde_holm']} for a Holm-corrected mark.")
        out.append(text)
    return " ".join(out)


def class_names(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per dataset name: its class names when records carry ``dataset.classes``, else indices."""
    names: dict[str, list[str]] = {}
    for r in records:
        ds = r.get("dataset") or {}
        classes = ds.get("classes")
        if classes:
            names[ds["name"]] = [str(c) for c in classes]
        elif ds.get("name") not in names and ds.get("num_classes"):
            names[ds["name"]] = [str(i) for i in range(int(ds["num_classes"]))]
    return names
