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
* ``index.html`` — one self-contained page (figures embedded as data URIs, no scripts, no
  network) that leads with the verdict — each method's paired accuracy gain over the baseline per
  shot count (CI, Holm-corrected significance, minimum detectable effect), as a table and a
  heatmap — then one section per metric with a human title (bench.metric_catalog), real-label
  equivalence, cost, the sample grids (large, rows labelled with class names when records carry
  them), a glossary, the environment and the command to reproduce. Laid out for 1280 px desktop
  and 390 px phone widths (tests/test_report_browser.py measures both).
"""

from __future__ import annotations

import base64
import html
import json
import shlex
from collections import Counter
from dataclasses import dataclass, field
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
    sections = report_sections(df, metrics)
    tables = [t for sec in sections for t in sec.tables]
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
        paired_vs_baseline(df, "accuracy").to_csv(out / "tables" / "gain_accuracy.csv", index=False)
        column_mde(df, "accuracy").to_csv(out / "tables" / "mde_accuracy.csv", index=False)
    cost_table(df).to_csv(out / "tables" / "cost.csv", index=False)

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


@dataclass
class Section:
    """One ``<h2>`` of the report: an intro paragraph, tables, then figures (names in ``figures``)."""

    id: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    empty: str = "(nothing to show)"


def report_sections(df: pd.DataFrame, metrics: list[str], baseline: str = "baseline") -> list[Section]:
    """The report's sections in reading order: the verdict, one per metric (catalogue order),
    real-label equivalence, cost. summary.md/.tex hold the same tables in the same order."""
    sections = []
    if "accuracy" in metrics:
        sections.append(Section(
            "verdict", f"Verdict: accuracy gain over {baseline}",
            verdict_text(df, baseline) + " Each cell: the method's mean paired difference to the baseline over seeds "
            "(same labelled images per seed) ± 95 % CI and the Holm-adjusted p; the MDE row is the smallest gain "
            "the seeds could detect.",
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
        md = mdes[mdes["dataset"] == dataset]["mde"].dropna()
        if len(md):
            lo, hi = md.min() * 100, md.max() * 100
            text += (f" Smallest gain these seeds detect (MDE): {lo:.1f} pp" if np.isclose(lo, hi)
                     else f" Smallest gains these seeds detect (MDE): {lo:.1f}–{hi:.1f} pp") + " by shot count."
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


CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 16px;
color:#222;line-height:1.45}
h1{margin-bottom:.2em;font-size:1.7em;overflow-wrap:anywhere} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
nav.toc{font-size:.9em;display:flex;flex-wrap:wrap;gap:.2em .9em;margin:.8em 0}
p.intro{max-width:60em}
div.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table.results{border-collapse:collapse;margin:1em 0 .3em;font-variant-numeric:tabular-nums}
table.results caption{text-align:left;font-weight:600;padding-bottom:.4em}
table.results th,table.results td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
table.results thead th{white-space:normal;vertical-align:bottom}
table.results th:first-child{text-align:left} table.results thead th{border-bottom:2px solid #444}
table.results tfoot th,table.results tfoot td{font-style:italic;font-weight:400;color:#555;border-top:2px solid #999}
sup.mark{font-size:.8em;font-weight:700;margin-left:3px;cursor:help}
sup.up,sup.down{color:#fff;border-radius:3px;padding:0 .3em;vertical-align:.15em}
sup.up{background:#1a7f37} sup.down{background:#c62828} sup.tie{color:#5b4a9e;font-weight:400;font-size:.9em}
p.note{font-size:.85em;color:#555;max-width:60em}
figure{margin:1.5em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:minmax(6em,max-content) minmax(0,1fr);gap:.3em 1em} dt{max-width:17em} dt{font-weight:600} dd{margin:0;overflow-wrap:anywhere}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1.8em 2.5em}
.samples figure{margin:0} .samples figcaption{font-weight:600;color:#333;margin-bottom:.3em;font-size:.9em}
.gridwrap{display:flex;align-items:stretch}
.gridwrap ol{list-style:none;margin:0;padding:2px .4em 2px 0;display:flex;flex-direction:column;font-size:.8em;color:#444}
.gridwrap li{flex:1;display:flex;align-items:center;justify-content:flex-end;white-space:nowrap}
.gridwrap img{flex:1;min-width:0;width:100%;image-rendering:pixelated;border:0}
@media (max-width:600px){
 body{margin:.8em auto;padding:0 10px} h1{font-size:1.35em} h2{font-size:1.2em}
 table.results{font-size:.85em} table.results th,table.results td{padding:.25em .5em}
 dl{grid-template-columns:minmax(0,1fr)} dd{margin-bottom:.4em}
 .samples{grid-template-columns:minmax(0,1fr)}
 figure img.wide{max-width:none;width:760px}
}
"""

GLOSSARY = [
    ("paired difference", "A method's accuracy minus the baseline's on the same seed, hence the same labelled "
                          "images; averaging these removes the luck of the draw that both share."),
    ("95 % CI", "t interval of the mean over seeds: mean ± t(0.975, n − 1) · SD / √n."),
    ("Holm", "Holm–Bonferroni correction across the methods compared in one column (dataset, metric, shots), so "
             "that a table of many methods does not find 'significant' gains by chance."),
    ("MDE", "Minimum detectable effect: the true paired difference a two-sided paired t-test over these seeds "
            "finds with probability 0.8 at α = 0.05, given the observed spread of the paired differences (exact "
            "noncentral t). A gain smaller than the MDE is likely to go unseen; no mark is not evidence of no gain."),
    ("↑ / ↓", "Significantly better / worse than the baseline (paired t-test, Holm, α = 0.05); white on green / "
              "white on red."),
    ("†", "Not significantly different from the column's best mean (paired t-test, Holm, α = 0.05); a plain "
          "purple superscript."),
    ("bold", "Best mean of the column (lowest for distances); not used when a column has one method."),
]

CAPTIONS = {
    "accuracy_gain_heatmap": "Paired accuracy gain over the baseline in percentage points (same labelled set per seed); "
                             "bold ↑/↓ where significant after Holm; MDE per column under the shot count.",
    "accuracy_vs_cost": "Mean test accuracy vs. mean compute seconds per cell; ringed points form the Pareto front.",
}


def _img(path: Path, out: Path, cls: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    rel = path.relative_to(out).as_posix() if path.is_relative_to(out) else path.name
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}" title="{html.escape(rel)}">'


def _figure(name: str, path: Path, out: Path) -> str:
    e = html.escape
    metric = name.removesuffix("_vs_shots")
    info = describe(metric)
    cap = CAPTIONS.get(name) or (f"{info.title if info else metric} against labelled images per class: one panel per "
                                 "method, mean over seeds with its 95 % CI band (clipped to the metric's range).")
    from PIL import Image

    with Image.open(path) as im:  # wide figures scroll sideways on a phone instead of shrinking to 370 px
        wide = im.width > 1000
    img = _img(path, out, "wide" if wide else "")
    if wide:
        img = f'<div class="scroll">{img}</div>'
    return (f'<figure id="fig-{e(name)}">{img}'
            f'<figcaption>{e(cap)} '
            f"(<a href=\"{e(path.relative_to(out).as_posix())}\">PNG</a>, "
            f"<a href=\"{e(path.with_suffix('.svg').relative_to(out).as_posix())}\">SVG</a>)</figcaption></figure>")


def render_html(suite: str, sections: list[Section], figures: dict[str, Path], env: dict[str, Any], out: Path,
                grids: pd.DataFrame | None = None, classes: dict[str, list[str]] | None = None) -> str:
    e = html.escape
    grids = grids if grids is not None else pd.DataFrame(columns=["dataset", "method", "shots", "seed", "grid", "labelled"])
    classes = classes or {}
    toc = [(s.id, s.title) for s in sections] + [("samples", "Sample grids"), ("glossary", "Glossary"),
                                                  ("environment", "Environment"), ("reproduce", "Reproduce")]
    parts = ["<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>augbench report: {e(suite)}</title>",
             '<link rel="icon" href="data:,">', f"<style>{CSS}</style></head><body>",
             f"<h1>augbench report: <code>{e(suite)}</code></h1>",
             f"<p>{env['ok']} finished cell(s), {env['failed']} failed; datasets {e(', '.join(env['datasets']))}; "
             f"methods {e(', '.join(env['methods']))}; shots {e(', '.join(map(str, env['shots'])))}; "
             f"seeds {e(', '.join(map(str, env['seeds'])))}. Records from {e(env['first_started'])} to "
             f"{e(env['last_finished'])}; {env['sum_cell_seconds']:.0f} s summed over cells.</p>",
             '<nav class="toc">' + "".join(f'<a href="#{e(i)}">{e(t)}</a>' for i, t in toc) + "</nav>"]
    for sec in sections:
        parts.append(f'<section id="{e(sec.id)}"><h2>{e(sec.title)}</h2>')
        if sec.intro:
            parts.append(f'<p class="intro">{e(sec.intro)}</p>')
        parts += [to_html(t) for t in sec.tables] or [f"<p>{e(sec.empty)}</p>"]
        parts += [_figure(name, figures[name], out) for name in sec.figures if name in figures]
        parts.append("</section>")
    parts.append('<section id="samples"><h2>Sample grids</h2>')
    if len(grids):
        parts.append("<p class=\"intro\">What each generating method produced: the grid its cell wrote (lowest seed), "
                     "one row per class, labelled on the left.</p><div class=\"samples\">")
        for r in grids.itertuples():
            names = classes.get(r.dataset, [])
            # grids written since class names travel with records carry them in the PNG itself
            labels = "" if getattr(r, "labelled", False) else "".join(f"<li>{e(n)}</li>" for n in names)
            parts.append(f'<figure class="sample"><figcaption>{e(r.method)}, {e(str(r.dataset))}, {int(r.shots)}-shot, '
                         f'seed {int(r.seed)}</figcaption><div class="gridwrap">'
                         f'{"<ol>" + labels + "</ol>" if labels else ""}{_img(Path(r.grid), out)}</div></figure>')
        parts.append("</div>")
    else:
        parts.append("<p>No sample grids: no generating method in these records wrote one.</p>")
    parts.append("</section>")
    parts.append('<section id="glossary"><h2>Glossary</h2><dl>')
    for term, text in GLOSSARY:
        parts.append(f"<dt>{e(term)}</dt><dd>{e(text)}</dd>")
    for sec in sections:
        if sec.id.startswith("metric-"):
            info = describe(sec.id.removeprefix("metric-"))
            if info:
                parts.append(f"<dt>{e(info.title)}</dt><dd>{e(info.glossary)} {e(info.direction.capitalize())}"
                             f"{'; unit: ' + e(info.unit) if info.unit else ''}. Record key: "
                             f"<code>{e(info.key)}</code>.</dd>")
    parts.append("</dl></section>")
    parts.append('<section id="environment"><h2>Environment</h2><dl>')
    for key, label in (("devices", "device"), ("hosts_platforms", "platform"), ("python", "python"),
                       ("git_commits", "commit"), ("packages", "packages")):
        vals = env[key]
        text = "; ".join(", ".join(f"{k} {v}" for k, v in x.items()) if isinstance(x, dict) else str(x) for x in vals)
        parts.append(f"<dt>{e(label)}</dt><dd>{e(text)}</dd>")
    parts.append('</dl></section><section id="reproduce"><h2>Reproduce</h2>')
    parts.append(f"<p>Re-run the cells (finished cells are skipped; add <code>--force</code> to redo them):</p>"
                 f"<pre>{e(env['reproduce'])}</pre>")
    if env["commands"]:
        parts.append("<p>Command(s) recorded in the records:</p><pre>" + e("\n".join(env["commands"])) + "</pre>")
    parts.append(f"<p>Rebuild this report from the records:</p><pre>{e(env['report_command'])}</pre></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
