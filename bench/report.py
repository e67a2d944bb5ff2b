"""``bench report SUITE``: everything a reader needs, rebuilt from the records alone (no training).

Writes into ``<reports>/<suite>/``:

* ``records.csv`` / ``records.parquet`` — the long table (one row per cell; metrics, timings,
  memory, costs, numeric details);
* ``leaderboard.md`` — the plain Markdown leaderboard ``bench run`` prints;
* ``tables/summary.{md,tex,html}`` — paper-style tables per dataset and metric (see bench.tables),
  real-label equivalence and cost; ``summary.tex`` is a complete LaTeX document (booktabs),
  ``tables/*.csv`` the numbers behind them;
* ``figures/*.{png,svg}`` — see bench.plots;
* ``environment.json`` — versions, devices, commits and the commands that made the records;
* ``index.html`` — one self-contained page (figures embedded as data URIs, no scripts, no
  network) with the tables, figures, sample grids, environment and the command to reproduce.
"""

from __future__ import annotations

import base64
import html
import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from bench.aggregate import long_table, real_label_equivalence, significance, table_metrics
from bench.costs import add_details, cost_table
from bench.errors import BenchError
from bench.store import ResultStore, atomic_write_text
from bench.tables import (
    Table,
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
    return shlex.join(parts)


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
        public.to_parquet(files["parquet"], index=False)
    except ImportError:  # pyarrow is a dependency; a broken install should not cost the other files
        files.pop("parquet")
    failed = df[df["status"] == "failed"]
    text = f"# {suite}\n\n" + leaderboard(df)
    if len(failed):
        text += f"\n{len(failed)} failed cell(s): see the `error` column of records.csv.\n"
    atomic_write_text(files["markdown"], text)

    metrics = table_metrics(df)
    groups: list[tuple[str, list[Table]]] = [(f"Summary: {m}", summary_tables(df, m)) for m in metrics]
    if "accuracy" in metrics:
        groups.insert(1, ("Paired difference to baseline: accuracy", paired_tables(df, "accuracy")))
        groups.append(("Real-label equivalence", equivalence_table(df)))
        groups.append(("Accuracy per class", per_class_tables(df)))
    groups.append(("Cost", cost_tables(df)))
    tables = [t for _, ts in groups for t in ts]
    files["summary_md"] = out / "tables" / "summary.md"
    atomic_write_text(files["summary_md"], f"# {suite}\n\n" + "\n".join(to_markdown(t) for t in tables))
    files["summary_tex"] = out / "tables" / "summary.tex"
    atomic_write_text(files["summary_tex"], latex_document(tables))
    files["summary_html"] = out / "tables" / "summary.html"
    atomic_write_text(files["summary_html"], "\n".join(to_html(t) for t in tables))
    for m in metrics:
        significance(df, m, _higher(m)).to_csv(out / "tables" / f"summary_{m}.csv", index=False)
    if "accuracy" in metrics:
        real_label_equivalence(df).to_csv(out / "tables" / "equivalence.csv", index=False)
    cost_table(df).to_csv(out / "tables" / "cost.csv", index=False)

    from bench.plots import all_figures

    figures = all_figures(df, out / "figures", metrics)
    env = environment_summary(records, suite, df)
    env["report_command"] = shlex.join(["bench", "report", suite, "--results-dir", str(results_dir)]
                                       + (["--output", str(output)] if output is not None
                                          else ["--reports-dir", str(reports_dir)]))
    files["environment"] = out / "environment.json"
    atomic_write_text(files["environment"], json.dumps(env, indent=1) + "\n")
    files["html"] = out / "index.html"
    atomic_write_text(files["html"], render_html(suite, groups, figures, env, out))
    return files


def _higher(metric: str) -> bool | None:
    from bench.aggregate import metric_info

    info = metric_info(metric)
    return info[1] if info else None


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table.results{border-collapse:collapse;margin:1em 0 .3em;font-variant-numeric:tabular-nums}
table.results caption{text-align:left;font-weight:600;padding-bottom:.4em;white-space:nowrap}
table.results th,table.results td{padding:.25em .8em;border-bottom:1px solid #e4e4e4;text-align:right}
table.results th:first-child{text-align:left} table.results thead th{border-bottom:2px solid #444}
sup.mark{color:#a33;font-weight:600;margin-left:1px} p.note{font-size:.85em;color:#555;max-width:60em}
figure{margin:1.5em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555} pre{background:#f6f6f6;padding:.8em;overflow-x:auto;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em} dt{font-weight:600}
"""

CAPTIONS = {
    "accuracy_gain_heatmap": "Paired accuracy gain over the baseline in percentage points (same labelled set per seed).",
    "accuracy_vs_cost": "Mean test accuracy vs. mean compute seconds per cell; ringed points form the Pareto front.",
    "sample_grids": "Sample grids written by generating cells (lowest seed per method and shot count).",
}


def _img(path: Path, out: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    rel = path.relative_to(out).as_posix()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}" title="{html.escape(rel)}">'


def render_html(suite: str, groups: list[tuple[str, list[Table]]], figures: dict[str, Path], env: dict[str, Any],
                out: Path) -> str:
    e = html.escape
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>augbench report: {e(suite)}</title>",
             '<link rel="icon" href="data:,">', f"<style>{CSS}</style></head><body>",
             f"<h1>augbench report: <code>{e(suite)}</code></h1>",
             f"<p>{env['ok']} finished cell(s), {env['failed']} failed; datasets {e(', '.join(env['datasets']))}; "
             f"methods {e(', '.join(env['methods']))}; shots {e(', '.join(map(str, env['shots'])))}; "
             f"seeds {e(', '.join(map(str, env['seeds'])))}. Records from {e(env['first_started'])} to "
             f"{e(env['last_finished'])}; {env['sum_cell_seconds']:.0f} s summed over cells.</p>"]
    for title, tables in groups:
        parts.append(f'<h2 id="{e(title.lower().replace(" ", "-").replace(":", ""))}">{e(title)}</h2>')
        parts += [to_html(t) for t in tables] or ["<p>(nothing to show)</p>"]
    parts.append("<h2 id=\"figures\">Figures</h2>")
    for name, path in figures.items():
        if name == "sample_grids":
            continue
        cap = CAPTIONS.get(name, f"{name.replace('_', ' ')}: mean over seeds with 95 % CI bands.")
        parts.append(f"<figure>{_img(path, out)}<figcaption>{e(cap)} "
                     f"(<a href=\"{e(path.relative_to(out).as_posix())}\">PNG</a>, "
                     f"<a href=\"{e(path.with_suffix('.svg').relative_to(out).as_posix())}\">SVG</a>)</figcaption></figure>")
    parts.append("<h2 id=\"samples\">Sample grids</h2>")
    if "sample_grids" in figures:
        parts.append(f"<figure>{_img(figures['sample_grids'], out)}<figcaption>{e(CAPTIONS['sample_grids'])}</figcaption></figure>")
    else:
        parts.append("<p>No sample grids: no generating method in these records wrote one.</p>")
    parts.append("<h2 id=\"environment\">Environment</h2><dl>")
    for key, label in (("devices", "device"), ("hosts_platforms", "platform"), ("python", "python"),
                       ("git_commits", "commit"), ("packages", "packages")):
        vals = env[key]
        text = "; ".join(", ".join(f"{k} {v}" for k, v in x.items()) if isinstance(x, dict) else str(x) for x in vals)
        parts.append(f"<dt>{e(label)}</dt><dd>{e(text)}</dd>")
    parts.append("</dl><h2 id=\"reproduce\">Reproduce</h2>")
    parts.append(f"<p>Re-run the cells (finished cells are skipped; add <code>--force</code> to redo them):</p>"
                 f"<pre>{e(env['reproduce'])}</pre>")
    if env["commands"]:
        parts.append("<p>Command(s) recorded in the records:</p><pre>" + e("\n".join(env["commands"])) + "</pre>")
    parts.append(f"<p>Rebuild this report from the records:</p><pre>{e(env['report_command'])}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
