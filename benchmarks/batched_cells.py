"""Does training several cells' classifiers in one loop pay? (issue 28, item 3)

For K = 1 (the harness's ``train_classifier``, one cell at a time) and K = 2, 4, 8 stacked cells
(``bench.batched.train_stacked``), trains the `standard` classifier for ``--steps`` steps on real
few-shot draws of each dataset and reports seconds per cell-step and the speed-up per cell over
K = 1, all measured in this one process (ratios, not absolute figures, are what compare across
hosts). Each configuration runs ``--repeats`` times; the median is reported.

    python benchmarks/batched_cells.py --device cpu --threads 1 --out results/perf/batched-cells-cpu.md
    python benchmarks/batched_cells.py --device cuda --out results/perf/batched-cells-cuda.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.batched import Job, train_stacked  # noqa: E402
from bench.datasets import load_dataset  # noqa: E402
from bench.environment import cpu_model  # noqa: E402
from bench.tasks import draw_task  # noqa: E402
from bench.training import classifier_config, make_classifier, train_classifier  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(ds, k: int, steps: int, device: torch.device, stacked: bool) -> float:
    """Seconds for ``steps`` steps of ``k`` cells (10 shots, seeds 0..k-1)."""
    cfg = classifier_config("standard", {"steps": steps})
    tasks = [draw_task(ds, 10, s) for s in range(k)]
    models = [make_classifier(ds.image_shape, ds.num_classes, cfg) for _ in range(k)]
    jobs = [Job(t.x, t.y, seed=i) for i, t in enumerate(tasks)]
    sync(device)
    t0 = time.perf_counter()
    if stacked:
        train_stacked(models, jobs, cfg, device)
    else:
        for m, j in zip(models, jobs, strict=True):
            train_classifier(m, j.x, j.y, cfg, seed=j.seed, device=device)
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="digits,fashion-mnist")
    ap.add_argument("--ks", default="2,4,8")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else f"{cpu_model()}, {args.threads} thread(s)"
    lines = [f"# Batched cells: speed-up per cell ({where}, torch {torch.__version__})", "",
             f"`python benchmarks/batched_cells.py {' '.join(sys.argv[1:])}`; `standard` classifier, 10 shots, "
             f"{args.steps} steps per run, median of {args.repeats}; one warm-up run first.", "",
             "| dataset | K | one at a time: s per cell | stacked: s per cell | speed-up per cell |",
             "|---|---:|---:|---:|---:|"]
    for name in args.datasets.split(","):
        ds = load_dataset(name)
        measure(ds, 2, 5, device, True)  # warm-up (allocator, kernels)
        single = statistics.median(measure(ds, 1, args.steps, device, False) for _ in range(args.repeats))
        for k in map(int, args.ks.split(",")):
            both = statistics.median(measure(ds, k, args.steps, device, True) / k for _ in range(args.repeats))
            lines.append(f"| {name} | {k} | {single:.3f} | {both:.3f} | {single / both:.2f}× |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
