"""`bench report` on real records made by the real harness (tiny suite), plus the exports and the
browser check. The records are produced once per session by `bench run --suite tiny`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.tables import latex_document, summary_tables, to_html, to_latex, to_markdown


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    rc = main(["run", "--suite", "tiny", "--methods", "baseline,classic", "--name", "tiny-bc", "--data-root", str(root / "data"), "--results-dir", str(root / "results"),
               "--reports-dir", str(root / "reports")])
    assert rc == 0
    return root


@pytest.fixture(scope="session")
def report(tiny_run: Path) -> Path:
    rc = main(["report", "tiny-bc", "--results-dir", str(tiny_run / "results"), "--reports-dir", str(tiny_run / "reports")])
    assert rc == 0
    return tiny_run / "reports" / "tiny-bc"


def test_long_table_csv_and_parquet_hold_every_cell(report: Path, tiny_run: Path):
    n_records = len(list((tiny_run / "results" / "tiny-bc").rglob("*.json")))
    csv = pd.read_csv(report / "records.csv")
    pq = pd.read_parquet(report / "records.parquet")
    assert len(csv) == len(pq) == n_records == 8  # 2 methods x 2 shots x 2 seeds
    assert list(csv.columns) == list(pq.columns)
    np.testing.assert_allclose(csv["accuracy"], pq["accuracy"])
    for col in ("accuracy", "train_s", "peak_rss_mb", "classifier_params", "classifier_bytes"):
        assert col in csv and csv[col].notna().all(), col


def test_summary_matches_records(report: Path, tiny_run: Path):
    recs = [json.loads(p.read_text()) for p in (tiny_run / "results" / "tiny-bc").rglob("*.json")]
    accs = [r["metrics"]["accuracy"] for r in recs if r["method"]["name"] == "classic" and r["task"]["shots"] == 3]
    summ = pd.read_csv(report / "tables" / "summary_accuracy.csv")
    row = summ[(summ["method"] == "classic") & (summ["shots"] == 3)].iloc[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(np.mean(accs))
    md = (report / "tables" / "summary.md").read_text()
    assert f"{np.mean(accs):.3f}" in md
    assert "| method | 1-shot | 3-shot |" in md and "Holm" in md and "α = 0.05" in md
    assert md.count("**") >= 4  # one bold best per column
    assert "real-label equivalence" in md and "cost per cell" in md


def test_cost_table_counts_the_real_classifier(report: Path):
    from bench.nets import SmallCNN
    from bench.training import CLASSIFIER_PRESETS

    cfg = CLASSIFIER_PRESETS["tiny"]
    expected = sum(p.numel() for p in SmallCNN((1, 8, 8), 10, width=cfg.width, dropout=cfg.dropout).parameters())
    cost = pd.read_csv(report / "tables" / "cost.csv")
    assert set(cost["method"]) == {"baseline", "classic"} and (cost["cells"] == 4).all()
    assert (cost["classifier_params"] == expected).all()
    assert (cost["model_bytes"] > expected * 4).all()  # fp32 weights plus torch.save framing
    assert (cost["train_s"] > 0).all() and (cost["peak_rss_mb"] > 0).all()


def test_figures_and_html(report: Path):
    for name in ("accuracy_vs_shots", "accuracy_gain_heatmap", "accuracy_vs_cost"):
        for ext in ("png", "svg"):
            f = report / "figures" / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 1000, f
    html = (report / "index.html").read_text()
    assert html.count('<table class="results">') >= 3
    assert html.count("data:image/png;base64,") == 3
    assert "No sample grids" in html
    assert "bench run --suite tiny --name tiny-bc" in html and "bench report tiny-bc" in html
    env = json.loads((report / "environment.json").read_text())
    assert env["cells"] == 8 and env["devices"] and env["git_commits"] and env["packages"][0]["torch"]


def test_sample_grid_montage_picks_up_pngs_beside_records(tiny_run: Path, tmp_path: Path):
    import matplotlib.pyplot as plt

    from bench.datasets import load_dataset

    results = tmp_path / "results"
    shutil.copytree(tiny_run / "results", results)
    rec = sorted((results / "tiny-bc" / "digits" / "classic").glob("shots3-seed0-*.json"))[0]
    ds = load_dataset("digits")  # a real grid of real images, as a generating method would write
    grid = np.concatenate([np.concatenate([ds.train_x[i * 10 + j, 0].numpy() for j in range(10)], 1) for i in range(3)], 0)
    plt.imsave(rec.with_suffix(".png"), grid, cmap="gray")
    assert main(["report", "tiny-bc", "--results-dir", str(results), "--reports-dir", str(tmp_path / "reports")]) == 0
    out = tmp_path / "reports" / "tiny-bc"
    assert (out / "figures" / "sample_grids.png").is_file()
    html = (out / "index.html").read_text()
    assert "No sample grids" not in html and html.count("data:image/png;base64,") == 4
    # shown on its own (large, by CSS), its rows labelled: indices when records carry no class names
    labels = "".join(f"<li>{i}</li>" for i in range(10))
    assert f'<div class="gridwrap"><ol>{labels}</ol><img src="data:image/png;base64,' in html
    # records that carry class names (folder datasets) label the rows with them
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    for f in (results / "tiny-bc").rglob("*.json"):
        r = json.loads(f.read_text())
        r["dataset"]["classes"] = names
        f.write_text(json.dumps(r))
    assert main(["report", "tiny-bc", "--results-dir", str(results), "--output", str(tmp_path / "named")]) == 0
    html = (tmp_path / "named" / "index.html").read_text()
    assert "<ol>" + "".join(f"<li>{n}</li>" for n in names) + "</ol>" in html


def test_report_of_missing_suite_is_one_line_error(tmp_path: Path, capsys):
    assert main(["report", "nosuch", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no results in" in err and "bench run --suite SUITE" in err  # not the failing `--suite nosuch`


def synthetic():
    rows = [{"dataset": "d", "method": m, "shots": k, "seed": s, "status": "ok",
             "accuracy": 0.5 + 0.01 * k + off + 0.003 * s * (1 if m != "my_method" else -1)}
            for m, off in (("baseline", 0.0), ("my_method", 0.1)) for k in (1, 5) for s in range(4)]
    return pd.DataFrame(rows)


def test_exports_structure_and_escaping():
    (t,) = summary_tables(synthetic(), "accuracy")
    md, tex, html = to_markdown(t), to_latex(t), to_html(t)
    assert "**0.6" in md and "↑" in md  # my_method is best and significantly better than the baseline
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and r"\textbf{" in tex
    assert r"my\_method" in tex and r"$\pm$" in tex and r"$^{\uparrow}$" in tex and "±" not in tex
    assert "<strong>" in html and '<sup class="mark up" title="significantly better than the baseline">↑</sup>' in html
    assert "<tfoot>" in html and "MDE (α = 0.05, power 0.8)" in html  # the MDE row is set apart from the methods
    assert md.splitlines()[6].startswith("| *MDE (α = 0.05, power 0.8)* |") and r"\textit{MDE" in tex
    assert md.splitlines()[7].startswith("| *MDE for a mark (α/m, power 0.8)* |")  # what a Holm ↑/↓ needs


def test_paired_table_against_hand_computed_differences():
    from scipy import stats

    from bench.aggregate import mde_effect_size
    from bench.tables import fmt_p, leaderboard, paired_tables

    df = synthetic()
    (t,) = paired_tables(df, "accuracy")
    assert [row[0].text for row in t.rows] == ["my_method"]
    # my_method − baseline per seed s: 0.1 − 0.006 s, s = 0..3 → mean 0.091
    d = np.array([0.1 - 0.006 * s for s in range(4)])
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    a = np.array([0.51 + 0.1 - 0.003 * s for s in range(4)])
    p = stats.ttest_rel(a, a - d).pvalue
    assert t.rows[0][1].text == f"+{d.mean():.3f} ± {half:.3f} ({fmt_p(p)})"  # Holm over one method = p
    assert t.rows[0][1].marks == "↑"
    # the MDE rows: one method, so its own paired SD; 4 pairs; Holm over one method is the plain test
    assert t.foot[0][0].text.startswith("MDE") and t.foot[0][1].text == f"{mde_effect_size(4) * d.std(ddof=1):.3f}"
    assert t.foot[1][0].text.startswith("MDE for a mark")
    assert t.foot[1][1].text == f"{mde_effect_size(4) * d.std(ddof=1):.3f} (m=1)"
    md = leaderboard(df)  # what `bench run` prints: both tables carry the MDE row
    assert md.index("#### d: Test accuracy") < md.index("#### d: gain over baseline, test accuracy")
    assert md.count("| *MDE (α = 0.05, power 0.8)* |") == 2
    assert leaderboard(df.drop(columns=["accuracy"])).startswith("(no finished records")
    assert "over n = 4 shared seed(s)" in t.note
    # a method with fewer finished seeds: the note gives the range, not the largest n alone
    more = pd.concat([df, df[df["method"] == "my_method"].assign(method="other")])
    more = more[~((more["method"] == "other") & (more["seed"] == 3))]
    (t,) = paired_tables(more, "accuracy")
    assert "over n = 3–4 shared seeds (per cell: fewer where a method has not finished every seed)" in t.note


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (apt-get install texlive-latex-recommended)")
def test_latex_compiles(tmp_path: Path):
    from bench.tables import cost_tables, equivalence_table

    df = synthetic()
    df["train_s"] = 1.5
    doc = latex_document(summary_tables(df, "accuracy") + equivalence_table(df) + cost_tables(df))
    (tmp_path / "t.tex").write_text(doc)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def _browser_ready() -> str | None:
    from bench.browser import find_chromium

    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright not installed (pip install playwright; no browser download needed)"
    return None if find_chromium() else "chromium not installed (apt-get install chromium)"


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path):
    why = _browser_ready()
    if why:
        pytest.skip(why)
    from bench.browser import inspect_page

    targets = [(report / "index.html", tmp_path / "tiny.png")]
    # AUGBENCH_SCREENSHOT=PATH: also render the committed reference report and keep its screenshot there
    ref = Path(__file__).resolve().parent.parent / "reports" / "reference" / "index.html"
    if os.environ.get("AUGBENCH_SCREENSHOT") and ref.is_file():
        targets.append((ref, Path(os.environ["AUGBENCH_SCREENSHOT"])))
    for html, shot in targets:
        info = inspect_page(html, shot)
        assert info["errors"] == [] and info["failed_requests"] == [], info
        assert info["tables"] >= 3 and info["rows"] >= 3
        assert len(info["images"]) >= 3 and all(i["complete"] and i["w"] > 100 for i in info["images"]), info["images"]
        assert {"Verdict: accuracy gain over baseline", "Test accuracy", "Glossary", "Environment",
                "Reproduce"} <= set(info["headings"])
        assert shot.stat().st_size > 10_000


def test_report_adapts_to_whatever_metric_columns_records_have(tiny_run: Path, tmp_path: Path):
    """Generation metrics and extra details (as the metrics and method helpers add them) get their
    own tables and figures; memorisation has no 'better' direction, so no bold or marks."""
    results = tmp_path / "results"
    shutil.copytree(tiny_run / "results", results)
    for i, f in enumerate(sorted(results.rglob("*.json"))):
        rec = json.loads(f.read_text())
        rec["metrics"].update(fid_domain=30.0 + i, kid_norm_x1e3_domain=10.0 * i, memorisation_ratio=1.0 + 0.01 * i,
                              precision_domain=0.5 + 0.01 * i, cas=0.4 + 0.01 * i)
        rec["details"].update(trainable_params=1000 + i, model_bytes=4096, model_params=321, nested={"student_bytes": 77})
        f.write_text(json.dumps(rec))
    out = tmp_path / "out"
    assert main(["report", "tiny-bc", "--results-dir", str(results), "--output", str(out)]) == 0
    md = (out / "tables" / "summary.md").read_text()
    assert "digits: FID (domain features)" in md and "digits: KID ×10³ (domain features)" in md and "Memorisation ratio" in md
    mem = md.split("Memorisation ratio")[1].split("####")[0]
    assert "**" not in mem and "†" not in mem and "no better direction" in mem
    # metrics another part of augbench adds appear by their catalogue entry: title, section, glossary
    assert "digits: Precision (domain features)" in md and "digits: Classification Accuracy Score (CAS)" in md
    html = (out / "index.html").read_text()
    assert '<section id="metric-precision_domain"><h2>Precision (domain features)</h2>' in html
    assert "Kynkäänniemi" in html and "Ravuri &amp; Vinyals" in html
    for name in ("fid_domain_vs_shots", "kid_norm_x1e3_domain_vs_shots", "memorisation_ratio_vs_shots", "cas_vs_shots"):
        assert (out / "figures" / f"{name}.png").is_file()
    cost = pd.read_csv(out / "tables" / "cost.csv")
    assert (cost["model_bytes"] == 4096).all() and (cost["method_params"] > 1000).all()
    assert (cost["classifier_params"] == 321).all()
    assert "detail_nested_student_bytes" in pd.read_csv(out / "records.csv")


def test_every_method_gets_its_own_colour_and_marker():
    """13 methods on one accuracy plot: tab10 alone repeated three colours (baseline and
    pseudo-label were both blue), so beyond ten the (colour, marker) pair must still be unique. The
    standard suite has 22 methods besides the baseline: tab20 alone gave ae-pretrain and
    transfer-gan, classic and vae the same colour and marker."""
    from bench.plots import BASELINE_COLOR, PALETTE, method_styles

    for n in (3, 10, 13, 20, 22, 30, 45):
        styles = method_styles([f"m{i}" for i in range(n)] + ["baseline"])
        assert len({(s["color"], s["marker"]) for s in styles.values()}) == n + 1
        assert len({s["color"] for s in styles.values()}) == min(n, len(PALETTE)) + 1  # repeat only past 28
        assert styles["baseline"]["color"] == BASELINE_COLOR
    # one mapping for the whole report: a method keeps its colour whichever subset a figure shows
    every = method_styles(["baseline", "vae", "gan", "classic"])
    assert method_styles(["gan", "classic", "vae", "baseline"]) == every


def test_reproduce_command_uses_dataset_specs_and_the_suite_file():
    """A class subset is displayed as fashion-mnist-c5-9 but only fashion-mnist[5-9] runs, and a
    suite from a file is found by its path, not by its name."""
    from bench.report import reproduce_command

    df = pd.DataFrame({"dataset": ["fashion-mnist-c5-9"] * 2, "method": ["gan", "baseline"], "shots": [10, 10],
                       "seed": [0, 0], "preset": ["standard"] * 2})
    rec = {"dataset": {"name": "fashion-mnist-c5-9", "spec": "fashion-mnist[5-9]"},
           "environment": {"argv": ["run", "--suite", "benchmarks/transfer-split.toml", "--workers", "2"]}}
    cmd = reproduce_command("transfer-split", df, [rec, rec])
    assert cmd == ("bench run --suite benchmarks/transfer-split.toml --datasets 'fashion-mnist[5-9]' "
                   "--methods baseline,gan --shots 10 --seeds 0 --preset standard")
    rec = {"dataset": {"name": "digits", "spec": "digits"}, "environment": {"argv": ["run"]}}
    df = df.assign(dataset="digits")
    assert reproduce_command("quick", df, [rec]).startswith("bench run --suite quick --datasets digits ")


def test_reproduce_command_names_the_classifier_preset_that_gives_the_recorded_config():
    """Records of the earlier 4800-step protocol were written under the preset name `standard`;
    `standard` is the 960-step recipe now, so the line names `adam-4800`, which gives their
    config; a current preset is named as recorded; cells that differ in classifier get no flag."""
    from bench.report import classifier_argument, reproduce_command
    from bench.store import stable_hash
    from bench.training import CLASSIFIER_PRESETS, ClassifierConfig, classifier_key

    def rec(cfg, preset):
        return {"dataset": {"name": "digits", "spec": "digits"}, "environment": {"argv": ["run"]},
                "classifier": {"preset": preset, "config_hash": stable_hash(classifier_key(cfg))}}

    old = rec(ClassifierConfig(steps=4800), "standard")
    df = pd.DataFrame({"dataset": ["digits"], "method": ["baseline"], "shots": [5], "seed": [0], "preset": ["standard"]})
    assert reproduce_command("standard", df, [old, {**old, "classifier": None}]).endswith(" --classifier adam-4800")
    now = rec(CLASSIFIER_PRESETS["standard"], "standard")
    assert classifier_argument([now]) == ["--classifier", "standard"]
    assert classifier_argument([now, old]) == []
    assert classifier_argument([rec(ClassifierConfig(steps=123), "standard")]) == []


def test_an_mde_wider_than_accuracy_itself_says_so():
    """Two seeds and ten methods: the Holm MDE of a noisy column exceeds 1, which no accuracy gain
    can reach; the row says "> 1" and the note why, instead of printing e.g. 5.452."""
    from bench.aggregate import column_mde
    from bench.tables import paired_tables

    rng = np.random.default_rng(0)
    rows = [{"dataset": "d", "method": m, "shots": 5, "seed": s, "status": "ok",
             "accuracy": float(np.clip(0.6 + rng.normal(0, 0.08), 0, 1))}
            for m in ["baseline"] + [f"m{i}" for i in range(10)] for s in range(2)]
    df = pd.DataFrame(rows)
    col = column_mde(df).iloc[0]
    assert col["mde"] < 1 < col["mde_holm"] and col["m"] == 10
    (t,) = paired_tables(df)
    assert t.foot[0][1].text == f"{col['mde']:.3f}" and t.foot[1][1].text == "> 1 (m=10)"
    assert "wider than the metric's whole range" in t.note
    # and a sane column does not carry that sentence
    (t,) = paired_tables(synthetic())
    assert "whole range" not in t.note


def test_html_leads_with_the_verdict_and_titles_sections_for_humans(report: Path):
    html = (report / "index.html").read_text()
    order = [html.index(f'<section id="{i}">') for i in ("verdict", "metric-accuracy", "cost", "samples", "glossary")]
    assert order == sorted(order)
    verdict = html[order[0]:order[1]]
    assert "gain over baseline" in verdict and 'id="fig-accuracy_gain_heatmap"' in verdict and "MDE" in verdict
    titles = [t.split("</h2>")[0] for t in html.split("<h2>")[1:]]
    assert titles[:2] == ["Verdict: accuracy gain over baseline", "Test accuracy"]
    assert not any("_" in t for t in titles), titles  # no raw record keys
    assert '<meta name="viewport"' in html
    gain = pd.read_csv(report / "tables" / "gain_accuracy.csv")
    assert {"diff", "ci95", "p_value", "p_holm", "mde"} <= set(gain.columns) and len(gain) == 2


def test_equivalence_needs_a_baseline_curve_and_a_real_difference():
    """One shot count: no curve, no table (it printed "> 10" for a +0.000 difference). A method
    indistinguishable from the baseline gets "n.s.", not a number read off noise."""
    from bench.tables import equivalence_table

    one = synthetic()
    one = one[one["shots"] == 5]
    assert equivalence_table(one) == []
    df = synthetic()
    same = df[df["method"] == "baseline"].assign(method="same")
    same["accuracy"] += np.array([0.001, -0.001, 0.0005, -0.0005] * 2)
    (t,) = equivalence_table(pd.concat([df, same]))
    rows = {r[0].text: [c.text for c in r[1:]] for r in t.rows}
    assert rows["same"] == ["n.s.", "n.s."] and rows["my_method"] == ["> 5", "> 5"]


def test_a_column_with_one_method_has_no_best():
    df = synthetic()
    df = df[df["method"] == "my_method"]
    (t,) = summary_tables(df, "accuracy")
    assert not any(c.bold for row in t.rows for c in row) and "**" not in to_markdown(t)
    assert "Bold" not in t.note and not t.foot  # no baseline in the table: no paired MDE either


def test_every_report_file_is_renamed_into_place(tiny_run: Path, tmp_path: Path, monkeypatch):
    """Two runs of one suite both write its report when they end, and the HTML embeds the PNGs:
    a PNG written in place was read half-written by the other run ('cannot identify image file',
    seen under load). Every file of a report must arrive by a rename, and a rebuild over an old
    report reads only whole files."""
    import bench.store

    renamed: list[Path] = []
    real_replace = os.replace

    def replace(src, dst):
        renamed.append(Path(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(bench.store.os, "replace", replace)
    out = tmp_path / "out"
    assert main(["report", "tiny-bc", "--results-dir", str(tiny_run / "results"), "--output", str(out)]) == 0
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert written and not [p for p in written if p.name.endswith(".tmp")]
    assert not set(written) - set(renamed), sorted(set(written) - set(renamed))
    assert {"png", "svg", "csv", "parquet", "md", "html"} <= {p.suffix[1:] for p in written}


def test_atomic_write_keeps_the_old_file_until_the_new_one_is_whole(tmp_path: Path):
    from bench.store import atomic_write

    path = tmp_path / "figure.png"
    path.write_bytes(b"old")

    def write(tmp: Path):
        tmp.write_bytes(b"half")
        assert path.read_bytes() == b"old"  # a reader meanwhile sees the old file
        tmp.write_bytes(b"new")

    atomic_write(path, write)
    assert path.read_bytes() == b"new"

    def fail(tmp: Path):
        tmp.write_bytes(b"partial")
        raise RuntimeError("savefig failed")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]
