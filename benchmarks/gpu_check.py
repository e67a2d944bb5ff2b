"""GPU check (issue 28, item 5): a slice of the `standard` suite on CUDA, checked against the CPU
reference's confidence intervals, with cells per minute.

    python benchmarks/gpu_check.py --out OUT_DIR [--cpu results/reference/records] [--methods ...]

1. Refuses to start (exit 2, one line) without CUDA or without Fashion-MNIST under ``--data-root``.
2. Runs ``bench run --suite standard --device cuda`` on the slice (default: baseline, classic,
   mixup, gan at 10 shots, seeds 0-4) into OUT_DIR/records, timing the run: cells per minute.
3. For every method × shots of the slice, the GPU mean accuracy against the CPU records' mean ±
   95 % CI (same cells, same seeds, same classifier config): within or not. Exit 1 if any is
   outside (float rounding differs between CPU and CUDA kernels, so results are not bitwise equal;
   a CI-level difference means the device changes the verdict).
4. Runs benchmarks/batched_cells.py on CUDA (the stacked-cells speed-up there).

Everything goes to OUT_DIR/gpu-check.md. The device carries only the repository: put the
Fashion-MNIST files in datasets/ first (``cp /usr/share/datasets/fashion-mnist/*.gz
datasets/FashionMNIST/raw/``) and carry that folder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cpu", type=Path, default=ROOT / "results" / "reference" / "records",
                    help="CPU records of the standard suite (default: the committed reference)")
    ap.add_argument("--methods", default="baseline,classic,mixup,gan")
    ap.add_argument("--shots", default="10")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--data-root", type=Path, default=ROOT / "datasets")
    ap.add_argument("--device", default="cuda", help="cuda (the check); cpu only to try the script itself")
    args = ap.parse_args()

    import pandas as pd
    import torch

    from bench.aggregate import ci95, long_table
    from bench.cli import main as bench
    from bench.store import ResultStore

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device here; run this on a GPU machine", file=sys.stderr)
        return 2
    cpu = [r for r in ResultStore(args.cpu).records("standard") if r.get("status") == "ok"]
    if not cpu:
        print(f"error: no CPU records of the standard suite under {args.cpu}; pass --cpu DIR", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rc = bench(["run", "--suite", "standard", "--name", "gpu-check", "--methods", args.methods, "--shots", args.shots,
                "--seeds", args.seeds, "--device", args.device, "--workers", "1", "--data-root", str(args.data_root),
                "--results-dir", str(args.out / "records"), "--reports-dir", str(args.out / "reports")])
    wall = time.perf_counter() - t0
    if rc != 0:
        print(f"error: bench run exited {rc}", file=sys.stderr)
        return rc
    gpu_recs = list(ResultStore(args.out / "records").records("gpu-check"))

    def same_cell(r: dict) -> tuple:  # the config a cell ran with: method and classifier config hashes
        return (r["method"]["name"], r["method"]["config_hash"], (r.get("classifier") or {}).get("config_hash"))

    wanted = {same_cell(r) for r in gpu_recs}
    gpu, ref = long_table(gpu_recs), long_table([r for r in cpu if same_cell(r) in wanted])
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (a try of the script, not the check)"
    lines = [f"# GPU check: {where}, torch {torch.__version__}", "",
             f"`python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}`", "",
             f"{len(gpu)} cells in {wall:.0f} s wall: **{60 * len(gpu) / wall:.1f} cells per minute** "
             "(one process; includes the one-time reference classifier for FID features).", "",
             "| method | shots | n | GPU mean | CPU mean ± 95 % CI | within |", "|---|---:|---:|---:|---:|---|"]
    bad = 0
    for (method, shots), g in gpu.groupby(["method", "shots"]):
        c = ref[(ref["method"] == method) & (ref["shots"] == shots) & ref["seed"].isin(g["seed"])]
        if c.empty:
            lines.append(f"| {method} | {shots} | {len(g)} | {g['accuracy'].mean():.4f} | no CPU cells with this config | — |")
            continue
        half = ci95(c["accuracy"].to_numpy())
        ok = abs(g["accuracy"].mean() - c["accuracy"].mean()) <= half
        bad += not ok
        lines.append(f"| {method} | {shots} | {len(g)} | {g['accuracy'].mean():.4f} | {c['accuracy'].mean():.4f} ± "
                     f"{half:.4f} | {'yes' if ok else '**no**'} |")
    cost = gpu.groupby("method")["total_s"].mean() if "total_s" in gpu else pd.Series(dtype=float)
    lines += ["", "Mean seconds per cell on the GPU: " + ", ".join(f"{m} {s:.1f}" for m, s in cost.items()), ""]
    batched = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "batched_cells.py"), "--device", args.device,
                              *([] if args.device == "cuda" else ["--ks", "2", "--steps", "5", "--repeats", "1"]),
                              "--out", str(args.out / f"batched-cells-{args.device}.md")], capture_output=True, text=True)
    lines += [batched.stdout.strip() or f"batched_cells.py failed: {batched.stderr.strip()[-500:]}"]
    text = "\n".join(lines) + "\n"
    (args.out / "gpu-check.md").write_text(text)
    print(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
