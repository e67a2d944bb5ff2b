"""The classifier budget: steps scaled with the training-set size (epochs, floor, cap), keys of
fixed-step configs unchanged, and the budget study's plateau rule."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from script_module import load_script

from bench.errors import BenchError
from bench.training import (
    CLASSIFIER_PRESETS,
    PROTOCOL_RECIPE,
    ClassifierConfig,
    classifier_config,
    classifier_key,
    train_classifier,
)


@pytest.mark.parametrize("n, expected", [(50, 100), (640, 300), (6400, 1000), (64, 100)])
def test_epochs_budget_is_clipped(n, expected):
    cfg = ClassifierConfig(epochs=30, min_steps=100, max_steps=1000, batch_size=64)
    assert cfg.steps_for(n) == expected  # ceil(30·n/64) clipped to [100, 1000]


def test_fixed_budget_ignores_the_data_size():
    cfg = ClassifierConfig(steps=300)
    assert cfg.steps_for(10) == cfg.steps_for(10**6) == 300
    assert ClassifierConfig(epochs=1, batch_size=64).steps_for(65) == 2  # no cap: ceil(65/64)
    assert ClassifierConfig(epochs=5, min_steps=1, max_steps=8, batch_size=10).fixed(7).steps_for(10**6) == 7


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": -1}, "epochs must be a number >= 0"),
    ({"epochs": 10, "min_steps": 500, "max_steps": 100}, r"max_steps \(100\) must be >= min_steps \(500\)"),
    ({"steps": 0}, "steps must be an integer >= 1"),
])
def test_bad_budgets_are_refused(overrides, message):
    with pytest.raises(BenchError, match=message):
        classifier_config("quick", overrides)


def test_existing_presets_keep_their_keys():
    """Fields added after the first records stay out of a key while at their defaults; presets that
    set them (the protocol recipe) carry exactly the ones they set."""
    added = {"epochs", "min_steps", "max_steps", "checkpoints",  # fields added after the first records
             "optimizer", "schedule", "warmup", "norm", "label_smoothing", "ema"}
    for name, cfg in CLASSIFIER_PRESETS.items():
        key = classifier_key(cfg)
        recipe = set(PROTOCOL_RECIPE) if name in ("standard", "long") else set()
        assert set(key) == set(asdict(cfg)) - added | recipe, name
    assert classifier_key(CLASSIFIER_PRESETS["adam-4800"]) == classifier_key(ClassifierConfig(steps=4800))
    assert classifier_key(ClassifierConfig(epochs=20))["epochs"] == 20


def test_training_takes_the_budget_for_real_plus_extra_images():
    x = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8)
    y = torch.arange(20) % 10
    extra = (torch.randint(0, 256, (300, 1, 8, 8), dtype=torch.uint8), torch.arange(300) % 10)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    cfg = ClassifierConfig(epochs=2, min_steps=5, max_steps=100, batch_size=16)
    calls = []
    out = train_classifier(model, x, y, cfg, seed=0, device=torch.device("cpu"), extra=extra, real_fraction=0.5,
                           on_step=lambda m, step, total: calls.append(total))
    assert out["steps"] == len(calls) == 40 and set(calls) == {40}  # ceil(2·320/16)
    out = train_classifier(model, x, y, cfg, seed=0, device=torch.device("cpu"))
    assert out["steps"] == 5  # ceil(2·20/16) = 3, floor 5


def _study():
    return load_script("budget_study")


def test_plateau_marks_budgets_within_one_paired_se_of_the_best():
    rng = np.random.default_rng(0)
    rows = []
    seeds = range(1000, 1005)
    noise = {s: rng.normal(0, 0.01) for s in seeds}  # a per-seed offset shared by every budget: pairing removes it
    for steps, true in [(150, 0.70), (300, 0.80), (600, 0.805), (1200, 0.81)]:
        for s in seeds:
            rows.append({"dataset": "d", "base": "m", "shots": 5, "seed": s, "steps": steps,
                         "accuracy": true + noise[s] + rng.normal(0, 0.004), "total_s": steps / 100})
    p = _study().plateau(pd.DataFrame(rows)).set_index("steps")
    assert (p["best_steps"] == 1200).all()
    for steps in p.index:  # independent: mean paired gap vs its standard error
        a = pd.DataFrame(rows).pivot_table(index="seed", columns="steps", values="accuracy")
        gap = a[1200] - a[steps]
        se = gap.std(ddof=1) / np.sqrt(len(gap)) if steps != 1200 else 0
        assert p.at[steps, "on_plateau"] == (steps == 1200 or gap.mean() <= se)
    assert not p.at[150, "on_plateau"] and p.at[1200, "on_plateau"]


def test_choose_counts_plateau_rows_and_says_short_or_past(tmp_path, capsys):
    """`choose` scores each budget measured on every row: rows on their plateau, the largest gap,
    and each miss as short (still rising there) or past (declining from an earlier best)."""
    def row(method, steps, mean, best, gap, se):
        return {"dataset": "d", "method": method, "shots": 5, "steps": steps, "n": 5, "mean": mean,
                "best_steps": best, "gap_to_best": gap, "se": se, "on_plateau": steps == best or gap <= se,
                "total_s": 1.0}
    pd.DataFrame([row("rising", 100, 0.70, 200, 0.05, 0.01), row("rising", 200, 0.75, 200, 0.0, 0.0),
                  row("falling", 100, 0.80, 100, 0.0, 0.0), row("falling", 200, 0.78, 100, 0.02, 0.005),
                  row("falling", 400, 0.77, 100, 0.03, 0.005),
                  {**row("running", 100, 0.5, 100, 0.0, float("nan")), "n": 1},
                  {**row("running", 200, 0.4, 100, 0.1, float("nan")), "n": 1}]).to_csv(tmp_path / "t.csv", index=False)
    _study().main(["choose", str(tmp_path / "t.csv"), "--out", str(tmp_path / "c.md")])
    lines = {ln.split("|")[1].strip(): ln for ln in (tmp_path / "c.md").read_text().splitlines() if ln.startswith("| ")}
    assert "400" not in lines, "400 steps was not measured on every row"
    assert "| 100 | 2 | 1 | 0.050 (d rising 5) |" in lines["100"] and "rising 5: 0.050 ± 0.010 (short)" in lines["100"]
    assert "| 200 | 2 | 1 | 0.020 (d falling 5) |" in lines["200"] and "falling 5: 0.020 ± 0.005 (past)" in lines["200"]
    assert "Left out (fewer than 3 seeds so far): d running 5." in (tmp_path / "c.md").read_text()
    assert capsys.readouterr().out.startswith("### choosing the budget")


@pytest.mark.parametrize("method", ["baseline", "classic"])
def test_the_learning_curve_equals_shorter_runs(method):
    """The accuracy a record's curve gives after k steps is what a run of k steps ends with, so a
    budget study can read every budget off one long run (classic: augmentation randomness too)."""
    from bench.runner import RunOptions, run_cell
    from bench.suite import Cell

    opts = RunOptions(data_root=Path("datasets"))
    long = run_cell(Cell("t", "digits", method, 3, 1000, "tiny", {}, "tiny", {"steps": 30, "checkpoints": [10, 20, 99]}, 0), opts)
    curve = long["details"]["classifier_curve"]
    assert [k for k, _ in curve] == [10, 20, 30]  # 99 is past the budget; the end is the record's own accuracy
    assert curve[-1][1] == long["metrics"]["accuracy"]
    for k, acc in curve[:2]:
        short = run_cell(Cell("t", "digits", method, 3, 1000, "tiny", {}, "tiny", {"steps": k}, 0), opts)
        assert short["metrics"]["accuracy"] == acc
    assert len({a for _, a in curve}) > 1  # the classifier moved between checkpoints


def test_checkpoints_enter_the_key_only_when_set():
    assert "checkpoints" not in classifier_key(ClassifierConfig())
    assert classifier_key(ClassifierConfig(checkpoints=[300, 150]))["checkpoints"] == [150, 300]
    with pytest.raises(BenchError, match="checkpoints must be step counts >= 1"):
        classifier_config("quick", {"checkpoints": [0, 10]})
