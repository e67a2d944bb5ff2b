"""``bench report SUITE``: rebuild the long table (CSV) and the Markdown leaderboard from records
alone — no training, no model, only the JSON files in the results folder."""

from __future__ import annotations

from pathlib import Path

from bench.aggregate import cost_table, leaderboard, long_table
from bench.errors import BenchError
from bench.store import ResultStore, atomic_write_text


def build_report(suite: str, results_dir: Path, reports_dir: Path) -> dict[str, Path]:
    store = ResultStore(results_dir)
    if not (Path(results_dir) / suite).is_dir():
        raise BenchError(f"no results for suite {suite!r} in {results_dir}; run `bench run --suite {suite}` first")
    df = long_table(store.records(suite))
    if df.empty:
        raise BenchError(f"no readable records under {Path(results_dir) / suite}; run `bench run --suite {suite}` first")
    out = Path(reports_dir) / suite
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "records.csv"
    atomic_write_text(csv, df.to_csv(index=False))
    md = out / "leaderboard.md"
    failed = df[df["status"] == "failed"]
    text = f"# {suite}\n\n" + leaderboard(df)
    text += cost_table(df)
    if len(failed):
        text += f"\n{len(failed)} failed cell(s): see the `error` column of records.csv.\n"
    atomic_write_text(md, text)
    return {"csv": csv, "markdown": md}
