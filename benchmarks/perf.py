"""Performance benchmark (not a test): measures, on the machine it runs on,

(a) harness overhead: one classifier cell (``baseline``: the fixed SmallCNN, its steps and batch
    size, on one few-shot draw) through ``bench.runner.run_cell`` vs the same model, data, seeds and
    steps in a bare PyTorch loop written here; and, when a ``gan`` method is registered, one GAN
    cell through ``run_cell`` vs direct calls of the same hooks (fit, generate, the classifier
    loop, evaluate) without the harness around them. Repeats are interleaved; medians compared.
    The bare classifier loop must reproduce the harness's accuracy exactly, or the comparison is
    reported as invalid.
(b) the quick suite through ``bench run`` with ``--workers 1`` and ``--workers 2`` (speed-up), and
    whether the two runs' records are identical apart from timings and environment.
(c) feature extraction + FID for 10 000 images with uncached vs cached real statistics, when
    ``bench.metrics.feature_extractors`` provides an extractor; otherwise a labelled skip.
(d) the tiny suite through ``--executor ray`` on a private local Ray instance vs the local loop:
    records identical apart from timings and environment, and both wall times.

    python benchmarks/perf.py                      # all parts, results/perf/<host>-<device>.{json,md}
    python benchmarks/perf.py --parts a --repeats 5   # parts not run keep their earlier results

Parts run now replace the same parts of an existing report of the same name; the others stay.

Timings are wall-clock on whatever else the machine is doing: the report records the load average
before and after each part so an inflated figure can be recognised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench.datasets import load_dataset
from bench.environment import environment, resolve_device
from bench.executors import available_cores
from bench.method import METHODS
from bench.runner import RunOptions, run_cell
from bench.suite import Cell
from bench.tasks import derive_seed, draw_task
from bench.training import classifier_config, evaluate, make_classifier, model_predictor, train_classifier

VOLATILE = {"timings", "memory", "environment", "started_at", "finished_at"}


def loadavg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def cpu_ticks() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat (user nice system idle iowait irq softirq steal …)."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return []


def steal_share(before: list[int], after: list[int]) -> float | None:
    """Share of CPU time the hypervisor gave to other guests between two ``cpu_ticks`` readings:
    on a shared VM the load average misses this, and it slows every measurement alike."""
    if len(before) < 8 or len(after) < 8:
        return None
    d = [a - b for a, b in zip(after, before, strict=False)][:8]
    return round(d[7] / sum(d), 3) if sum(d) else None


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# --- (a) harness vs bare loop --------------------------------------------------------------------

def bare_classifier(cell: Cell, device: torch.device) -> tuple[float, float]:
    """The baseline cell written as a plain PyTorch script; returns (seconds, accuracy)."""
    ds = load_dataset(cell.dataset)
    task = draw_task(ds, cell.shots, cell.seed, cell.test_cap)
    cfg = classifier_config(cell.classifier)
    t = time.perf_counter()
    torch.manual_seed(derive_seed("classifier", ds.hash, cell.shots, cell.seed))
    model = make_classifier(ds.image_shape, ds.num_classes, cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(derive_seed("batches", ds.hash, cell.shots, cell.seed))
    x, y = task.x, task.y
    for _ in range(cfg.steps):
        idx = torch.randint(len(x), (cfg.batch_size,), generator=gen)
        loss = F.cross_entropy(model(x[idx].to(device).float() / 127.5 - 1.0), y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        tx = task.test_x
        preds = torch.cat([model(tx[i:i + cfg.eval_batch_size].to(device).float() / 127.5 - 1.0).argmax(1).cpu()
                           for i in range(0, len(tx), cfg.eval_batch_size)])
    acc = float((preds == task.test_y).numpy().mean())  # float64 mean, as bench.training.evaluate
    return time.perf_counter() - t, acc


def direct_hooks(cell: Cell, options: RunOptions) -> tuple[float, float]:
    """A generative cell as direct calls of the method's hooks and the classifier loop."""
    from bench.method import FitData
    from bench.runner import MethodContext, seed_everything

    ds = load_dataset(cell.dataset)
    task = draw_task(ds, cell.shots, cell.seed, cell.test_cap)
    cls = METHODS.get(cell.method)
    config = cls.make_config(cell.preset)
    clf_cfg = classifier_config(cell.classifier)
    t = time.perf_counter()
    seed = derive_seed("method", ds.hash, cell.shots, cell.seed, cell.method)
    seed_everything(seed)
    method = cls(config, MethodContext(options.device, seed, ds.image_shape, ds.num_classes, clf_cfg, options, ds))
    method.fit(FitData(task.x, task.y, ds.classes, ds.image_shape, ds.family))
    extra = method.generate(config.n_per_class)
    seed_everything(derive_seed("classifier", ds.hash, cell.shots, cell.seed))
    model = make_classifier(ds.image_shape, ds.num_classes, clf_cfg)
    train_classifier(model, task.x, task.y, clf_cfg, device=options.device,
                     seed=derive_seed("batches", ds.hash, cell.shots, cell.seed), extra=extra,
                     real_fraction=config.real_fraction)
    acc = evaluate(model_predictor(model, options.device), task.test_x, task.test_y, ds.num_classes,
                   clf_cfg.eval_batch_size)["accuracy"]
    return time.perf_counter() - t, acc


OUTSIDE: list[float] = []  # seconds of each harness run spent outside the method's and classifier's work
METRICS: list[float] = []  # seconds of generation metrics (FID, IS, KID, grid) per harness run


def harness(cell: Cell, options: RunOptions) -> tuple[float, float]:
    """run_cell's wall time minus its generation metrics (FID/IS/KID/grid: work the bare side
    does not do, timed separately in the record and reported beside the overhead)."""
    t = time.perf_counter()
    rec = run_cell(cell, options)
    dt = time.perf_counter() - t
    if rec["status"] != "ok":
        raise RuntimeError(rec["error"]["traceback"])
    tm = rec["timings"]
    METRICS.append(tm["metrics_s"])
    dt -= tm["metrics_s"]
    OUTSIDE.append(dt - tm["fit_s"] - tm["generate_s"] - tm["train_s"] - tm["eval_s"])
    return dt, rec["metrics"]["accuracy"]


def compare(name: str, cell: Cell, bare, options: RunOptions, repeats: int) -> dict[str, Any]:
    load0, ticks0 = loadavg(), cpu_ticks()
    harness(cell, options), bare()  # warm-up: dataset load, first-call allocations
    h, b = [], []
    OUTSIDE.clear()
    METRICS.clear()
    for _ in range(repeats):  # interleaved, so drifting background load hits both alike
        h.append(harness(cell, options))
        b.append(bare())
    hs, bs = [t for t, _ in h], [t for t, _ in b]
    same = {a for _, a in h} == {a for _, a in b} and len({a for _, a in h}) == 1
    return {"part": "a", "name": name, "cell": f"{cell.method} {cell.dataset} shots={cell.shots} seed={cell.seed} "
            f"preset={cell.preset} classifier={cell.classifier}", "repeats": repeats,
            "harness_s": [round(t, 3) for t in hs], "bare_s": [round(t, 3) for t in bs],
            "harness_median_s": round(median(hs), 3), "bare_median_s": round(median(bs), 3),
            "overhead": round(median(hs) / median(bs) - 1, 4), "overhead_min_based": round(min(hs) / min(bs) - 1, 4),
            "overhead_paired_median": paired_overhead(hs, bs),
            # what run_cell spends around the timed work (draw, checks, record): a noise-robust lower bound
            "harness_outside_work_median_s": round(median(OUTSIDE), 4),
            "outside_work_share": round(median(OUTSIDE) / median(hs), 4),
            "generation_metrics_median_s": round(median(METRICS), 3),  # excluded from harness_s
            "accuracy_harness": h[0][1], "accuracy_bare": b[0][1], "same_accuracy": same,
            "loadavg_before": load0, "loadavg_after": loadavg(), "cpu_steal": steal_share(ticks0, cpu_ticks())}


def paired_overhead(hs: list[float], bs: list[float]) -> float:
    """Median over interleaved pairs of harness/bare − 1: each pair ran back to back, so a burst of
    background load (or hypervisor steal) lands in one pair instead of skewing one side's median."""
    return round(median([h / b - 1 for h, b in zip(hs, bs, strict=True)]), 4)


def part_a(options: RunOptions, repeats: int, shots: int) -> list[dict[str, Any]]:
    out = []
    cell = Cell("perf", "digits", "baseline", shots, 0, "quick", {}, "quick", {}, 0)
    out.append(compare("classifier (baseline, SmallCNN)", cell, lambda: bare_classifier(cell, options.device),
                       options, repeats))
    if "gan" in METHODS:
        gcell = Cell("perf", "digits", "gan", shots, 0, "quick", {}, "quick", {}, 0)
        out.append(compare("GAN (gan, quick preset)", gcell, lambda: direct_hooks(gcell, options), options, repeats))
    else:
        out.append({"part": "a", "name": "GAN", "skipped": "gan not registered"})
    return out


# --- (b) quick suite, 1 vs 2 workers ---------------------------------------------------------------

def stored(results: Path) -> dict[str, dict]:
    return {str(p.relative_to(results)): {k: v for k, v in json.loads(p.read_text()).items() if k not in VOLATILE}
            for p in sorted(results.rglob("*.json"))}


def part_b(device: str, suite: str, work: Path, threads: int,
           variants: tuple[tuple[str, list[str]], ...] = (("w1", ["--workers", "1"]), ("w2", ["--workers", "2"]))
           ) -> list[dict[str, Any]]:
    runs: dict[int, dict[str, Any]] = {}
    for workers, (tag, flags) in enumerate(variants, 1):
        results = work / f"results-{tag}"
        cmd = [sys.executable, "-m", "bench", "run", "--suite", suite, *flags, "--threads", str(threads), "--device", device,
               "--results-dir", str(results), "--reports-dir", str(work / f"reports-{tag}")]
        load0, ticks0, t = loadavg(), cpu_ticks(), time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        runs[workers] = {"part": "b", "run": " ".join(flags), "command": shlex.join(["bench", *cmd[3:]]),
                         "wall_s": round(wall, 2), "records": len(list(results.rglob("*.json"))),
                         "loadavg_before": load0, "loadavg_after": loadavg(),
                         "cpu_steal": steal_share(ticks0, cpu_ticks())}
    a, b = stored(work / f"results-{variants[0][0]}"), stored(work / f"results-{variants[1][0]}")
    runs[2]["speedup"] = round(runs[1]["wall_s"] / runs[2]["wall_s"], 3)
    runs[2]["records_identical_except_timings"] = a == b and len(a) > 0
    runs[2]["differing_records"] = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    # details may hold measurements (distill-quant's latencies, a source model's build time and
    # whether this cell built or loaded it): the metrics alone must match in every record
    runs[2]["metrics_identical"] = ({k: r.get("metrics") for k, r in a.items()}
                                    == {k: r.get("metrics") for k, r in b.items()} and len(a) > 0)
    return [runs[1], runs[2]]


# --- (c) FID with cached vs uncached real statistics ---------------------------------------------

def part_c(options: RunOptions, n: int, work: Path) -> list[dict[str, Any]]:
    try:
        from bench.metrics.feature_extractors import get_extractor
    except ImportError:
        return [{"part": "c", "name": "FID", "skipped": "bench.metrics provides no feature extractor on this branch"}]
    import numpy as np
    from pytorch_fid.fid_score import calculate_frechet_distance

    from bench.cache import cached

    ds = load_dataset("fashion-mnist", options.data_root)
    cache = work / "cache"  # empty: the real statistics are computed once here, then loaded
    t = time.perf_counter()
    # the reference extractor comes from the data root's artefact cache (built there by any earlier
    # run, else now): its build is a one-time cost per dataset, not what (c) measures
    ext = get_extractor("domain", ds, options.cache_dir, options.device)
    build_s = time.perf_counter() - t
    real, fake = ds.train_x[:n], ds.test_x[:n]

    def real_stats() -> dict[str, np.ndarray]:
        f = ext.features(real)
        return {"mu": f.mean(0), "sigma": np.cov(f, rowvar=False)}

    def fid(key: dict[str, Any]) -> tuple[float, float]:
        t = time.perf_counter()
        st = cached(cache, "perf-real-stats", key, real_stats)
        g = ext.features(fake)
        d = calculate_frechet_distance(st["mu"], st["sigma"], g.mean(0), np.cov(g, rowvar=False))
        return time.perf_counter() - t, float(d)

    key = {"extractor": ext.key, "n": n, "dataset": ds.hash}
    uncached_s, d1 = fid(key)
    cached_s, d2 = fid(key)
    return [{"part": "c", "name": f"FID, {n} real vs {n} other images ({ds.name}, '{ext.name}' features)",
             "extractor_build_or_load_s": round(build_s, 2), "uncached_s": round(uncached_s, 3),
             "cached_s": round(cached_s, 3), "speedup": round(uncached_s / cached_s, 2),
             "fid": round(d1, 4), "fid_equal": d1 == d2}]


# --- report ----------------------------------------------------------------------------------------

def markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    lines = [f"# augbench performance on {res['machine']}", "",
             *[f"Part {k}: `{c}`  " for k, c in sorted(res.get("commands", {}).items())],
             f"Date (latest run): {res['date']}  ",
             f"Device: {env['device']} ({env['device_name']}), {res['cores']} cores available, torch "
             f"{env['packages']['torch']}, Python {env['python']}, git {env['git_commit']}"
             f"{' (dirty)' if env['git_dirty'] else ''}  ", f"Load average at start: {res['loadavg_start']}", ""]
    lines += ["## (a) Harness overhead vs a bare loop (target ≤ 5 %)", "",
              "Harness times exclude the generation metrics (FID, IS, KID, memorisation, sample grid), which "
              "the bare side does not compute; their median is listed separately.", "",
              "| cell | harness median s | bare median s | overhead (median) | overhead (min) | overhead (paired median) | harness time outside the work | same accuracy | generation metrics s | load before→after | CPU steal |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["a"]:
        if "skipped" in r:
            lines.append(f"| {r['name']} | – | – | skipped: {r['skipped']} | | | | | | | |")
        else:
            lines.append(f"| {r['cell']} | {r['harness_median_s']} | {r['bare_median_s']} | {100 * r['overhead']:+.1f} % | "
                         f"{100 * r['overhead_min_based']:+.1f} % | "
                         f"{100 * r.get('overhead_paired_median', paired_overhead(r['harness_s'], r['bare_s'])):+.1f} % | "
                         f"{r['harness_outside_work_median_s']} s "
                         f"({100 * r['outside_work_share']:.1f} %) | {r['same_accuracy']} | "
                         f"{r.get('generation_metrics_median_s', 0)} | {r['loadavg_before'][:1]}→{r['loadavg_after'][:1]} | "
                         f"{fmt_steal(r)} |")
    lines += ["", "## (b) Quick suite, 1 vs 2 workers", ""]
    if res.get("b"):
        lines += two_runs(res["b"], "Speed-up 2 vs 1 worker")
    else:
        lines.append("not run")
    lines += ["", "## (c) Feature extraction + FID, cached vs uncached real statistics", ""]
    for r in res.get("c") or [{"skipped": "not run"}]:
        if "skipped" in r:
            lines.append(f"skipped: {r['skipped']}")
        else:
            lines.append(f"{r['name']}: uncached {r['uncached_s']} s, cached {r['cached_s']} s ({r['speedup']}×); "
                         f"FID {r['fid']} (equal both ways: {r['fid_equal']}); extractor build/load {r['extractor_build_or_load_s']} s")
    lines += ["", "## (d) Tiny suite through --executor ray (local instance) vs the local loop", ""]
    lines += two_runs(res["d"], "Wall-time ratio local / ray") if res.get("d") else ["not run"]
    lines += ["", "Timings are wall-clock and include whatever else the machine was doing; the load averages "
              "(1 min) before and after each measurement, and the share of CPU time the hypervisor gave to other "
              "guests during it (steal, from /proc/stat), are in the tables and in the JSON beside this file."]
    return "\n".join(lines) + "\n"


def fmt_steal(r: dict[str, Any]) -> str:
    return "–" if r.get("cpu_steal") is None else f"{100 * r['cpu_steal']:.0f} %"


def two_runs(rows: list[dict[str, Any]], ratio: str) -> list[str]:
    lines = ["| run | wall s | records | load before→after | CPU steal |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.get('run', r.get('workers'))} | {r['wall_s']} | {r['records']} | "
                     f"{r['loadavg_before'][:1]}→{r['loadavg_after'][:1]} | {fmt_steal(r)} |")
    r2 = rows[1]
    return lines + ["", f"{ratio}: **{r2['speedup']}×**. Records identical apart from timings and environment: "
                    f"**{r2['records_identical_except_timings']}**; metrics identical: **{r2.get('metrics_identical', 'not measured')}**"
                    + (f" (differing: {', '.join(r2['differing_records'][:5])})" if r2["differing_records"] else ""),
                    "", f"Commands: `{rows[0]['command']}` / `{r2['command']}`"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="a,b,c,d", help="comma-separated subset of a,b,c,d (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per side in (a) (default: 3)")
    p.add_argument("--shots", type=int, default=10, help="shots per class of the (a) cells (default: 10)")
    p.add_argument("--suite", default="quick", help="suite for (b) (default: quick)")
    p.add_argument("--fid-images", type=int, default=10_000, help="images per side in (c) (default: 10000)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per cell everywhere: bare loops, run_cell, `bench run --threads` (default: 1, "
                        "bench's default)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", type=Path, default=Path("datasets"))
    p.add_argument("--out", type=Path, default=Path("results/perf"))
    p.add_argument("--name", help="report file stem (default: <host>-<device>)")
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    env = environment(device)
    res: dict[str, Any] = {
        "machine": f"{socket.gethostname()} ({platform.processor() or platform.machine()}, {device})",
        "command": shlex.join(["python", "benchmarks/perf.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": available_cores(),
        "loadavg_start": loadavg(), "environment": env}
    with tempfile.TemporaryDirectory(prefix="augbench-perf-") as tmp:
        work = Path(tmp)
        options = RunOptions(data_root=args.data_root, results_dir=work / "results", device=device, threads=args.threads)
        if "a" in parts:
            res["a"] = part_a(options, args.repeats, args.shots)
            print(json.dumps(res["a"], indent=1), flush=True)
        if "b" in parts:
            res["b"] = part_b(device.type, args.suite, work, args.threads)
            print(json.dumps(res["b"], indent=1), flush=True)
        if "c" in parts:
            res["c"] = part_c(options, args.fid_images, work)
            print(json.dumps(res["c"], indent=1), flush=True)
        if "d" in parts:
            res["d"] = part_b(device.type, "tiny", work, args.threads,
                              (("local", ["--executor", "local"]), ("ray", ["--executor", "ray", "--workers", "2"])))
            print(json.dumps(res["d"], indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"{socket.gethostname()}-{device.type}"
    old = args.out / f"{stem}.json"
    if old.is_file():  # keep the parts not run this time
        prev = json.loads(old.read_text())
        before = prev.get("commands") or {k: prev["command"] for k in "abcd" if k in prev}
        res = {**prev, **res, "commands": {**before, **{k: res["command"] for k in parts}}}
    else:
        res["commands"] = {k: res["command"] for k in parts}
    res.setdefault("a", [])
    (args.out / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
