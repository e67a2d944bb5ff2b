"""Class subsets ``NAME[5-9]``: a dataset view with some classes, and the offline same-domain
transfer pairing it gives (pretrain on the other classes, never on the target's own)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from bench.cli import main, split_list
from bench.datasets import complement_spec, load_dataset
from bench.errors import BenchError
from bench.sources import load_source


def test_subset_keeps_only_its_classes_and_renumbers_them(digits):
    sub = load_dataset("digits[0-4]")
    assert sub.classes == ("0", "1", "2", "3", "4") and sub.num_classes == 5
    assert sub.name == "digits-c0-4" and sub.parent == "digits" and sub.class_ids == (0, 1, 2, 3, 4)
    for split in ("train", "test"):
        x, y = getattr(digits, f"{split}_x"), getattr(digits, f"{split}_y")
        mask = y < 5
        assert torch.equal(getattr(sub, f"{split}_x"), x[mask]) and torch.equal(getattr(sub, f"{split}_y"), y[mask])
    odd = load_dataset("digits[1,3,5-7]")
    assert odd.name == "digits-c1_3_5-7" and odd.classes == ("1", "3", "5", "6", "7")
    assert torch.equal(odd.train_y.unique(), torch.arange(5))  # renumbered 0..4
    assert odd.train_x[odd.train_y == 1].equal(digits.train_x[digits.train_y == 3])
    assert len({digits.hash, sub.hash, odd.hash}) == 3


def test_subset_of_a_subset_is_recorded_against_the_full_dataset():
    nested, flat = load_dataset("digits[0-4][1,3]"), load_dataset("digits[1,3]")
    assert (nested.parent, nested.class_ids, nested.name) == ("digits", (1, 3), "digits-c1_3")
    assert nested.hash == flat.hash


@pytest.mark.parametrize("spec, words", [
    ("digits[7]", "at least 2 classes"),
    ("digits[0-12]", "classes must be in 0-9"),
    ("digits[4-2]", "runs backwards; write it low-high, e.g. digits\\[2-4\\]"),
    ("digits[a-b]", "bad class list"),
    ("digts[0-4]", "did you mean 'digits'"),
])
def test_bad_subset_specs_say_what_is_wrong(spec, words):
    with pytest.raises(BenchError, match=words):
        load_dataset(spec)


def test_complement_is_the_other_classes():
    assert complement_spec(load_dataset("digits[0-4]")) == "digits[5-9]"
    assert complement_spec(load_dataset("digits[0,2,4,6,8]")) == "digits[1,3,5,7,9]"
    assert complement_spec(load_dataset("digits[0-8]")) is None  # one class left: no source
    assert complement_spec(load_dataset("digits")) is None


def test_a_source_holding_target_classes_is_refused(tmp_path: Path):
    target = load_dataset("digits[0-4]")
    src, x, y = load_source("digits[5-9]", target, tmp_path)
    assert len(x) == len(src.train_x) and set(y.tolist()) == set(range(5))
    for spec, shared in (("digits", "[0, 1, 2, 3, 4]"), ("digits[3-6]", "[3, 4]")):
        with pytest.raises(BenchError, match=re.escape(f"holds classes {shared}") + r".*source = 'digits\[5-9\]'"):
            load_source(spec, target, tmp_path)
    with pytest.raises(BenchError, match=r"holds classes \[0, 1\]"):  # the full dataset as target
        load_source("digits[0,1]", load_dataset("digits"), tmp_path)


def test_split_list_keeps_brackets_together():
    assert split_list("digits, fashion-mnist[0,2,4],folder:/x") == ["digits", "fashion-mnist[0,2,4]", "folder:/x"]


def test_transfer_methods_pretrain_on_the_other_classes(tmp_path: Path):
    args = ["run", "--suite", "tiny", "--datasets", "digits[0-4]", "--methods", "transfer-gan,finetune",
            "--shots", "3", "--seeds", "0", "--name", "subset-transfer", "--data-root", str(tmp_path / "data"),
            "--results-dir", str(tmp_path / "results"), "--reports-dir", str(tmp_path / "reports")]
    assert main(args) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "subset-transfer" / "digits-c0-4").rglob("*.json")]
    assert {r["method"]["name"] for r in records} == {"transfer-gan", "finetune"}
    for r in records:
        assert r["status"] == "ok" and r["dataset"]["num_classes"] == 5 and r["dataset"]["spec"] == "digits[0-4]"
    by_method = {r["method"]["name"]: r["details"]["source"] for r in records}
    assert by_method == {"transfer-gan": "digits[5-9]", "finetune": "digits-c5-9"}  # spec / dataset name
