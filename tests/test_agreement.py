"""scripts/agreement.py applies the pre-registered criterion (results/protocol/agreement-criterion.md):
combined-CI agreement per entry, sign flips of the Holm marks, the 90 % verdict, missing entries listed."""

from __future__ import annotations

import pandas as pd

from script_module import load_script

agreement = load_script("agreement")


def frame(rows):
    return pd.DataFrame(rows, columns=["dataset", "method", "shots", "n_pairs", "diff", "ci95", "mark"])


def test_within_flip_and_missing_entries():
    old = frame([("d", "a", 5, 5, 0.05, 0.02, "↑"), ("d", "b", 5, 5, 0.00, 0.01, ""), ("d", "c", 5, 5, 0.03, 0.01, "↑"),
                 ("d", "gone", 5, 5, 0.0, 0.01, "")])
    new = frame([("d", "a", 5, 5, 0.03, 0.02, ""), ("d", "b", 5, 5, 0.02, 0.01, ""), ("d", "c", 5, 5, -0.03, 0.01, "↓")])
    t = agreement.agreement(old, new, {"a": "1", "b": "1", "c": "1", "gone": "1"}, {"a": "1", "b": "2", "c": "1"}).set_index("method")
    # a: |−0.02| <= sqrt(0.02² + 0.02²) = 0.028 → within; the mark disappears: a change, not a flip
    assert t.loc["a", "within"] and t.loc["a", "mark_change"] and not t.loc["a", "flip"]
    # b: |0.02| > sqrt(2)·0.01 = 0.014 → not within; its version changed
    assert not t.loc["b", "within"] and t.loc["b", "version_changed"]
    assert t.loc["c", "flip"] and not t.loc["c", "within"]
    assert t.loc["gone", "missing"] == "new run" and not t.loc["gone", "within"]
    text = agreement.markdown(t.reset_index(), "old", "new")
    assert "does not agree" in text and "1 of 3 entries within" in text and "1 mark flip(s)" in text
    assert "missing in the new run" in text


def test_verdict_needs_no_flip_and_ninety_percent():
    rows = [("d", f"m{i}", 5, 5, 0.0, 0.01, "") for i in range(10)]
    old = frame(rows)
    new = frame([(*r[:4], 0.05 if i == 0 else 0.0, 0.01, "") for i, r in enumerate(rows)])  # one of ten outside
    t = agreement.agreement(old, new, {}, {})
    assert int(t["within"].sum()) == 9 and "**Verdict: the new run agrees" in agreement.markdown(t, "o", "n")
    new2 = frame([(*r[:4], 0.05 if i < 2 else 0.0, 0.01, "") for i, r in enumerate(rows)])  # two of ten
    assert "does not agree" in agreement.markdown(agreement.agreement(old, new2, {}, {}), "o", "n")
