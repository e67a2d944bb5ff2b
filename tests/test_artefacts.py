"""One-time artefacts: `bench run` builds them in the driver before the first cell, announced in
their own line and listed with their time, so no cell is charged for them; a cell that still
builds one records it (``timings.artefacts_s``). Built up front, they hold the same bits as when
a cell builds them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from bench import cache
from bench.artefacts import build_artefacts
from bench.runner import RunOptions, run_cell, run_suite
from bench.suite import Cell, Suite


def opts(root: Path) -> RunOptions:
    return RunOptions(data_root=root / "data", results_dir=root / "results", device=torch.device("cpu"))


def test_run_builds_the_reference_classifier_before_the_cells(tmp_path, capsys):
    suite = Suite("art", ("digits",), ("baseline", "gmm"), (2,), (0,), preset="tiny", classifier="tiny")
    summary = run_suite(suite, opts(tmp_path))
    err = capsys.readouterr().err
    assert [b["what"] for b in summary.artefacts] == ["the digits reference classifier",
                                                      "the digits real-image statistics (domain features)",
                                                      "the digits real-image k-NN radii (domain features, k = 5)"]
    assert summary.artefacts[0]["seconds"] > 0 and summary.artefacts_s >= summary.artefacts[0]["seconds"]
    assert "building the digits reference classifier (one time, cached in" in err
    assert all(r["status"] == "ok" and r["timings"]["artefacts_s"] == 0 for r in summary.records)

    again = run_suite(dataclasses.replace(suite, seeds=(1,)), opts(tmp_path))  # new cells, cached artefacts
    assert again.ran == 2 and again.artefacts == []


def test_a_cell_that_builds_one_records_it_and_the_bits_match(tmp_path):
    cell = Cell("art", "digits", "gmm", 2, 0, "tiny", {}, "tiny", {}, 0)
    in_cell = run_cell(cell, opts(tmp_path / "a"))
    assert in_cell["timings"]["artefacts_s"] > 0  # charged, but visible

    before = len(cache.BUILDS)
    build_artefacts([cell], opts(tmp_path / "b"))
    assert len(cache.BUILDS) == before + 3
    up_front = run_cell(cell, opts(tmp_path / "b"))
    assert up_front["timings"]["artefacts_s"] == 0
    assert up_front["metrics"] == in_cell["metrics"]
    for kind in ("reference-classifier", "real-stats", "real-knn-radii"):
        [a] = (tmp_path / "a" / "data" / ".augbench-cache" / kind).glob("*.pt")
        [b] = (tmp_path / "b" / "data" / ".augbench-cache" / kind).glob("*.pt")
        assert a.name == b.name
        if kind == "reference-classifier":
            sa, sb = torch.load(a, weights_only=False)["state_dict"], torch.load(b, weights_only=False)["state_dict"]
            assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_failing_build_is_one_line_and_the_cells_record_it(tmp_path, capsys):
    from bench.method import METHODS, Method, register_method

    @register_method("test-bad-artefact")
    class BadArtefact(Method):
        def build_shared(self) -> None:
            self.ctx.cached("test-bad", {"k": 1}, self._build)

        def fit(self, data) -> None:
            self.ctx.cached("test-bad", {"k": 1}, self._build)

        def _build(self):
            raise RuntimeError("no such weights")

    try:
        suite = Suite("art", ("digits",), ("baseline", "test-bad-artefact"), (1,), (0,), preset="tiny",
                      classifier="tiny")
        summary = run_suite(suite, opts(tmp_path))
    finally:
        METHODS._items.pop("test-bad-artefact")
    err = capsys.readouterr().err
    assert ("warning: building the test-bad-artefact artefacts for digits before the cells failed "
            "(RuntimeError: no such weights)") in err
    status = {r["method"]["name"]: r["status"] for r in summary.records}
    assert status == {"baseline": "ok", "test-bad-artefact": "failed"}
    [bad] = [r for r in summary.records if r["status"] == "failed"]
    assert bad["error"]["message"] == "no such weights"
