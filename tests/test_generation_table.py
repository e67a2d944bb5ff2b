"""scripts/generation_table.py: the table is the records' mean ± SD per method, and the rank
agreement pairs each generative cell with the baseline cell of the same seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from script_module import load_script


def _mod():
    return load_script("generation_table")


def _records() -> pd.DataFrame:
    rows = []
    for seed, base in enumerate([0.60, 0.70, 0.80]):
        rows.append({"dataset": "d", "method": "baseline", "shots": 10, "seed": seed, "status": "ok",
                     "accuracy": base, "total_s": 10.0})
        # gan: the lower its FID, the larger its gain (so FID's flipped ρ is +1); cas runs the other way
        for method, fid, gain in (("gan", 100.0 + seed, 0.05 - 0.01 * seed), ("vae", 200.0 + seed, -0.02 - 0.01 * seed)):
            rows.append({"dataset": "d", "method": method, "shots": 10, "seed": seed, "status": "ok",
                         "accuracy": base + gain, "fid_domain": fid, "cas": 0.5 - gain, "total_s": 20.0})
    rows.append({"dataset": "d", "method": "gan", "shots": 10, "seed": 9, "status": "failed"})
    return pd.DataFrame(rows)


def test_table_is_mean_and_sd_over_seeds():
    m = _mod()
    df = _records()
    text = m.table(df[df["status"] == "ok"], 10)
    gan = next(line for line in text.splitlines() if line.startswith("| gan |"))
    cells = [c.strip() for c in gan.strip("|").split("|")]
    assert cells[1] == "3"  # seeds
    acc = [0.65, 0.74, 0.83]
    sd = pd.Series(acc).std(ddof=1)
    assert cells[2] == f"{sum(acc) / 3:.3f} ± {sd:.3f}"
    assert cells[3] == "101 ± 1"  # FID 100, 101, 102
    assert cells[5] == "—"  # no IS column in these records
    assert text.splitlines()[2].startswith("| baseline | 3 | 0.700 ± 0.100 |")


def test_rank_agreement_pairs_cells_with_the_same_seeds_baseline():
    m = _mod()
    df = _records()
    text = m.rank_agreement(df[df["status"] == "ok"], 10)
    # gains: gan .05 .04 .03, vae -.02 -.03 -.04; FID 100..102 and 200..202: lower FID, larger gain
    assert "6 generative cells" in text
    assert "- FID: ρ = +1.00" in text
    assert "- CAS: ρ = -1.00" in text


def test_cli_refuses_shots_without_records(tmp_path: Path, capsys: pytest.CaptureFixture):
    m = _mod()
    path = tmp_path / "records.csv"
    _records().to_csv(path, index=False)
    assert m.main([str(path), "--shots", "50"]) == 2
    assert "no ok records at 50 shots" in capsys.readouterr().err
    assert m.main([str(path), "--shots", "10"]) == 0
