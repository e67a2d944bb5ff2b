"""--amp: bfloat16 autocast for the whole cell, written in the record and part of its key, so amp
and full-precision records never mix; off by default."""

from __future__ import annotations

import dataclasses

import torch

from bench.cli import main
from bench.plan import cell_key
from bench.runner import run_cell
from bench.suite import Cell

CELL = Cell("amp", "digits", "baseline", 2, 0, "tiny", {}, "tiny", {}, 0)


def test_amp_is_part_of_the_key_and_off_keeps_old_keys(digits):
    off, parts_off = cell_key(CELL, digits)
    on, parts_on = cell_key(CELL, digits, amp=True)
    assert off != on and "precision" not in parts_off and parts_on["precision"] == "bf16-autocast"
    assert cell_key(CELL, digits, amp=False)[0] == off


def test_amp_cell_runs_in_bfloat16_and_says_so(options, monkeypatch):
    import bench.runner as runner

    seen = []
    real = runner.train_classifier

    def spy(*args, **kw):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return real(*args, **kw)

    monkeypatch.setattr(runner, "train_classifier", spy)
    fp32 = run_cell(CELL, options)
    amp = run_cell(CELL, dataclasses.replace(options, amp=True))
    assert seen == [None, torch.bfloat16]
    assert (fp32["status"], amp["status"]) == ("ok", "ok"), amp["error"]
    assert (fp32["precision"], amp["precision"]) == ("fp32", "bf16-autocast")
    assert fp32["key"] != amp["key"]
    assert 0.0 <= amp["metrics"]["accuracy"] <= 1.0


def test_cli_rejects_bad_executor_settings(capsys, tmp_path):
    base = ["run", "--suite", "tiny", "--methods", "baseline", "--results-dir", str(tmp_path)]
    assert main([*base, "--workers", "2", "--executor", "local"]) == 2
    assert "--executor process" in capsys.readouterr().err
    assert main([*base, "--workers", "0"]) == 2
    assert main([*base, "--ray-address", "auto"]) == 2
    assert "--ray-address only applies" in capsys.readouterr().err
