"""The committed reference results (results/reference and the earlier 4800-step
results/reference-4800, with their reports/, made by scripts/make_reference.sh) stay consistent:
each report rebuilds from its committed records to the same tables, and (slow) a clean rerun of a
small subset lands within the committed 95 % CI — under the classifier preset that gives the
records' config (``adam-4800`` for the earlier reference)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = [name for name in ("reference", "reference-4800") if (ROOT / "results" / name / "records.csv").is_file()]

needs_reference = pytest.mark.skipif(not REFERENCES, reason="no committed reference results (scripts/make_reference.sh makes them)")
each_reference = pytest.mark.parametrize("name", REFERENCES)


def reference_suite(results: Path) -> str:
    return json.loads((results / "environment.json").read_text())["suite"]


@needs_reference
@each_reference
def test_committed_report_rebuilds_from_committed_records(tmp_path: Path, name: str):
    RESULTS, REPORT = ROOT / "results" / name, ROOT / "reports" / name
    suite = reference_suite(RESULTS)
    out = tmp_path / "rebuilt"
    assert main(["report", suite, "--results-dir", str(RESULTS / "records"), "--output", str(out)]) == 0
    stale = ("the committed report no longer matches what `bench report` renders from the committed records; "
             f"after changing tables or the report, rebuild it: `REF={name} scripts/make_reference.sh results/{name}/records`")
    for table in ("summary.md", "summary.tex"):
        assert (out / "tables" / table).read_text() == (REPORT / "tables" / table).read_text(), stale
    new, old = pd.read_csv(out / "records.csv"), pd.read_csv(RESULTS / "records.csv")
    pd.testing.assert_series_equal(new["accuracy"], old["accuracy"])


@pytest.mark.slow
@needs_reference
@each_reference
def test_clean_rerun_of_a_subset_is_within_the_committed_ci(tmp_path: Path, name: str):
    from bench.report import classifier_argument
    from bench.store import ResultStore

    RESULTS, REPORT = ROOT / "results" / name, ROOT / "reports" / name
    suite = reference_suite(RESULTS)
    ref = pd.read_csv(RESULTS / "records.csv")
    ref = ref[(ref["status"] == "ok") & (ref["method"] == "baseline")]
    dataset, shots = ref["dataset"].iat[0], int(ref["shots"].min())
    seeds = sorted(ref[(ref["dataset"] == dataset) & (ref["shots"] == shots)]["seed"].astype(int))
    data_root = os.environ.get("AUGBENCH_DATA_ROOT", str(tmp_path / "data"))
    rc = main(["run", "--suite", suite, "--datasets", dataset, "--methods", "baseline", "--shots", str(shots),
               "--seeds", ",".join(map(str, seeds)), "--preset", str(ref["preset"].iat[0]),
               *classifier_argument(list(ResultStore(RESULTS / "records").records(suite))), "--name", "rerun", "--data-root", data_root,
               "--results-dir", str(tmp_path / "results"), "--reports-dir", str(tmp_path / "reports")])
    if rc == 2:
        pytest.skip(f"{dataset} is not available offline here (set AUGBENCH_DATA_ROOT)")
    assert rc == 0
    new = pd.read_csv(tmp_path / "reports" / "rerun" / "tables" / "summary_accuracy.csv")
    old = pd.read_csv(REPORT / "tables" / "summary_accuracy.csv")
    key = (old["dataset"] == dataset) & (old["method"] == "baseline") & (old["shots"] == shots)
    new_mean, (old_mean, old_ci) = new["mean"].iat[0], old.loc[key, ["mean", "ci95"]].iloc[0]
    assert abs(new_mean - old_mean) <= old_ci, f"rerun mean {new_mean:.4f} vs reference {old_mean:.4f} ± {old_ci:.4f}"
