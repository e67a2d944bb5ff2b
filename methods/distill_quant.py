"""``distill-quant``: distil the few-shot classifier into a small student, then quantize it to int8.

1. Teacher: the harness's downstream classifier (``ctx.make_classifier``), trained on the k shots
   with the ``classic`` augmentation policy of the dataset's family, under the usual budget.
2. Student: :class:`bench.nets.MLPStudent` (all-Linear, fewer parameters than the teacher),
   trained on the k shots plus a subsample of the unlabelled pool (``pool_size``) against the
   teacher's temperature-softened probabilities (``temperature``; student logits are divided by
   the same temperature while training). On the labelled shots the target is mixed with the true
   one-hot label (``label_weight``).
3. int8: torchao's ``quantize_(student, Int8DynamicActivationInt8WeightConfig())`` — int8 weights,
   activations quantized per token at run time, and the matrix multiply runs as an int8 kernel
   (``aten::_int_mm``) on the CPU. If torchao is missing or fails on this machine, the deprecated
   ``torch.ao.quantization.quantize_dynamic`` (fbgemm/x86 int8 dynamic Linear) is used instead and
   the record says why (``int8_backend``, ``torchao_error``).

The harness scores the int8 student (``predictor()``) as the cell's accuracy and, through
``extra_predictors()``, the teacher and the float student (``teacher_accuracy``,
``student_fp32_accuracy``). For each of the three models the record holds parameter count,
serialized bytes (``torch.save`` of the state dict into memory) and CPU latency: one image per
call and per image in a batch of ``latency_batch``, median of ``latency_repeats`` after warm-up,
with ``torch.get_num_threads()`` threads. The int8 predictor runs on the CPU whatever the device.
"""

from __future__ import annotations

import copy
import io
import logging
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bench.methods.classic import ClassicConfig, apply_policy, build_policy

from bench.errors import BenchError
from bench.method import Capabilities, FitData, Method, register_method
from bench.nets import MLPStudent, count_parameters, to_input
from bench.training import model_predictor


@dataclass(frozen=True)
class DistillQuantConfig:
    hidden: tuple[int, ...] = (128, 64)  # student hidden widths
    temperature: float = 4.0
    label_weight: float = 0.5  # weight of the true one-hot label in the labelled shots' targets
    student_steps: int = 1000  # student training steps (batch size: the classifier's)
    pool_size: int = 5000  # unlabelled pool images used for distillation (0 = the whole pool)
    latency_repeats: int = 30
    latency_batch: int = 256

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise BenchError(f"distill-quant: temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.label_weight <= 1.0:
            raise BenchError(f"distill-quant: label_weight must be in [0, 1], got {self.label_weight}")
        if self.student_steps < 1 or self.latency_repeats < 1 or self.latency_batch < 1 or self.pool_size < 0:
            raise BenchError("distill-quant: student_steps, latency_repeats, latency_batch must be >= 1, pool_size >= 0")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise BenchError(f"distill-quant: hidden must be positive widths, got {self.hidden}")


class Tempered(torch.nn.Module):
    """Student logits / T while distilling (so its softmax matches the softened teacher's)."""

    def __init__(self, net: torch.nn.Module, temperature: float) -> None:
        super().__init__()
        self.net, self.t = net, temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) / self.t


def quantize_int8(model: torch.nn.Module) -> tuple[torch.nn.Module, str, str | None]:
    """An int8 copy of ``model`` on the CPU: (model, backend, why torchao was not used)."""
    example = torch.zeros(2, *model.image_shape)
    try:
        # torchao's import logs a torch deprecation notice about its own enums (torch's _pytree
        # logger); the user can do nothing about it, so it is kept out of the progress display.
        pytree_log = logging.getLogger("torch.utils._pytree")
        level = pytree_log.level
        pytree_log.setLevel(logging.ERROR)
        try:
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
        finally:
            pytree_log.setLevel(level)

        q = copy.deepcopy(model).cpu().eval()
        quantize_(q, Int8DynamicActivationInt8WeightConfig())
        with torch.no_grad():
            q(example)  # prove it runs here
        return q, "torchao.Int8DynamicActivationInt8WeightConfig", None
    except Exception as exc:  # recorded, not eaten: the record names the fallback and the reason
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    from torch.ao.quantization import quantize_dynamic

    q = quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.Linear}, dtype=torch.qint8)
    return q, "torch.ao.quantization.quantize_dynamic", reason


def serialized_bytes(model: torch.nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


@torch.no_grad()
def cpu_latency_ms(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median wall time of ``model(x)`` on the CPU in milliseconds, after three warm-up calls."""
    x = to_input(x.cpu())
    for _ in range(3):
        model(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


@register_method("distill-quant")
class DistillQuant(Method):
    # 4: the student's soft loss is scaled by T² (Hinton et al. 2015): under the SGD `standard`
    # classifier the 1/T-smaller gradients of tempered logits left it 0.2 below its teacher (digits,
    # dev draws); Adam, the old recipe, is invariant to that scale.
    # 3: the teacher follows classic version 3 (Fashion-MNIST: RandAugment); 2: the teacher's
    # classic policy runs batched (kornia)
    version = "4"
    Config = DistillQuantConfig
    presets = {
        "tiny": {"student_steps": 20, "pool_size": 200, "latency_repeats": 3, "latency_batch": 16},
        "quick": {"student_steps": 500, "pool_size": 2000, "latency_repeats": 20},
        "standard": {"student_steps": 3000, "pool_size": 20000},
    }
    capabilities = Capabilities(uses_pool=True, own_classifier=True)

    def fit(self, data: FitData) -> None:
        cfg, ctx, dev = self.config, self.ctx, self.ctx.device
        policy = build_policy(data.family, ClassicConfig(), data.image_shape)

        def augment(xb: torch.Tensor) -> torch.Tensor:
            return apply_policy(policy, xb)

        self.teacher = ctx.make_classifier()
        ctx.train_classifier(self.teacher, data.x, data.y, augment=augment, desc="distill-quant teacher")
        gen = torch.Generator().manual_seed(ctx.seed)
        pool = data.pool_x
        if 0 < cfg.pool_size < len(pool):
            pool = pool[torch.randperm(len(pool), generator=gen)[:cfg.pool_size]]
        xs = torch.cat([data.x, pool])
        with torch.no_grad():
            self.teacher.eval()
            logits = torch.cat([self.teacher(to_input(xs[i:i + 1000].to(dev))).cpu() for i in range(0, len(xs), 1000)])
        targets = F.softmax(logits / cfg.temperature, 1)
        onehot = F.one_hot(data.y, data.num_classes).float()
        targets[:len(data.x)] = cfg.label_weight * onehot + (1 - cfg.label_weight) * targets[:len(data.x)]
        self.student = MLPStudent(data.image_shape, data.num_classes, cfg.hidden)
        pseudo_y = targets.argmax(1)  # unused by the soft loss; train_classifier wants labels
        student_cfg = ctx.classifier_cfg.fixed(cfg.student_steps)
        ctx.train_classifier(Tempered(self.student, cfg.temperature), xs, pseudo_y, cfg=student_cfg,
                             soft_targets=targets, seed=ctx.seed + 1, desc="distill-quant student",
                             loss_scale=cfg.temperature ** 2)
        self.student.cpu().eval()
        self.int8, self.backend, self.torchao_error = quantize_int8(self.student)
        self._measure(data.x)
        self.stats["distill_images"] = len(xs)

    def _measure(self, x: torch.Tensor) -> None:
        cfg = self.config
        one = x[:1]
        batch = x[torch.arange(cfg.latency_batch) % len(x)]
        teacher_cpu = copy.deepcopy(self.teacher).cpu().eval()
        self.stats: dict = {"int8_backend": self.backend, "torchao_error": self.torchao_error,
                            "latency_threads": torch.get_num_threads(), "distill_images": None}
        for name, model in (("teacher", teacher_cpu), ("student_fp32", self.student), ("student_int8", self.int8)):
            self.stats[name] = {
                "params": sum(p.numel() for p in self.student.parameters()) if name == "student_int8"
                else count_parameters(model, trainable_only=False),
                "bytes": serialized_bytes(model),
                "latency_ms_batch1": round(cpu_latency_ms(model, one, cfg.latency_repeats), 4),
                "latency_ms_per_image_batched": round(
                    cpu_latency_ms(model, batch, cfg.latency_repeats) / cfg.latency_batch, 5),
            }
        self.stats["int8_size_ratio"] = round(self.stats["student_fp32"]["bytes"] / self.stats["student_int8"]["bytes"], 3)

    def predictor(self):
        return model_predictor(self.int8, torch.device("cpu"))

    def extra_predictors(self) -> dict:
        return {"teacher": model_predictor(self.teacher, self.ctx.device),
                "student_fp32": model_predictor(self.student, torch.device("cpu"))}

    def details(self) -> dict:
        # model_bytes / model_params: the model that predicts (the int8 student), for the cost table
        return {**self.stats, "trainable_params": count_parameters(self.teacher) + count_parameters(self.student),
                "model_bytes": self.stats["student_int8"]["bytes"], "model_params": self.stats["student_int8"]["params"]}
