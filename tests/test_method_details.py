"""scripts/method_details.py: its tables are the records' own numbers (means over seeds)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from bench.cli import main

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "method_details.py"


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("details")
    assert main(["run", "--suite", "tiny", "--methods", "distill-quant,pseudo-label,gan,lrgan", "--shots", "3",
                 "--name", "tiny-details", "--data-root", str(root / "data"), "--results-dir", str(root / "results"),
                 "--reports-dir", str(root / "reports")]) == 0
    return root / "results"


def run_script(results: Path, capsys) -> str:
    argv = sys.argv
    sys.argv = [str(SCRIPT), "tiny-details", "--results-dir", str(results)]
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(SCRIPT), run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_.value.code == 0
    return capsys.readouterr().out


def rows(out: str, first: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith(f"| {first} ")]


def test_tables_hold_the_records_means(tiny_records: Path, capsys):
    out = run_script(tiny_records, capsys)
    recs = [json.loads(p.read_text()) for p in (tiny_records / "tiny-details" / "digits").rglob("*.json")]
    dq = [r for r in recs if r["method"]["name"] == "distill-quant"]
    int8 = [r for r in rows(out, "digits") if len(r) == 9 and r[3] == "student_int8"]
    assert len(int8) == 1 and int8[0][2] == str(len(dq)) == "2"
    assert float(int8[0][4]) == pytest.approx(sum(r["metrics"]["accuracy"] for r in dq) / 2, abs=5e-5)
    assert int(int8[0][6].replace(",", "")) == round(sum(r["details"]["student_int8"]["bytes"] for r in dq) / 2)
    pl = [r for r in recs if r["method"]["name"] == "pseudo-label"]
    rounds = [r for r in rows(out, "digits") if len(r) == 8]
    assert len(rounds) == len(pl[0]["details"]["rounds"])
    assert int(rounds[0][4].replace(",", "")) == round(sum(r["details"]["rounds"][0]["accepted"] for r in pl) / 2)
    gans = {r[1]: int(r[5].replace(",", "")) for r in rows(out, "digits") if len(r) == 6}
    assert set(gans) == {"gan", "lrgan"} and gans["lrgan"] < gans["gan"]
