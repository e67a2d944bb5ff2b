"""Cost of single cells on one core: run each named method's cell (standard preset, quick
classifier) on Fashion-MNIST, 10 shots, dev seed 1000, and print CPU seconds (process_time),
wall seconds, accuracy and details. Usage: python results/protocol/cell_cost.py baseline,fixmatch OUT.json"""

import json
import sys
import time
from pathlib import Path

import torch

from bench.runner import RunOptions, run_cell
from bench.suite import Cell

torch.set_num_threads(1)
opts = RunOptions(data_root=Path("datasets"))
out = {}
for m in sys.argv[1].split(","):
    c0, w0 = time.process_time(), time.perf_counter()
    r = run_cell(Cell("fashion-cost", "fashion-mnist", m, 10, 1000, "standard", {}, "quick", {}, 0), opts)
    out[m] = {"cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - w0, 1),
              "accuracy": r["metrics"].get("accuracy"), "status": r["status"], "timings": r["timings"],
              "details": {k: v for k, v in r["details"].items() if not isinstance(v, dict | list)},
              "cpu_model": r["environment"].get("cpu_model")}
    print(m, json.dumps(out[m]), flush=True)
json.dump(out, open(sys.argv[2], "w"), indent=1)
