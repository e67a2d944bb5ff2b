"""``bench`` command line: run suites, list what is registered, rebuild reports.

Exit codes: 0 all good; 1 some cells failed (their records say why); 2 bad input (one line on
stderr says what to do); 130 interrupted (finished cells are kept; rerun to resume).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from bench.errors import BenchError


def split_list(text: str) -> list[str]:
    """Split on commas outside brackets: ``"digits,fashion-mnist[0,2,4]"`` -> two items."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    return [t.strip() for t in [*items, cur] if t.strip()]


def _csv(kind: str, cast=str):
    def parse(text: str):
        items = split_list(text)
        if not items:
            raise argparse.ArgumentTypeError(f"--{kind} needs a comma-separated list")
        try:
            return [cast(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{kind} must be comma-separated integers, got {text!r}") from None
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        raise BenchError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bench", description="augbench: which approach helps when you have few labels?")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a suite (default: quick) and print the leaderboard")
    r.add_argument("--suite", default="quick", help="built-in suite name or path to a .toml file (default: quick)")
    r.add_argument("--methods", type=_csv("methods"), help="comma-separated method names or variants METHOD@LABEL (default: the suite's)")
    r.add_argument("--datasets", type=_csv("datasets"), help="comma-separated dataset names, folder:PATH, or a class subset NAME[5-9]")
    r.add_argument("--shots", type=_csv("shots", int), help="comma-separated shots per class, e.g. 1,5,10")
    r.add_argument("--seeds", type=_csv("seeds", int), help="comma-separated seeds, e.g. 0,1,2")
    r.add_argument("--preset", help="method config preset for every method (tiny, quick, standard)")
    r.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    r.add_argument("--data-root", type=Path, default=Path("datasets"), help="where datasets live (default: datasets/)")
    r.add_argument("--results-dir", type=Path, default=Path("results"), help="where records go (default: results/)")
    r.add_argument("--reports-dir", type=Path, default=Path("reports"), help="where reports go (default: reports/)")
    r.add_argument("--download", action="store_true", help="let torchvision download missing datasets")
    r.add_argument("--force", action="store_true", help="redo cells that already have a record")
    r.add_argument("--workers", type=int,
                   help="cells run at once (default: cores // --threads on CPU, 1 with --device cuda)")
    r.add_argument("--threads", type=int, default=1,
                   help="torch threads per cell (default: 1; records are bit-identical for equal --threads)")
    r.add_argument("--executor", choices=["local", "process", "ray"],
                   help="local (sequential), process (a pool of --workers processes) or ray "
                        "(default: local for 1 worker, else process)")
    r.add_argument("--ray-address", help="join a running Ray cluster: auto or HOST:PORT (default: a local instance)")
    r.add_argument("--gpus-per-task", type=float, default=1.0,
                   help="GPUs each Ray task asks for with --device cuda (default: 1; 0.5 = two cells per GPU)")
    r.add_argument("--amp", action="store_true",
                   help="mixed precision (bfloat16 autocast); off by default so CPU and GPU records compare")

    ls = sub.add_parser("list", help="list registered methods, datasets or suites")
    ls.add_argument("what", choices=["methods", "datasets", "suites"])

    rep = sub.add_parser("report", help="rebuild a suite's tables, figures and HTML report from its records")
    rep.add_argument("suite")
    rep.add_argument("--results-dir", type=Path, default=Path("results"))
    rep.add_argument("--reports-dir", type=Path, default=Path("reports"))
    rep.add_argument("--output", type=Path, help="write the report into exactly this folder (default: REPORTS_DIR/SUITE)")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from bench.aggregate import long_table
    from bench.environment import resolve_device
    from bench.executors import default_workers, make_executor
    from bench.report import build_report
    from bench.runner import RunOptions, run_suite
    from bench.suite import load_suite, resolve_methods
    from bench.tables import leaderboard

    suite = load_suite(args.suite)
    suite = suite.with_overrides(methods=args.methods, datasets=args.datasets, shots=args.shots,
                                 seeds=args.seeds, preset=args.preset)
    suite = suite.with_overrides(methods=list(resolve_methods(suite.methods, suite)))
    options = RunOptions(data_root=args.data_root, results_dir=args.results_dir,
                         device=resolve_device(args.device), download=args.download, force=args.force,
                         amp=args.amp, threads=args.threads)
    if args.workers is not None:
        workers = args.workers
    elif args.executor == "local":  # asked for the sequential loop: the core-count default does not apply
        workers = 1
    else:
        workers = default_workers(args.threads, options.device.type)
    executor = make_executor(args.executor, workers, args.ray_address, args.gpus_per_task)
    t0 = time.perf_counter()
    summary = run_suite(suite, options, executor)
    wall = time.perf_counter() - t0
    where = Path(args.results_dir) / suite.name
    if summary.interrupted:
        print(f"\ninterrupted: {summary.ran} cell(s) finished in this run are kept in {where}; "
              f"run the same command again to resume ({' '.join(map(shlex.quote, ['bench', *sys.argv[1:]]))})",
              file=sys.stderr)
        return 130
    print()
    print(leaderboard(long_table(summary.records)))
    files = build_report(suite.name, args.results_dir, args.reports_dir)
    print(f"{summary.ran} cell(s) run, {summary.skipped} already done (skipped), {summary.failed} failed; "
          f"{wall:.1f} s on {options.device}{' (amp)' if options.amp else ''}, {executor.describe()}")
    print(f"records: {where}/   long table: {files['csv']}   leaderboard: {files['markdown']}")
    if summary.failed:
        print(f"error: {summary.failed} cell(s) failed; their records under {where} hold the error and "
              "traceback; fix and rerun the same command to retry only those", file=sys.stderr)
        return 1
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from bench.method import METHODS

        for name in METHODS.names():
            cls = METHODS.get(name)
            caps = [k for k, v in vars(cls.capabilities).items() if v]
            if cls.augment_batch is not None:
                caps.append("augments")
            doc = (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
            print(f"{name:16s} v{cls.version}  presets: {', '.join(cls.presets)}  {' '.join(caps)}")
            if doc:
                print(f"{'':18s}{doc[0]}")
            if cls.variants:
                print(f"{'':18s}variants: {', '.join(f'{name}@{label}' for label in cls.variants)}")
    elif args.what == "datasets":
        from bench.datasets import DATASETS

        for name in DATASETS.names():
            print(f"{name:16s} {(DATASETS.get(name).__doc__ or '').strip().splitlines()[0]}")
        print(f"{'folder:PATH':16s} your own images: PATH/train/<class>/*.png and PATH/test/<class>/*.png")
        print(f"{'NAME[5-9]':16s} any of the above restricted to some classes (indices and ranges, e.g. [0,2,4]);"
              " transfer methods then pretrain on its other classes")
    else:
        from bench.suite import builtin_suites, load_suite

        for name in builtin_suites():
            print(f"{name:16s} {load_suite(name).description}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import build_report

    t0 = time.perf_counter()
    files = build_report(args.suite, args.results_dir, args.reports_dir, args.output)
    print(files["summary_md"].read_text())
    print(f"wrote {files['html']} (tables: {files['summary_md'].parent}, figures: {files['html'].parent / 'figures'}, "
          f"long table: {files['csv']}) in {time.perf_counter() - t0:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"run": cmd_run, "list": cmd_list, "report": cmd_report}[args.command](args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
