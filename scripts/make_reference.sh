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
# NOTE="..." adds a line (e.g. how loaded the machine was) to readme_section.md (kept in results/reference/note.txt).
# Afterwards refresh the committed screenshots (and read what they measured):
#   python scripts/report_screenshots.py reports/reference/index.html reports/figures/reference-report
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:?usage: scripts/make_reference.sh RESULTS_DIR [SUITE]}
SUITE=${2:-standard}
BENCH=${BENCH:-bench}
[ -d "$RESULTS/$SUITE" ] || { echo "error: no $RESULTS/$SUITE; run bench run --suite $SUITE --results-dir $RESULTS first" >&2; exit 2; }

# staged first, so the committed records themselves can be the input (a report-only rebuild:
# scripts/make_reference.sh results/reference/records)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r "$RESULTS/$SUITE" "$stage/$SUITE"
# the run's note is kept beside the records, so a report-only rebuild keeps it
[ -z "${NOTE:-}" ] && [ -f results/reference/note.txt ] && NOTE=$(cat results/reference/note.txt)
rm -rf results/reference reports/reference
mkdir -p results/reference/records reports/reference
# raw records (and any sample-grid PNGs beside them), with the suite folder kept
cp -r "$stage/$SUITE" "results/reference/records/$SUITE"
find "results/reference/records" -name '.*.tmp' -delete

start=$(date +%s%N)
"$BENCH" report "$SUITE" --results-dir results/reference/records --output reports/reference > /dev/null
end=$(date +%s%N)
[ -n "${NOTE:-}" ] && printf '%s\n' "$NOTE" > results/reference/note.txt
mv reports/reference/records.csv reports/reference/records.parquet reports/reference/environment.json results/reference/

NOTE=${NOTE:-} python3 - "$SUITE" "$start" "$end" <<'PY'
import json, os, sys
from pathlib import Path
suite, report_s = sys.argv[1], (int(sys.argv[3]) - int(sys.argv[2])) / 1e9
env = json.loads(Path("results/reference/environment.json").read_text())
table = Path("reports/reference/tables/summary.md").read_text().split("#### ")[1]
table = "#### " + table.strip()
text = f"""## Reference results ({suite} suite, {', '.join(env['datasets'])})

{env['ok']} cells ({', '.join(env['methods'])}; shots {', '.join(map(str, env['shots']))}; seeds {', '.join(map(str, env['seeds']))}) on
{'; '.join(env['devices'])} ({'; '.join(env['hosts_platforms'])}), torch {env['packages'][0].get('torch')}:
{env['sum_cell_seconds']:.0f} s summed over cells, {env['span_s'] / 60:.1f} min from the first cell's start to the last
cell's end. `bench report` rebuilds every table and figure from the records in {report_s:.1f} s.
{os.environ.get("NOTE", "")}

{table}

![accuracy vs shots](reports/reference/figures/accuracy_vs_shots.png)

Full report: [reports/reference/index.html](reports/reference/index.html) (tables, figures, environment);
LaTeX: [reports/reference/tables/summary.tex](reports/reference/tables/summary.tex); long table:
[results/reference/records.csv](results/reference/records.csv). Re-run the cells with

    {env['reproduce']}

and rebuild the report from the committed records with

    {env['report_command']}
"""
Path("reports/reference/readme_section.md").write_text(text)
print(text)
PY
