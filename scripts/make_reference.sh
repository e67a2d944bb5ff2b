#!/usr/bin/env bash
# Regenerate the committed reference results from a results folder (no training):
#   results/reference/records/<suite>/...   the raw JSON records (so `bench report` can rebuild everything)
#   results/reference/records.{csv,parquet} the long table, and environment.json
#   reports/reference/                       tables (md/tex/html/csv), figures (png/svg), index.html, readme_section.md (paste into README.md)
#
# usage: scripts/make_reference.sh RESULTS_DIR [SUITE]      (SUITE defaults to standard)
#        scripts/make_reference.sh results/reference/records  (rebuild the report from the committed records)
#
# Make the records first, e.g. the full standard suite on a GPU:
#   bench run --suite standard --device cuda --results-dir /tmp/ref-results
# then: scripts/make_reference.sh /tmp/ref-results standard
# REF=reference-4800 writes results/$REF and reports/$REF instead (the earlier 4800-step reference:
#   REF=reference-4800 scripts/make_reference.sh results/reference-4800/records).
# NOTE="..." adds a line (e.g. how loaded the machine was) to readme_section.md (kept in results/reference/note.txt).
# Afterwards refresh the committed screenshots (and read what they measured):
#   python scripts/report_screenshots.py reports/reference/index.html reports/figures/reference-report
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:?usage: scripts/make_reference.sh RESULTS_DIR [SUITE]}
SUITE=${2:-standard}
REF=${REF:-reference}
BENCH=${BENCH:-bench}
[ -d "$RESULTS/$SUITE" ] || { echo "error: no $RESULTS/$SUITE; run bench run --suite $SUITE --results-dir $RESULTS first" >&2; exit 2; }

# staged first, so the committed records themselves can be the input (a report-only rebuild:
# scripts/make_reference.sh results/$REF/records)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r "$RESULTS/$SUITE" "$stage/$SUITE"
# a cell rerun after its method's version or config changed leaves its older record beside the
# new one (the table already shows only the newest); the reference keeps just the records in its
# tables, so its environment and commits are those of the cells shown. The older records stay in
# $RESULTS, and each one left out is named here.
python3 - "$stage/$SUITE" <<'PY'
import json, sys
from pathlib import Path
newest = {}
for path in sorted(Path(sys.argv[1]).rglob("*.json")):
    r = json.loads(path.read_text())
    cell = (r["dataset"]["name"], r["method"].get("display") or r["method"]["name"], r["task"]["shots"], r["task"]["seed"])
    old = newest.get(cell)
    if old is not None:
        keep, drop = (path, old[1]) if r["finished_at"] >= old[0] else (old[1], path)
        print(f"left out (superseded by {keep.name}): {drop.relative_to(sys.argv[1])}", file=sys.stderr)
        drop.unlink()
        for png in drop.parent.glob(drop.stem + "*.png"):
            png.unlink()
        if keep is old[1]:
            continue
    newest[cell] = (r["finished_at"], path)
PY
# the run's note is kept beside the records, so a report-only rebuild keeps it
[ -z "${NOTE:-}" ] && [ -f results/$REF/note.txt ] && NOTE=$(cat results/$REF/note.txt)
rm -rf results/$REF reports/$REF
mkdir -p results/$REF/records reports/$REF
# raw records (and any sample-grid PNGs beside them), with the suite folder kept
cp -r "$stage/$SUITE" "results/$REF/records/$SUITE"
find "results/$REF/records" -name '.*.tmp' -delete

start=$(date +%s%N)
"$BENCH" report "$SUITE" --results-dir results/$REF/records --output reports/$REF > /dev/null
end=$(date +%s%N)
[ -n "${NOTE:-}" ] && printf '%s\n' "$NOTE" > results/$REF/note.txt
mv reports/$REF/records.csv reports/$REF/records.parquet reports/$REF/environment.json results/$REF/

REF=$REF NOTE=${NOTE:-} python3 - "$SUITE" "$start" "$end" <<'PY'
import json, os, sys
from pathlib import Path
ref = os.environ["REF"]
suite, report_s = sys.argv[1], (int(sys.argv[3]) - int(sys.argv[2])) / 1e9
env = json.loads(Path(f"results/{ref}/environment.json").read_text())
table = Path(f"reports/{ref}/tables/summary.md").read_text().split("#### ")[1]
table = "#### " + table.strip()
text = f"""## Reference results ({suite} suite, {', '.join(env['datasets'])})

{env['ok']} cells ({', '.join(env['methods'])}; shots {', '.join(map(str, env['shots']))}; seeds {', '.join(map(str, env['seeds']))}) on
{'; '.join(env['devices'])} ({'; '.join(env['hosts_platforms'])}), torch {env['packages'][0].get('torch')}:
{env['sum_cell_seconds']:.0f} s summed over cells, {env['busy_s'] / 3600:.1f} h of busy wall time (the union of the cells'
run intervals; {env['span_s'] / 3600:.1f} h from the first cell's start to the last cell's end). `bench report` rebuilds every table and figure from the records in {report_s:.1f} s.
{os.environ.get("NOTE", "")}

{table}

![accuracy vs shots](reports/{ref}/figures/accuracy_vs_shots.png)

Full report: [reports/{ref}/index.html](reports/{ref}/index.html) (tables, figures, environment);
LaTeX: [reports/{ref}/tables/summary.tex](reports/{ref}/tables/summary.tex); long table:
[results/{ref}/records.csv](results/{ref}/records.csv). Re-run the cells with

    {env['reproduce']}

and rebuild the report from the committed records with

    {env['report_command']}
"""
Path(f"reports/{ref}/readme_section.md").write_text(text)
print(text)
PY
