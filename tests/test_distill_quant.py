"""distill-quant: the int8 student is a real int8 model (≥ 3× smaller serialized, agrees with the
float student), and the record holds teacher / float / int8 accuracy, sizes and latencies."""

from __future__ import annotations

import pytest
import torch
from bench.methods.distill_quant import quantize_int8, serialized_bytes

from bench.nets import MLPStudent, to_input
from bench.runner import run_cell
from bench.suite import Cell


def test_int8_smaller_and_agrees_with_fp32(digits):
    pytest.importorskip("torchao")  # the optional `compress` extra; without it the torch.ao fallback runs
    torch.manual_seed(0)
    student = MLPStudent(digits.image_shape, 10).eval()
    x = to_input(digits.test_x[:500])
    q, backend, why = quantize_int8(student)
    assert backend.startswith("torchao"), f"torchao int8 failed here: {why}"
    assert serialized_bytes(student) >= 3 * serialized_bytes(q)
    with torch.no_grad():
        ref, out = student(x), q(x)
    assert (ref.argmax(1) == out.argmax(1)).float().mean() >= 0.9
    assert torch.allclose(ref, out, atol=0.1 * ref.abs().max().item())
    weights = [t for t in q.state_dict().values() if getattr(t, "dtype", None) == torch.int8 or "Int8" in type(t).__name__]
    assert weights, "no int8 tensors in the quantized state dict"
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof, torch.no_grad():
        q(x)
    ops = {e.key for e in prof.key_averages()}
    assert "aten::_int_mm" in ops, f"the int8 model ran no int8 matmul kernel: {sorted(ops)}"


def test_record_has_three_models(options):
    rec = run_cell(Cell("dq", "digits", "distill-quant", 2, 0, "tiny", {}, "tiny", {}, 0), options)
    assert rec["status"] == "ok", rec["error"]
    m, d = rec["metrics"], rec["details"]
    for key in ("accuracy", "teacher_accuracy", "student_fp32_accuracy"):
        assert 0.0 <= m[key] <= 1.0
    assert abs(m["accuracy"] - m["student_fp32_accuracy"]) <= 0.1
    assert d["student_fp32"]["bytes"] >= 3 * d["student_int8"]["bytes"]
    assert d["student_fp32"]["params"] < d["teacher"]["params"]
    # the cost table's model size and parameters are those of the model that predicts: the int8 student
    assert (d["model_bytes"], d["model_params"]) == (d["student_int8"]["bytes"], d["student_int8"]["params"])
    for name in ("teacher", "student_fp32", "student_int8"):
        assert d[name]["latency_ms_batch1"] > 0 and d[name]["latency_ms_per_image_batched"] > 0
    assert rec["classifier"] is None and rec["cost"]["classifier_trainable_params"] is None
