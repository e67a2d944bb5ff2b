"""scripts/agreement.py applies the pre-registered criterion (results/protocol/agreement-criterion.md):
combined-CI agreement per entry, sign flips of the Holm marks, the 90 % verdict, missing entries listed."""

from __future__ import annotations

import pandas as pd

from script_module import load_script

agreement = load_script("agreement")


def frame(rows):
    return pd.DataFrame(rows, columns=["dataset", "method", "shots", "n_pairs", "diff", "ci95", "mark"])


def accuracies(per_method: dict[str, list[float]], shots: int = 5) -> pd.Series:
    """Accuracy per (method, shots, seed), as gains() returns it."""
    idx = [(m, shots, s) for m, v in per_method.items() for s in range(len(v))]
    return pd.Series([a for v in per_method.values() for a in v],
                     index=pd.MultiIndex.from_tuples(idx, names=["method", "shots", "seed"]))


def explained(t, methods, own=frozenset()):
    """why() with every method's own accuracy unchanged between the runs and baseline up 0.02."""
    same = {m: [0.5, 0.6] for m in methods}
    return agreement.why(t, accuracies({**same, "baseline": [0.5, 0.6]}),
                         accuracies({**same, "baseline": [0.52, 0.62]}), set(own))


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
    text = agreement.markdown(explained(t.reset_index(), ["a", "b", "c", "gone"]), "old", "new")
    assert "does not agree" in text and "1 of 3 entries within" in text and "1 mark flip(s)" in text
    assert "missing in the new run" in text


def test_verdict_needs_no_flip_and_ninety_percent():
    rows = [("d", f"m{i}", 5, 5, 0.0, 0.01, "") for i in range(10)]
    old = frame(rows)
    new = frame([(*r[:4], 0.05 if i == 0 else 0.0, 0.01, "") for i, r in enumerate(rows)])  # one of ten outside
    t = agreement.agreement(old, new, {}, {})
    assert int(t["within"].sum()) == 9 and "**Verdict: the new run agrees" in agreement.markdown(explained(t, [f"m{i}" for i in range(10)]), "o", "n")
    new2 = frame([(*r[:4], 0.05 if i < 2 else 0.0, 0.01, "") for i, r in enumerate(rows)])  # two of ten
    t2 = agreement.agreement(old, new2, {}, {})
    assert "does not agree" in agreement.markdown(explained(t2, [f"m{i}" for i in range(10)]), "o", "n")


def test_disagreements_sorted_by_which_accuracy_moved():
    """An entry outside the CI is "baseline rose more" when the method's own accuracy did not fall,
    "own classifier" when it fell for a method the recipe never trains, "method fell" when it fell; moves are
    new − old paired by seed."""
    old = frame([("d", "up", 5, 2, 0.05, 0.01, ""), ("d", "own", 5, 2, 0.05, 0.01, ""),
                 ("d", "fell", 5, 2, 0.05, 0.01, ""), ("d", "fine", 5, 2, 0.0, 0.01, "")])
    new = frame([("d", "up", 5, 2, 0.0, 0.01, ""), ("d", "own", 5, 2, 0.0, 0.01, ""),
                 ("d", "fell", 5, 2, -0.06, 0.01, ""), ("d", "fine", 5, 2, 0.0, 0.01, "")])
    acc_old = accuracies({"baseline": [0.5, 0.6], "up": [0.55, 0.65], "own": [0.55, 0.65], "fell": [0.55, 0.65], "fine": [0.5, 0.6]})
    acc_new = accuracies({"baseline": [0.53, 0.65], "up": [0.56, 0.67], "own": [0.54, 0.65], "fell": [0.52, 0.60], "fine": [0.53, 0.65]})
    t = agreement.why(agreement.agreement(old, new, {}, {}), acc_old, acc_new, {"own"}).set_index("method")
    assert t.loc["up", "kind"] == "baseline rose more" and t.loc["own", "kind"] == "own classifier"
    assert t.loc["fell", "kind"] == "method fell" and t.loc["fine", "kind"] == ""
    assert abs(t.loc["up", "baseline_moved"] - 0.04) < 1e-12 and abs(t.loc["up", "moved"] - 0.015) < 1e-12
    assert abs(t.loc["fell", "moved"] + 0.04) < 1e-12
    text = agreement.markdown(t.reset_index(), "o", "n")
    assert "fell under the new recipe: 1 (fell @ 5 (-0.040))" in text and "baseline rose more than the method: 1" in text


def test_entry_without_shared_seeds_is_not_called_a_fall():
    """A method whose seeds differ between the runs has no paired move: it is outside the CI but
    neither 'baseline rose more' nor 'method fell'."""
    old = frame([("d", "odd", 5, 2, 0.05, 0.01, "")])
    new = frame([("d", "odd", 5, 2, -0.05, 0.01, "")])
    acc_old = accuracies({"baseline": [0.5, 0.6], "odd": [0.55, 0.65]})
    acc_new = pd.concat([accuracies({"baseline": [0.5, 0.6]}),
                         pd.Series([0.45, 0.55], index=pd.MultiIndex.from_tuples([("odd", 5, 7), ("odd", 5, 8)],
                                                                                 names=["method", "shots", "seed"]))])
    t = agreement.why(agreement.agreement(old, new, {}, {}), acc_old, acc_new, set()).set_index("method")
    assert not t.loc["odd", "within"] and t.loc["odd", "kind"] == "no shared seeds"
    text = agreement.markdown(t.reset_index(), "o", "n")
    assert "fell under the new recipe: 0" in text and "not sorted: 1" in text
