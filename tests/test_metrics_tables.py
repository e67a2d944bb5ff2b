"""The generation metrics' names, directions and value ranges as tables and plots read them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.aggregate import metric_info, metric_range, summarize, table_metrics


@pytest.mark.parametrize("name,higher,lo,hi", [
    ("precision_domain", True, 0, 1), ("recall_inception", True, 0, 1), ("density_domain", True, 0, np.inf),
    ("coverage_domain", True, 0, 1), ("cas", True, 0, 1), ("fid_domain", False, 0, np.inf),
    ("kid_norm_x1e3_inception", False, 0, np.inf), ("is_domain", True, 1, np.inf),
    ("accuracy", True, 0, 1), ("teacher_accuracy", True, 0, 1),
])
def test_directions_and_ranges(name, higher, lo, hi):
    assert metric_info(name)[1] is higher
    assert metric_range(name) == (lo, hi)


def test_labels_say_what_the_number_is():
    assert metric_info("kid_norm_x1e3_domain")[0] == "KID ×10³ (domain features)"
    assert metric_info("precision_inception")[0] == "Precision (Inception features)"
    assert "CAS" in metric_info("cas")[0]


def test_raw_kid_stays_in_the_long_table_only():
    # its scale follows the features' arbitrary scale (tens of thousands on Fashion-MNIST): the
    # tables show the normalised ×10³ value; the raw one (torch-fidelity's number) is in records.csv
    assert metric_info("kid_domain") is None
    assert metric_range("kid_domain") == (0, np.inf)
    assert metric_range("some_unknown_metric") == (-np.inf, np.inf)


def frame(metric: str, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "d", "method": "gan", "shots": 5, "seed": s, "status": "ok", metric: v}
                         for s, v in enumerate(values)])


def test_summary_bands_are_clipped_to_what_the_metric_can_take():
    kid = summarize(frame("kid_norm_x1e3_domain", [0.5, 40.0, 3.0]), "kid_norm_x1e3_domain").iloc[0]
    assert kid["mean"] - kid["ci95"] < 0 and kid["ci_lo"] == 0.0  # a t band over 3 seeds would go below 0
    assert kid["ci_hi"] == pytest.approx(kid["mean"] + kid["ci95"])
    cov = summarize(frame("coverage_domain", [0.9, 1.0, 0.8]), "coverage_domain").iloc[0]
    assert cov["ci_hi"] == 1.0 and cov["ci_lo"] == pytest.approx(cov["mean"] - cov["ci95"])
    one = summarize(frame("fid_domain", [12.0]), "fid_domain").iloc[0]  # one seed: no interval
    assert np.isnan(one["ci95"]) and np.isnan(one["ci_lo"]) and np.isnan(one["ci_hi"])


def test_new_metrics_get_tables_and_their_spreads_do_not():
    df = frame("cas", [0.5, 0.6]).assign(precision_domain=0.7, kid_norm_x1e3_domain=3.0,
                                         kid_norm_x1e3_domain_std=0.1, density_domain=1.1)
    assert table_metrics(df) == ["cas", "kid_norm_x1e3_domain", "precision_domain", "density_domain"]  # catalogue order
