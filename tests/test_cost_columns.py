"""Every record carries the cost columns; the long table and the report's cost table show them."""

from __future__ import annotations

from bench.aggregate import long_table
from bench.costs import add_details, cost_table
from bench.nets import count_parameters
from bench.runner import run_cell
from bench.suite import Cell
from bench.training import classifier_config, make_classifier


def test_cost_fields_in_record_table_and_report(options, digits):
    rec = run_cell(Cell("cost", "digits", "baseline", 1, 0, "tiny", {}, "tiny", {}, 0), options)
    assert rec["status"] == "ok"
    expected = count_parameters(make_classifier(digits.image_shape, 10, classifier_config("tiny")))
    assert rec["cost"] == {"classifier_trainable_params": expected, "method_trainable_params": None}
    assert rec["timings"]["train_s"] > 0 and rec["memory"]["peak_rss_mb"] > 0
    df = add_details(long_table([rec]), [rec])
    assert int(df["classifier_trainable_params"].iat[0]) == expected
    table = cost_table(df)
    assert table["method"].tolist() == ["baseline"]
    assert int(table["classifier_params"].iat[0]) == expected  # rebuilt from the record's config
