"""``bench`` command line: run suites, list what is registered, rebuild reports.

Exit codes: 0 all good (diverged cells are results: they are reported, not retried); 1 some cells
failed (their records say why); 2 bad input or a write failure (one line on stderr says what to
do); 130 interrupted by Ctrl-C, 143 by SIGTERM (finished cells are kept; rerun to resume).
"""

from __future__ import annotations

import argparse
import errno
import re
import shlex
import signal
import sys
import time
from pathlib import Path

from bench.errors import BenchError, free_space

_terminated = False  # set by the SIGTERM handler: the run stops like Ctrl-C, exit 143


def _on_sigterm(signum: int, frame: object) -> None:
    global _terminated
    _terminated = True
    raise KeyboardInterrupt


def _interrupted_code() -> int:
    return 143 if _terminated else 130


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
    r.add_argument("--suite", default="quick", help="built-in suite name or path to a .toml file (default: quick); "
                   "the options below change it, and a changed run gets a suite name of its own")
    r.add_argument("--name", help="suite name for this run's records and report (default: the suite's own name, or for "
                                  "a run that changes its datasets, methods, shots, seeds, preset or source one derived "
                                  "from them, e.g. folder-pets_baseline.gan_tiny); never a built-in suite's")
    r.add_argument("--methods", type=_csv("methods"), help="comma-separated method names or variants METHOD@LABEL (default: the suite's)")
    r.add_argument("--datasets", type=_csv("datasets"), help="comma-separated dataset names, folder:PATH, or a class subset NAME[5-9]")
    r.add_argument("--shots", type=_csv("shots", int), help="comma-separated shots per class, e.g. 1,5,10")
    r.add_argument("--seeds", type=_csv("seeds", int), help="comma-separated seeds, e.g. 0,1,2")
    r.add_argument("--preset", help="method config preset for every method (tiny, quick, standard)")
    r.add_argument("--classifier", help="downstream classifier preset (standard, long, adam-4800, adam-9600, quick, tiny; "
                                        "default: the suite's)")
    r.add_argument("--source", help="transfer source (a dataset spec) for every selected method that pretrains on one "
                                    "(finetune, finetune-head, transfer-gan); needed for folder:PATH datasets")
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
    ls.add_argument("what", choices=["methods", "datasets", "suites"],
                    help="methods (with plugins, and any plugin that failed to load), datasets, or built-in suites")

    rep = sub.add_parser("report", help="rebuild a suite's tables, figures and HTML report from its records",
                         description="Rebuild a suite's report from its records alone (no training): records.csv, "
                                     "leaderboard.md, tables/ (Markdown, LaTeX, HTML), figures/ and a self-contained "
                                     "index.html. `bench run` prints the command for its suite when it ends.")
    rep.add_argument("suite", help="the suite's name: the folder under RESULTS_DIR holding its records (a built-in "
                                   "suite, a suite file's name, or the name an ad-hoc `bench run` printed)")
    rep.add_argument("--results-dir", type=Path, default=Path("results"),
                     help="where the records are: RESULTS_DIR/SUITE/<dataset>/<method>/*.json (default: results/)")
    rep.add_argument("--reports-dir", type=Path, default=Path("reports"),
                     help="the report goes to REPORTS_DIR/SUITE/ (default: reports/)")
    rep.add_argument("--output", type=Path, help="write the report into exactly this folder instead of "
                                                 "REPORTS_DIR/SUITE (e.g. reports/reference)")
    return p


def with_source(suite, source: str):
    """``suite`` with ``source = SOURCE`` for every method that pretrains on a source dataset."""
    from bench.method import METHODS
    from bench.sources import source_field
    from bench.suite import split_variant

    users = list(dict.fromkeys(split_variant(m)[0] for m in suite.methods
                               if source_field(METHODS.get(split_variant(m)[0]))))
    if not users:
        raise BenchError(f"--source {source}: none of the methods {', '.join(suite.methods)} uses a transfer source "
                         "(finetune, finetune-head and transfer-gan do); drop --source")
    overrides = {m: dict(v) for m, v in suite.method_overrides.items()}
    for m in users:
        overrides.setdefault(m, {})["source"] = source
    return suite.with_overrides(method_overrides=overrides)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.") or "x"


def run_name(datasets: list[str], methods: list[str], all_methods: list[str], preset: str, source: str | None,
             classifier: str | None = None) -> str:
    """A suite name for an ad-hoc run, from what it runs:
    ``<datasets>_<methods>_<preset>[_clf-<classifier>][_src-<source>]`` (the classifier when not the suite's)
    (datasets by their display names, ``.``-joined; ``all`` for every registered method). Past 64
    characters the source, then the method list, then the dataset list become short hashes."""
    from bench.store import stable_hash

    ds = ".".join(_slug(d) for d in datasets)
    ms = "all" if sorted(methods) == sorted(all_methods) else ".".join(methods)
    head = f"_{_slug(preset)}" + (f"_clf-{_slug(classifier)}" if classifier else "")
    tail = head + (f"_src-{_slug(source)}" if source else "")
    if len(ds) + len(ms) + len(tail) + 1 > 64 and source:  # shorten the source first, then the lists
        tail = f"{head}_src-{stable_hash(source)[:6]}"
    if len(ds) + len(ms) + len(tail) + 1 > 64:
        ms = f"{len(methods)}-methods-{stable_hash(sorted(methods))[:6]}"
    if len(ds) + len(ms) + len(tail) + 1 > 64:
        ds = f"{len(datasets)}-datasets-{stable_hash(list(datasets))[:6]}"
    name = f"{ds}_{ms}{tail}"
    return name if len(name) <= 64 else f"{name[:57]}-{stable_hash(name)[:6]}"


def _same(value):
    return sorted(value) if isinstance(value, tuple) else value


def name_run(base, suite, suite_arg: str, name: str | None, source: str | None, data_root: Path, download: bool):
    """Give ``suite`` (``base`` changed by command-line options) its name and description. A run
    that differs from ``base`` gets a name of its own (``--name``, else :func:`run_name`) and is
    recorded as derived from ``suite_arg``; no run other than a built-in suite itself is filed
    under a built-in suite's name."""
    from bench.datasets import load_dataset
    from bench.method import METHODS
    from bench.registry import check_name
    from bench.suite import builtin_suites, find_suite

    fields = ("datasets", "methods", "shots", "seeds", "preset", "classifier", "method_overrides")
    adhoc = any(_same(getattr(base, f)) != _same(getattr(suite, f)) for f in fields)
    is_builtin_file = base.name in builtin_suites() and Path(base.path) == find_suite(base.name)
    if name is not None:
        check_name(name, "--name")
        if name in builtin_suites() and (adhoc or not is_builtin_file or name != base.name):
            raise BenchError(f"--name {name} is a built-in suite's name; choose another name for this run")
    elif base.name in builtin_suites() and not is_builtin_file:
        raise BenchError(f"suite file {base.path} uses the built-in suite name {base.name!r}; "
                         "set name = \"...\" in the file or pass --name")
    if not adhoc:  # the suite as written; under another name if asked (recorded, for the reproduce line)
        return suite if name in (None, base.name) else suite.with_overrides(name=name, derived_from=suite_arg)
    display = [load_dataset(d, data_root, download).name for d in suite.datasets]
    name = name or run_name(display, list(suite.methods), METHODS.names(), suite.preset, source,
                            suite.classifier if suite.classifier != base.classifier else None)

    def listing(values) -> str:
        return ", ".join(map(str, values))

    what = (f"ad-hoc run from suite {suite_arg}: datasets {listing(suite.datasets)}; methods {listing(suite.methods)}; "
            f"shots {listing(suite.shots)}; seeds {listing(suite.seeds)}; preset {suite.preset}"
            + (f"; classifier {suite.classifier}" if suite.classifier != base.classifier else "")
            + (f"; source {source}" if source else ""))
    return suite.with_overrides(name=name, description=what, derived_from=suite_arg)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.aggregate import long_table
    from bench.environment import resolve_device
    from bench.executors import default_workers, make_executor
    from bench.method import METHODS
    from bench.report import build_report
    from bench.runner import RunOptions, run_suite
    from bench.store import ResultStore, check_writable
    from bench.suite import load_suite, resolve_methods
    from bench.tables import leaderboard

    base = load_suite(args.suite)
    base = base.with_overrides(methods=list(resolve_methods(base.methods, base)))
    suite = base.with_overrides(methods=args.methods and list(resolve_methods(tuple(args.methods), base)),
                                datasets=args.datasets, shots=args.shots, seeds=args.seeds, preset=args.preset,
                                classifier=args.classifier)
    if args.source is not None:
        suite = with_source(suite, args.source)
    suite = name_run(base, suite, args.suite, args.name, args.source, args.data_root, args.download)
    for b in METHODS.broken:  # this run does not ask for it (that stops above): it goes on without it
        print(f"warning: {b.describe(METHODS.entry_point_group)}; left out of this run", file=sys.stderr)
    _check_threads(args.threads)
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
    check_writable(args.reports_dir, "reports dir", "--reports-dir")  # not only after every cell ran
    _warn_low_space([args.results_dir, args.reports_dir])
    t0 = time.perf_counter()
    summary = run_suite(suite, options, executor)
    wall = time.perf_counter() - t0
    where = Path(args.results_dir) / suite.name
    if summary.interrupted:
        print(f"\ninterrupted: {summary.ran} cell(s) finished in this run are kept in {where}; "
              f"run the same command again to resume ({' '.join(map(shlex.quote, ['bench', *sys.argv[1:]]))})",
              file=sys.stderr)
        return _interrupted_code()
    print()
    print(leaderboard(long_table(summary.records)))
    files = build_report(suite.name, args.results_dir, args.reports_dir)
    extra = "".join([f", {summary.diverged} diverged (not in the tables)" if summary.diverged else "",
                     f", {summary.busy} left to another bench run" if summary.busy else "",
                     f", {summary.duplicates} duplicate cell(s) in the plan run once" if summary.duplicates else ""])
    print(f"{summary.ran} cell(s) run, {summary.skipped} already done (skipped), {summary.failed} failed{extra}; "
          f"{wall:.1f} s on {options.device}{' (amp)' if options.amp else ''}, {executor.describe()}")
    if summary.artefacts:
        print(f"one-time artefacts built before the cells (not in any cell's time): {len(summary.artefacts)} in "
              f"{sum(b['seconds'] for b in summary.artefacts):.1f} s ("
              + "; ".join(f"{b['what']} {b['seconds']:.1f} s" for b in summary.artefacts) + ")")
    print(f"records: {where}/   long table: {files['csv']}   leaderboard: {files['markdown']}")
    print(f"report: {files['html']}   rebuild it with: "
          + shlex.join(["bench", "report", suite.name, "--results-dir", str(args.results_dir),
                        "--reports-dir", str(args.reports_dir)]))
    _warn_invalid(ResultStore(args.results_dir).invalid_files(suite.name))
    if summary.busy:
        print(f"note: {summary.busy} cell(s) were being run by another bench run on {where} (pid "
              f"{', '.join(sorted(summary.busy_pids))}) and were left to it; rerun this command when it has finished "
              "to include them in this leaderboard", file=sys.stderr)
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
            if cls.augment_labelled is not None:
                caps.append("mixes-labels")
            doc = (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
            origin = METHODS.origin.get(name)
            plugin = f"  (plugin {origin[0]!r} from {origin[1]})" if origin else ""
            print(f"{name:16s} v{cls.version}  presets: {', '.join(cls.presets)}  {' '.join(caps)}{plugin}")
            if doc:
                print(f"{'':18s}{doc[0]}")
            if cls.variants:
                print(f"{'':18s}variants: {', '.join(f'{name}@{label}' for label in cls.variants)}")
        for b in METHODS.broken:
            print(f"BROKEN {b.describe(METHODS.entry_point_group)}; {b.advice()}")
    elif args.what == "datasets":
        from bench.datasets import DATASETS
        from bench.method import METHODS
        from bench.sources import source_field

        users = {m: METHODS.get(m).auto_sources for m in METHODS.names() if source_field(METHODS.get(m))}
        for name in DATASETS.names():
            print(f"{name:16s} {(DATASETS.get(name).__doc__ or '').strip().splitlines()[0]}")
            by_src: dict[str, list[str]] = {}
            for m, a in users.items():
                by_src.setdefault(a.get(name) or "none (name one with --source)", []).append(m)
            if set(by_src) != {"none (name one with --source)"}:
                text = (next(iter(by_src)) if len(by_src) == 1 else
                        "; ".join(f"{src} ({', '.join(ms)})" for src, ms in sorted(by_src.items())))
                print(f"{'':17s}its transfer source (source = \"auto\"): {text}")
        print(f"{'folder:PATH':16s} your own images: PATH/train/<class>/*.png and PATH/test/<class>/*.png")
        print(f"{'NAME[5-9]':16s} any of the above restricted to some classes (indices and ranges, e.g. [0,2,4]);"
              " transfer methods then pretrain on its other classes")
    else:
        from bench.suite import builtin_suites, load_suite

        for name in builtin_suites():
            print(f"{name:16s} {load_suite(name).description}")
    return 0


def _check_threads(threads: int) -> None:
    from bench.executors import available_cores

    cores = available_cores()
    if threads > cores:
        raise BenchError(f"--threads {threads} is more than the {cores} core(s) this process may use; "
                         f"use --threads {cores} or fewer (more threads than cores only slows every cell down)")


LOW_SPACE = 100 * 2**20  # below this, say so before the first cell (a record is a few KiB, a report ~1 MiB)


def _warn_low_space(folders: list[Path]) -> None:
    import shutil

    for folder in folders:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            continue
        if free < LOW_SPACE:
            print(f"warning: only {free_space(folder)} free for {folder}; a full disk stops the run (finished "
                  "records are kept)", file=sys.stderr)


def _warn_invalid(bad: list[tuple[Path, str]]) -> None:
    """One line naming every file under the suite that is not a valid record, and the count."""
    if bad:
        listed = "; ".join(f"{p} ({why})" for p, why in bad)
        print(f"warning: skipped {len(bad)} file(s) that are not valid records: {listed}", file=sys.stderr)


def _check_report_suite(suite: str, results_dir: Path) -> None:
    """``bench report NAME`` without results for NAME: say which suites have results."""
    from bench.errors import did_you_mean

    if (Path(results_dir) / suite).is_dir():
        return
    have = sorted(p.name for p in Path(results_dir).iterdir() if p.is_dir()) if Path(results_dir).is_dir() else []
    if have:
        raise BenchError(f"no results for suite {suite!r} in {results_dir}" + did_you_mean(suite, have)
                         + " (suites with results there: " + ", ".join(have) + ")")
    raise BenchError(f"no results in {results_dir} (no suite has been run there); run `bench run --suite SUITE "
                     f"--results-dir {results_dir}` first, or pass --results-dir DIR where the records are")


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import build_report
    from bench.store import ResultStore

    _check_report_suite(args.suite, args.results_dir)
    t0 = time.perf_counter()
    files = build_report(args.suite, args.results_dir, args.reports_dir, args.output)
    print(files["summary_md"].read_text())
    print(f"wrote {files['html']} (tables: {files['summary_md'].parent}, figures: {files['html'].parent / 'figures'}, "
          f"long table: {files['csv']}) in {time.perf_counter() - t0:.2f} s")
    _warn_invalid(ResultStore(args.results_dir).invalid_files(args.suite))
    return 0


def main(argv: list[str] | None = None) -> int:
    global _terminated
    _terminated = False
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a test thread): leave SIGTERM alone
        pass
    try:
        args = build_parser().parse_args(argv)
        return {"run": cmd_run, "list": cmd_list, "report": cmd_report}[args.command](args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return _interrupted_code()
    except OSError as exc:  # a write the harness did not wrap (disk full, read-only): one line, no traceback
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO):
            raise
        where = exc.filename or "a file"
        print(f"error: cannot write {where}: {exc.strerror} ({free_space(exc.filename or '.')} free there); "
              "finished records are kept: fix it and rerun the same command to resume", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
