"""finetune / finetune-head: the source model is built once and reused; a missing or forbidden
source fails the cell with one clear line; the head preset trains only the head."""

from __future__ import annotations

from bench.runner import run_cell
from bench.suite import Cell


def cell(method="finetune", seed=0, **overrides):
    return Cell("ft", "digits", method, 2, seed, "tiny", overrides, "tiny", {}, 0)


def test_source_model_cached_across_cells_and_presets(options):
    a = run_cell(cell(seed=0), options)
    assert a["status"] == "ok", a["error"]
    assert a["details"]["source_built_in_this_cell"] is True
    assert a["details"]["source"] == "font-digits"
    files = list((options.cache_dir / "finetune-source").glob("*.pt"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = run_cell(cell(seed=1), options)
    c = run_cell(cell("finetune-head", seed=0), options)
    assert b["details"]["source_built_in_this_cell"] is False
    assert c["details"]["source_built_in_this_cell"] is False
    assert files[0].stat().st_mtime_ns == mtime
    # full fine-tuning trains the whole classifier, the head preset only its 128×10 linear head
    assert c["cost"]["classifier_trainable_params"] == 128 * 10 + 10
    assert a["cost"]["classifier_trainable_params"] > c["cost"]["classifier_trainable_params"]
    # a cache hit gives the same result as the build (the cell's random stream is untouched)
    again = run_cell(cell(seed=0), options)
    assert again["metrics"] == a["metrics"]


def test_missing_source_fails_with_one_line(options):
    rec = run_cell(cell(source="kmnist"), options)  # not in the temporary data root, no --download
    assert rec["status"] == "failed"
    msg = rec["error"]["message"]
    assert "\n" not in msg and "source dataset for transfer is missing" in msg and "kmnist" in msg.lower()


def test_target_as_its_own_source_is_refused(options):
    rec = run_cell(cell(source="digits"), options)
    assert rec["status"] == "failed" and "is the target dataset itself" in rec["error"]["message"]
