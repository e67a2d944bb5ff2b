"""Cost of a run per method family, beside another run's (issue 16, item 5).

    python scripts/cost_compare.py results/reference-run/standard results/reference/records/standard \
        --labels "4800 steps, 5 seeds" "300 steps, 3 seeds" --out results/reference/cost.md

For each run: cells, cell-seconds (each record's ``timings.total_s``, summed), seconds per cell,
the share of the run, and the phases (method fit, classifier training, image metrics, and of the
image metrics the part CAS takes: it trains the fixed classifier once more, on generated images); and the
busy wall time: the union of the records' [started_at, finished_at] intervals, so pauses between
sessions do not count. Only ``ok`` records count. Runs on different hosts are not comparable in
absolute seconds (hosts of one VM type differ several-fold); the per-cell shares within a run are.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from bench.report import busy_wall
from bench.store import ResultStore

FAMILY_MEMBERS = {
    "baseline": ("baseline",),
    "classic (every policy)": ("classic",),
    "label mixing (mixup, cutmix, paste)": ("mixup", "cutmix", "paste"),
    "GANs (gan, lrgan, diffaug-gan, transfer-gan)": ("gan", "lrgan", "diffaug-gan", "transfer-gan"),
    "vae, gmm": ("vae", "gmm"),
    "pretraining (ae-pretrain, finetune, finetune-head)": ("ae-pretrain", "finetune", "finetune-head"),
    "semi-supervised (pseudo-label, fixmatch)": ("pseudo-label", "fixmatch"),
    "generative semi-supervised (ssl-gan, ssl-vae)": ("ssl-gan", "ssl-vae"),
    "compression (prune, distill-quant)": ("prune", "distill-quant"),
}
FAMILIES = {m: fam for fam, members in FAMILY_MEMBERS.items() for m in members}  # a method not listed is its own family
PHASES = ("fit_s", "train_s", "metrics_s")


def cas_seconds(record: dict) -> float:
    """Seconds CAS spent training its classifier (``details.generation.cas.train_s``; part of ``metrics_s``)."""
    cas = ((record.get("details") or {}).get("generation") or {}).get("cas") or {}
    return float(cas.get("train_s", 0.0))


def load(folder: Path) -> list[dict]:
    """The ``ok`` records under ``folder``; files that are not valid records are named on stderr."""
    store = ResultStore(folder)
    out = [r for r in store.records() if r.get("status") == "ok"]
    for path, reason in store.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return out


def summarise(records: list[dict]) -> dict[str, dict]:
    fam: dict[str, dict] = defaultdict(lambda: {"cells": 0, "s": 0.0, "cas_s": 0.0, **{p: 0.0 for p in PHASES}})
    for r in records:
        name = r["method"]["name"]
        d = fam[FAMILIES.get(name, name)]
        d["cells"] += 1
        d["s"] += r["timings"]["total_s"]
        for p in PHASES:
            d[p] += r["timings"].get(p, 0.0)
        d["cas_s"] += cas_seconds(r)
    return dict(fam)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="record folders (a suite's folder), the first is the main run")
    ap.add_argument("--labels", nargs="+", help="a name per run, in order")
    ap.add_argument("--out", type=Path, help="write the Markdown here as well")
    a = ap.parse_args()
    labels = a.labels or [str(p) for p in a.runs]
    runs = [load(p) for p in a.runs]
    sums = [summarise(r) for r in runs]
    lines = ["| run | cells | cell-seconds | busy wall | CPU model |", "|---|---:|---:|---:|---|"]
    for lab, recs in zip(labels, runs, strict=True):
        cpus = sorted({r["environment"].get("cpu_model", "not recorded") for r in recs})
        lines.append(f"| {lab} | {len(recs)} | {sum(r['timings']['total_s'] for r in recs):,.0f} | "
                     f"{busy_wall(recs) / 3600:.1f} h | {'; '.join(cpus)} |")
    # with several runs, each later run's seconds per cell as a ratio to the first run's: the
    # figure to quote when the runs ran on one host (absolute seconds are not, across hosts)
    ratio_heads = [f"{lab} ÷ {labels[0]}" for lab in labels[1:]]
    lines += ["", "| family | " + " | ".join([f"{lab}: cells, s per cell, share" for lab in labels] + ratio_heads)
              + " |", "|---|" + "---:|" * (len(labels) + len(ratio_heads))]
    per_cell = [{f: d["s"] / d["cells"] for f, d in s.items()} for s in sums]
    for fam in sorted(sums[0], key=lambda f: -sums[0][f]["s"]):
        cols = []
        for s in sums:
            tot = sum(v["s"] for v in s.values())
            d = s.get(fam)
            cols.append(f"{d['cells']}, {d['s'] / d['cells']:.0f}, {100 * d['s'] / tot:.0f} %" if d else "—")
        cols += [f"{pc[fam] / per_cell[0][fam]:.2f}" if fam in pc else "—" for pc in per_cell[1:]]
        lines.append(f"| {fam} | " + " | ".join(cols) + " |")
    lines += ["", f"Phases of the first run ({labels[0]}), seconds per cell:", "",
              "| family | method fit | classifier | image metrics | of which CAS | other |", "|---|---:|---:|---:|---:|---:|"]
    for fam, d in sorted(sums[0].items(), key=lambda kv: -kv[1]["s"]):
        n = d["cells"]
        other = d["s"] - sum(d[p] for p in PHASES)
        lines.append(f"| {fam} | " + " | ".join(f"{d[p] / n:.0f}" for p in PHASES)
                     + f" | {d['cas_s'] / n:.0f} | {other / n:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
