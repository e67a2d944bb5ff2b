"""scripts/cost_compare.py: busy wall time is the union of the cells' intervals (pauses between
sessions and overlap between workers are not counted twice), and families sum their cells."""

from __future__ import annotations

import subprocess
import sys

from script_module import SCRIPTS, load_script

from bench.runner import run_cell
from bench.store import ResultStore
from bench.suite import Cell

SCRIPT = SCRIPTS / "cost_compare.py"


def _mod():
    return load_script("cost_compare")


def rec(method: str, start: str, end: str, total: float, fit: float = 0.0, metrics: float = 0.0,
        cas: float | None = None) -> dict:
    r = {"status": "ok", "method": {"name": method}, "started_at": f"2026-01-01T{start}+00:00",
         "finished_at": f"2026-01-01T{end}+00:00", "environment": {"cpu_model": "x"},
         "timings": {"total_s": total, "fit_s": fit, "train_s": total - fit - metrics, "metrics_s": metrics}}
    if cas is not None:
        r["details"] = {"generation": {"cas": {"train_s": cas}}}
    return r


def test_busy_wall_is_the_union_of_intervals():
    m = _mod()
    # two workers overlap 10:00-10:10 and 10:05-10:20 (20 min busy), then a pause, then 11:00-11:30
    recs = [rec("baseline", "10:00:00", "10:10:00", 600), rec("gan", "10:05:00", "10:20:00", 900),
            rec("baseline", "11:00:00", "11:30:00", 1800)]
    assert m.busy_wall(recs) == 50 * 60
    assert m.busy_wall([]) == 0.0


def test_families_and_table(tmp_path, options):
    m = _mod()
    recs = [rec("gan", "10:00:00", "10:01:00", 60, fit=20, metrics=10, cas=8),
            rec("lrgan", "10:00:00", "10:02:00", 120, fit=40, metrics=30, cas=22),
            rec("baseline", "10:02:00", "10:03:00", 30)]
    fams = m.summarise(recs)
    gans = next(v for k, v in fams.items() if k.startswith("GANs"))
    assert gans["cells"] == 2 and gans["s"] == 180 and gans["fit_s"] == 60 and gans["cas_s"] == 30
    # the script reads records through the project's store, so the files are real records (a tiny
    # cell's) given these methods, times and statuses
    real = run_cell(Cell("cost", "digits", "baseline", 1, 0, "tiny", {}, "tiny", {}, 0), options)
    folder = tmp_path / "run"
    store = ResultStore(folder)
    for i, r in enumerate(recs + [{**rec("gan", "10:00:00", "10:01:00", 999), "status": "failed"}]):
        full = {**real, **{k: r[k] for k in ("status", "started_at", "finished_at", "timings", "details") if k in r},
                "method": {**real["method"], "name": r["method"]["name"]},
                "environment": {**real["environment"], **r["environment"]}}
        if full["status"] == "failed":
            full["error"] = {"type": "RuntimeError", "message": "x", "traceback": "x"}
        store.write(folder / f"{i}.json", full)
    (folder / "broken.json").write_text("{")  # not a record: named on stderr, not counted
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--labels", "new"], capture_output=True,
                          text=True, check=True)
    out = done.stdout
    assert "broken.json" in done.stderr
    assert "| new | 3 | 210 | 0.1 h | x |" in out  # the failed record is not counted
    assert "| 2, 90, 86 % |" in out
    # per GAN cell: fit 30, classifier 40, image metrics 20 of which CAS 15, other 0
    assert "| GANs (gan, lrgan, diffaug-gan, transfer-gan) | 30 | 40 | 20 | 15 | 0 |" in out
    # a second run gets a ratio column: its seconds per cell over the first run's, per family
    two = subprocess.run([sys.executable, str(SCRIPT), str(folder), str(folder), "--labels", "a", "b"],
                         capture_output=True, text=True, check=True).stdout
    assert "| a: cells, s per cell, share | b: cells, s per cell, share | b ÷ a |" in two
    assert "| 2, 90, 86 % | 2, 90, 86 % | 1.00 |" in two
