"""Why distill-quant's int8 student is smaller but not faster on a CPU (not a test).

Times, on this machine with one torch thread, the pieces of distill-quant's latency measurement
in isolation: the int8 matrix multiply torchao's int8 path runs (``torch._int_mm``) against the
float one of the same shape, and the student MLP as float, as torchao int8 (eager) and as the
deprecated ``torch.ao`` dynamic int8 (fbgemm), for one image and a batch. The CPU's vector
extensions are printed with it: int8 GEMM is fast where the CPU has VNNI/AMX dot-product
instructions, and emulated otherwise.

    python benchmarks/int8_kernels.py              # prints a Markdown table
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from collections.abc import Callable

import torch

REPEATS = 30


def median_ms(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    with torch.no_grad():
        for _ in range(5):
            fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"]
    return ", ".join(f"{f}: {'yes' if f in flags else 'no'}" for f in wanted)


def main() -> int:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    from bench.nets import MLPStudent

    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"CPU capability used by torch: {torch.backends.cpu.get_cpu_capability()}; {cpu_flags()}\n")
    a8 = torch.randint(-128, 127, (256, 784), dtype=torch.int8)
    b8 = torch.randint(-128, 127, (784, 128), dtype=torch.int8)
    af, bf = a8.float(), b8.float()
    print("| operation | median ms |\n|---|---:|")
    print(f"| torch._int_mm int8 256×784 @ 784×128 | {median_ms(lambda: torch._int_mm(a8, b8)):.3f} |")
    print(f"| float32 matmul, same shape | {median_ms(lambda: af @ bf):.3f} |")

    student = MLPStudent((1, 28, 28), 10, (128, 64)).eval()
    ao = copy.deepcopy(student)
    quantize_(ao, Int8DynamicActivationInt8WeightConfig())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = torch.ao.quantization.quantize_dynamic(copy.deepcopy(student), {torch.nn.Linear}, dtype=torch.qint8)
    for batch in (1, 256):
        x = torch.randn(batch, 1, 28, 28)
        for name, model in (("float32", student), ("torchao int8 (eager)", ao), ("torch.ao dynamic int8 (fbgemm)", legacy)):
            print(f"| student MLP 784-128-64-10, {name}, batch {batch} | {median_ms(lambda m=model, x=x: m(x)):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
