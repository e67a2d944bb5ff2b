"""Method-specific facts from a suite's records, as Markdown tables (what `bench report` does not
tabulate because only one method has them):

* distill-quant: teacher / float student / int8 student accuracy, parameters, serialized bytes
  and CPU latency, mean over seeds per shot count;
* pseudo-label: per round, pseudo-labels accepted and kept and their accuracy against the
  hidden true labels (measured only; never used for training), mean over seeds per shot count;
* GAN family: generator + discriminator parameters per method (lrgan vs gan).

    python scripts/method_details.py standard --results-dir results/reference/records
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

from bench.store import ResultStore


def _ok(records: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [r for r in records if r["method"]["name"] == method and r["status"] == "ok"]


def _by_dataset_shots(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"]["name"], r["task"]["shots"])].append(r)
    return dict(sorted(groups.items()))


def distill_quant(records: list[dict[str, Any]]) -> str:
    out = ["| dataset | shots | n | model | accuracy | params | bytes | latency ms (1 image) | latency ms/image (batch) |",
           "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for (ds, k), rs in _by_dataset_shots(_ok(records, "distill-quant")).items():
        for model, metric in (("teacher", "teacher_accuracy"), ("student_fp32", "student_fp32_accuracy"),
                              ("student_int8", "accuracy")):
            d = [r["details"][model] for r in rs]
            out.append(f"| {ds} | {k} | {len(rs)} | {model} | {mean(r['metrics'][metric] for r in rs):.4f} | "
                       f"{mean(x['params'] for x in d):,.0f} | {mean(x['bytes'] for x in d):,.0f} | "
                       f"{mean(x['latency_ms_batch1'] for x in d):.3f} | "
                       f"{mean(x['latency_ms_per_image_batched'] for x in d):.4f} |")
    return "\n".join(out)


def pseudo_label(records: list[dict[str, Any]]) -> str:
    out = ["| dataset | shots | n | round | accepted | accepted true acc. | kept | kept true acc. |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (ds, k), rs in _by_dataset_shots(_ok(records, "pseudo-label")).items():
        for i in range(len(rs[0]["details"]["rounds"])):
            rounds = [r["details"]["rounds"][i] for r in rs]

            def acc(key: str, rounds: list[dict[str, Any]] = rounds) -> float:
                vals = [x[key] for x in rounds if x[key] is not None]  # None: nothing accepted
                return mean(vals) if vals else float("nan")

            out.append(f"| {ds} | {k} | {len(rs)} | {i + 1} | {mean(x['accepted'] for x in rounds):,.0f} | "
                       f"{acc('accepted_true_accuracy'):.3f} | {mean(x['kept'] for x in rounds):,.0f} | "
                       f"{acc('kept_true_accuracy'):.3f} |")
    return "\n".join(out)


def gan_params(records: list[dict[str, Any]]) -> str:
    out = ["| dataset | method | rank | generator params | discriminator params | total |", "|---|---|---:|---:|---:|---:|"]
    seen = set()
    for r in records:
        d, key = r.get("details") or {}, (r["dataset"]["name"], r["method"]["name"])
        if r["status"] == "ok" and "params_g" in d and key not in seen:
            seen.add(key)
            out.append(f"| {key[0]} | {key[1]} | {d.get('rank') or '—'} | {d['params_g']:,} | {d['params_d']:,} | "
                       f"{d['params_g'] + d['params_d']:,} |")
    return "\n".join([out[0], out[1], *sorted(out[2:])])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("suite")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    args = p.parse_args(argv)
    records = list(ResultStore(args.results_dir).records(args.suite))
    for title, fn in (("distill-quant: teacher, float student, int8 student", distill_quant),
                      ("pseudo-label: labels per round (true accuracy measured, never used)", pseudo_label),
                      ("GAN parameters", gan_params)):
        print(f"#### {title}\n\n{fn(records)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
