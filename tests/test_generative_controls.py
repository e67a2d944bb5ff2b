"""scripts/generative_controls.py's paired tables: the paired t against scipy's on the same
numbers, Holm over the tested rows only, and a pair with too few shared seeds shown as n/a."""

import numpy as np
import pandas as pd
from scipy import stats
from script_module import load_script

from bench.aggregate import holm

gc = load_script("generative_controls")


def _frame(acc: dict[str, dict[int, float]], shots: int = 10) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "shots": shots, "seed": s, "accuracy": v}
                         for m, by_seed in acc.items() for s, v in by_seed.items()])


def test_paired_matches_scipy_and_sign_rule():
    a = {0: 0.71, 1: 0.74, 2: 0.69, 3: 0.75}
    b = {0: 0.70, 1: 0.70, 2: 0.68, 3: 0.71}
    r = gc.paired(_frame({"a": a, "b": b}), "a", "b", 10, "accuracy", lower=False)
    want = stats.ttest_rel(list(a.values()), list(b.values())).pvalue
    assert r["n"] == 4 and np.isclose(r["p"], want) and np.isclose(r["diff"], 0.025)
    assert r["pass"] == (want < gc.ALPHA)
    # the same numbers read as "lower is better" can never pass: the mean has the wrong sign
    assert gc.paired(_frame({"a": a, "b": b}), "a", "b", 10, "accuracy", lower=True)["pass"] is False


def test_pair_with_one_shared_seed_is_shown_and_left_out_of_holm():
    df = _frame({"a": {0: 0.71, 1: 0.74, 2: 0.69}, "b": {0: 0.70, 1: 0.70, 2: 0.68},
                 "c": {0: 0.72, 5: 0.60}})  # c shares only seed 0 with b
    lines = gc.pair_table(df, [["a", "b"], ["c", "b"]], "accuracy", "{:+.3f} ± {:.3f}", holm)
    body = lines[2:]
    assert len(body) == 2
    cb = next(line for line in body if "| c | b |" in line)
    assert "n/a (1 shared seed" in cb and "pass" not in cb and "FAIL" not in cb
    # one test counted, so Holm leaves a–b's p as it is
    ab = next(line for line in body if "| a | b |" in line).split("|")
    assert ab[7].strip() == ab[8].strip()


def test_shot_counts_without_either_method_are_left_out():
    df = pd.concat([_frame({"a": {0: 0.7, 1: 0.8}, "b": {0: 0.6, 1: 0.75}}, shots=10),
                    _frame({"z": {0: 0.5, 1: 0.5}}, shots=50)])
    lines = gc.pair_table(df, [["a", "b"]], "accuracy", "{:+.3f} ± {:.3f}", holm)
    assert len(lines) == 3 and lines[2].startswith("| 10 |")
