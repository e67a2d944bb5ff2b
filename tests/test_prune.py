"""prune: exact target sparsity on the cubic schedule, a sparse serialization that is really smaller
and reads back exactly, same seed → same record, bad settings refused, and the cost table."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from bench.errors import BenchError
from bench.method import METHODS
from bench.runner import MethodContext, run_cell
from bench.suite import Cell
from bench.tasks import draw_task
from bench.training import classifier_config, make_classifier, model_predictor, train_classifier


def prune_cell(sparsity: float, seed: int = 0) -> Cell:
    return Cell("prune", "digits", "prune", 3, seed, "tiny", {"sparsity": sparsity}, "tiny", {}, 0)


def test_cubic_schedule_reaches_the_target_exactly():
    from bench.methods.prune import PruneConfig, schedule

    plan = schedule(PruneConfig(sparsity=0.8, prune_events=10), 300, 12345)
    steps = sorted(plan)
    assert steps[0] > 75 and steps[-1] == 225 and len(steps) == 10  # dense first quarter, fine-tune last
    counts = [plan[s] for s in steps]
    assert counts == sorted(counts) and counts[-1] == round(0.8 * 12345)
    # Zhu & Gupta: s_k = s (1 - (1 - k/n)^3); the first step prunes the most
    assert counts[0] == round(0.8 * (1 - 0.9**3) * 12345)
    assert counts[0] > counts[1] - counts[0] > counts[-1] - counts[-2]
    short = schedule(PruneConfig(sparsity=0.5, end_fraction=1.0), 20, 100)
    assert max(short) == 19 and short[19] == 50  # the last event still has a training step after it


@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.9])
def test_record_reaches_exact_sparsity_and_sparse_bytes(options, sparsity):
    rec = run_cell(prune_cell(sparsity), options)
    assert rec["status"] == "ok", rec["error"]
    d = rec["details"]
    assert d["pruned_weights"] == round(sparsity * d["prunable_weights"])
    assert abs(d["weight_sparsity"] - sparsity) < 1e-4
    assert d["nonzero_params"] == d["total_params"] - d["pruned_weights"]  # biases and kept weights are non-zero
    assert d["model_params"] == d["nonzero_params"] and d["model_bytes"] == d["sparse_npz_bytes"]
    assert d["total_params"] == rec["cost"]["classifier_trainable_params"]
    if sparsity >= 0.8:
        assert d["model_bytes"] < 0.5 * d["dense_bytes"]
    assert d["model_bytes"] < d["deflated_dense_bytes"] < d["dense_bytes"]  # the bit mask beats deflate alone
    assert [e["sparsity"] for e in d["schedule"]][-1] == round(d["pruned_weights"] / d["prunable_weights"], 5)


def test_same_seed_same_record_other_seed_other_weights(options):
    a, b, c = (run_cell(prune_cell(0.8, s), options) for s in (0, 0, 1))
    assert a["metrics"] == b["metrics"] and a["details"] == b["details"]
    assert a["details"]["sparse_npz_bytes"] != c["details"]["sparse_npz_bytes"]


def test_sparse_file_reads_back_to_the_pruned_model(options, digits):
    """The bytes counted are a real serialization: loading them gives the same weights and the same
    predictions as the masked classifier the harness scored."""
    from bench.methods.prune import load_sparse, save_sparse

    cls = METHODS.get("prune")
    cfg = classifier_config("tiny")
    task = draw_task(digits, 3, 0)
    ctx = MethodContext(torch.device("cpu"), 0, digits.image_shape, 10, cfg, options, digits)
    m = cls(cls.make_config("tiny", {"sparsity": 0.9}), ctx)
    model = make_classifier(digits.image_shape, 10, cfg)
    train_classifier(model, task.x, task.y, cfg, seed=0, device=torch.device("cpu"), on_step=m.on_classifier_step)
    x = task.test_x[:300]
    scored = model_predictor(model, torch.device("cpu"))(x)  # what the harness scores: the masked model
    sd = model.state_dict()  # masked: weight_orig and weight_mask; the weight used is their product
    assert any(k.endswith("weight_mask") for k in sd)
    final = {k.removesuffix("_orig"): (v * sd[k.removesuffix("_orig") + "_mask"] if k.endswith("_orig") else v).detach()
             for k, v in sd.items() if not k.endswith("_mask")}
    d = m.details()
    fresh = make_classifier(digits.image_shape, 10, cfg)
    keys = {k for k in fresh.state_dict() if k.endswith("weight")}
    blob = save_sparse(final, keys)
    assert len(blob) == d["model_bytes"]
    back = load_sparse(blob)
    assert set(back) == set(fresh.state_dict())
    for k, v in final.items():
        assert torch.equal(back[k], v.detach()), k
    fresh.load_state_dict(back)
    # the weights are bit-identical (above); the logits agree up to float rounding, because the masked
    # model computes weight_orig * mask in another memory layout than the reloaded channels-last one
    assert torch.allclose(scored, model_predictor(fresh, torch.device("cpu"))(x), rtol=0, atol=1e-5)
    assert sum(int((v == 0).sum()) for k, v in back.items() if k in keys) == d["pruned_weights"]


def test_prunes_the_channels_last_28x28_classifier(options, require_fashion_mnist):
    """At 28×28 the classifier's second conv weight is channels-last and not viewable as a vector,
    which torch's own ``global_unstructured`` needs; the method must still reach its exact target."""
    rec = run_cell(Cell("prune", "fashion-mnist", "prune", 1, 0, "tiny", {"sparsity": 0.8}, "tiny", {}, 200), options)
    assert rec["status"] == "ok", rec["error"]
    d = rec["details"]
    assert d["pruned_weights"] == round(0.8 * d["prunable_weights"])


def test_global_masks_equal_torchs_global_unstructured(digits):
    """Where torch's ``global_unstructured`` works (contiguous weights), the method's own global
    magnitude pruning gives the very same masks, event after event."""
    from bench.methods.prune import prunable

    from bench.nets import SmallCNN

    torch.manual_seed(0)
    ours = SmallCNN((1, 28, 28), 10, width=8, dropout=0.0)  # contiguous: torch's call works on it
    theirs = SmallCNN((1, 28, 28), 10, width=8, dropout=0.0)
    theirs.load_state_dict(ours.state_dict())
    cls = METHODS.get("prune")
    ctx = MethodContext(torch.device("cpu"), 0, (1, 28, 28), 10, classifier_config("tiny"), None, digits)
    m = cls(cls.make_config("tiny"), ctx)
    m.params = prunable(ours)
    n = sum(w.weight.numel() for w, _ in m.params)
    for amount in (n // 10, n // 5, n // 3):
        m.prune_globally(amount)
        torch_prune.global_unstructured(prunable(theirs), pruning_method=torch_prune.L1Unstructured, amount=amount)
        with torch.no_grad():  # the kept weights move between events, as in training
            for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
                noise = torch.randn_like(a) * 0.05
                a.add_(noise)
                b.add_(noise)
    masks = [(a.weight_mask, b.weight_mask) for (a, _), (b, _) in zip(m.params, prunable(theirs), strict=True)]
    assert all(torch.equal(a, b) for a, b in masks)
    assert sum(int((a == 0).sum()) for a, _ in masks) == n // 10 + n // 5 + n // 3


@pytest.mark.parametrize("overrides, words", [
    ({"sparsity": 1.0}, ["prune", "sparsity", "[0, 1)"]),
    ({"sparsity": -0.1}, ["prune", "sparsity"]),
    ({"start_fraction": 0.8, "end_fraction": 0.5}, ["prune", "start_fraction"]),
    ({"prune_events": 0}, ["prune", "prune_events"]),
])
def test_bad_settings_refused_in_one_line(overrides, words):
    with pytest.raises(BenchError) as err:
        METHODS.get("prune").make_config("standard", overrides)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words), str(err.value)


def test_presets():
    cls = METHODS.get("prune")
    assert cls.make_config("standard").sparsity == 0.8


def test_cost_table_shows_sparse_bytes_and_nonzero_params(options):
    from bench.aggregate import long_table
    from bench.costs import add_details, cost_table

    recs = [run_cell(Cell("cost", "digits", m, 3, 0, "tiny", ov, "tiny", {}, 0), options)
            for m, ov in (("baseline", {}), ("prune", {"sparsity": 0.8}))]
    table = cost_table(add_details(long_table(recs), recs)).set_index("method")
    d = recs[1]["details"]
    assert table.loc["prune", "model_bytes"] == d["model_bytes"]
    assert table.loc["prune", "classifier_params"] == d["nonzero_params"]
    assert table.loc["baseline", "classifier_params"] == d["total_params"]  # the same dense classifier
    # measured the same way (torch.save of a state dict); the pickles differ by a few bytes of bookkeeping
    assert abs(table.loc["baseline", "model_bytes"] - d["dense_bytes"]) <= 0.01 * d["dense_bytes"]
    assert table.loc["baseline", "model_bytes"] > 2 * table.loc["prune", "model_bytes"]
