"""The self-contained HTML page of ``bench report``: one ``<h2>`` per :class:`Section` (intro, tables,
figures embedded as data URIs), the sample grids, a glossary, the environment and the commands to
reproduce. No scripts, no network; laid out for 1280 px desktop and 390 px phone widths
(tests/test_report_browser.py measures both). :mod:`bench.report` decides what goes in it.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.metric_catalog import describe
from bench.tables import Table, to_html


@dataclass
class Section:
    """One ``<h2>`` of the report: an intro paragraph, tables, then figures (names in ``figures``)."""

    id: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    empty: str = "(nothing to show)"



CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1320px;margin:1.5em auto;padding:0 16px;
color:#222;line-height:1.45}
h1{margin-bottom:.2em;font-size:1.7em;overflow-wrap:anywhere} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
nav.toc{font-size:.9em;display:flex;flex-wrap:wrap;gap:.2em .9em;margin:.8em 0}
p.intro{max-width:60em}
div.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table.results{border-collapse:collapse;margin:1em 0 .3em;font-variant-numeric:tabular-nums}
table.results caption{text-align:left;font-weight:600;padding-bottom:.4em}
table.results th,table.results td{padding:.25em .5em;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
table.results thead th{white-space:normal;vertical-align:bottom}
table.results th:first-child{text-align:left} table.results thead th{border-bottom:2px solid #444}
table.results tfoot th,table.results tfoot td{font-style:italic;font-weight:400;color:#555;border-top:2px solid #999}
table.results span.p{font-size:.8em;color:#555}
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
 table.results{font-size:.85em}
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
            "noncentral t): the power of one comparison chosen in advance. The ↑/↓ marks are Holm-corrected over the "
            "m methods of a column, so a mark needs more: the 'MDE for a mark' row is the same at α/m (Holm's first "
            "step; an upper bound when several methods differ). A gain smaller than the MDE is likely to go unseen; "
            "no mark is not evidence of no gain."),
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
             f"{e(env['last_finished'])}, {env['busy_s'] / 3600:.1f} h of it with a cell running; "
             f"{env['sum_cell_seconds']:.0f} s summed over cells.</p>",
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
