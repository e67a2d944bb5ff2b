#!/usr/bin/env bash
# Cost per method family, old protocol vs new, measured in one run on one host (issue 28).
# One cell per family (Fashion-MNIST, 10 shots, seed 5 (neither a reported draw, 0–4, nor a development one, so nothing is chosen on it), the `standard` method presets),
# first under the 4800-step `adam-4800` classifier, then under the 960-step `standard` one, then
# scripts/cost_compare.py's table with the new ÷ old ratio per family. Families whose methods train
# their own network rather than the harness's classifier (fixmatch, ssl-gan, ssl-vae) are left out:
# the preset does not change their cost. About 25 min on 2 cores.
#
#   bash benchmarks/family_cost.sh [OUT_DIR]       # default results/perf/family-cost
set -euo pipefail
out=${1:-results/perf/family-cost}
methods=baseline,classic,mixup,gan,vae,ae-pretrain,pseudo-label,prune
for clf in adam-4800 standard; do
    bench run --suite standard --datasets fashion-mnist --methods "$methods" --shots 10 --seeds 5 \
        --classifier "$clf" --name "family-cost-$clf" --results-dir "$out/records" \
        --reports-dir "${TMPDIR:-/tmp}/family-cost-reports" --workers 2 --threads 1
done
python scripts/cost_compare.py "$out/records/family-cost-adam-4800" "$out/records/family-cost-standard" \
    --labels "adam-4800 (old)" "standard, 960 steps (new)" --out "$out/cost.md"
