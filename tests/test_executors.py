"""Executors: a process pool and Ray give the same records as the local loop, shared artefacts are
built once across workers, and stopping early ends the workers."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError
from bench.executors import Executor, Finished, LocalExecutor, ProcessExecutor, default_workers, make_executor
from bench.runner import RunOptions, run_suite
from bench.suite import Suite

VOLATILE = {"timings", "memory", "environment", "started_at", "finished_at"}


def tiny_suite(methods=("baseline", "classic"), seeds=(0, 1), **kw) -> Suite:
    return Suite("exec", ("digits",), tuple(methods), (1,), tuple(seeds), preset="tiny", classifier="tiny", **kw)


def opts(tmp_path: Path, name: str) -> RunOptions:
    return RunOptions(data_root=tmp_path / "data", results_dir=tmp_path / name, device=torch.device("cpu"))


def stored(results: Path) -> dict[str, dict]:
    """relative path -> record without the fields that say when, where and how fast."""
    return {str(p.relative_to(results)): {k: v for k, v in json.loads(p.read_text()).items() if k not in VOLATILE}
            for p in sorted(results.rglob("*.json"))}


@pytest.fixture
def probe():
    """Register the test-only ``probe-cached`` method for one test (workers import it by module)."""
    import probe_plugin

    from bench.method import METHODS

    yield probe_plugin
    METHODS._items.pop(probe_plugin.NAME, None)
    sys.modules.pop("probe_plugin", None)


def test_process_pool_records_identical_to_local(tmp_path: Path):
    suite = tiny_suite()
    local = run_suite(suite, opts(tmp_path, "local"))
    pool = run_suite(suite, opts(tmp_path, "pool"), ProcessExecutor(2))
    assert (local.ran, pool.ran, pool.failed) == (4, 4, 0)
    a, b = stored(tmp_path / "local"), stored(tmp_path / "pool")
    assert len(a) == 4 and a == b, "records differ between the local loop and the process pool"
    # the summary lists records in plan order whatever order the workers finished in
    assert [r["key"] for r in local.records] == [r["key"] for r in pool.records]
    envs = [json.loads(p.read_text())["environment"] for p in (tmp_path / "pool").rglob("*.json")]
    assert {e["threads"] for e in envs} == {1}  # RunOptions.threads, whatever the executor


@pytest.mark.ray
def test_ray_records_identical_to_local(tmp_path: Path):
    pytest.importorskip("ray")
    from bench.executors import RayExecutor

    suite = tiny_suite()
    run_suite(suite, opts(tmp_path, "local"))
    ray_run = run_suite(suite, opts(tmp_path, "ray"), RayExecutor(2, init_kwargs={"num_cpus": 2}))
    assert (ray_run.ran, ray_run.failed) == (4, 0)
    a, b = stored(tmp_path / "local"), stored(tmp_path / "ray")
    assert len(a) == 4 and a == b, "records differ between the local loop and Ray"
    import ray

    assert not ray.is_initialized(), "the local Ray instance this run started must be shut down"


def test_two_workers_on_empty_cache_build_shared_artefact_once(tmp_path: Path, probe):
    counter = tmp_path / "builds.txt"
    suite = tiny_suite(methods=(probe.NAME,), seeds=(0, 1),
                       method_overrides={probe.NAME: {"counter": str(counter), "build_s": 1.0}})
    summary = run_suite(suite, opts(tmp_path, "pool"), ProcessExecutor(2))
    assert (summary.ran, summary.failed) == (2, 0), [r["error"] for r in summary.records]
    assert len(counter.read_text().splitlines()) == 1, "two workers both built the shared artefact"
    assert [r["details"]["artefact_sum"] for r in summary.records] == [28.0, 28.0]


def test_closing_the_pool_early_ends_its_workers(tmp_path: Path, probe):
    """What Ctrl-C does: the driver stops consuming, queued cells are dropped, workers end."""
    suite = tiny_suite(methods=("baseline", probe.NAME), seeds=(0,),
                       method_overrides={probe.NAME: {"counter": str(tmp_path / "n.txt"), "fit_s": 120.0}})
    from bench.plan import plan
    from bench.store import ResultStore

    options = opts(tmp_path, "pool")
    jobs = plan(suite, options, ResultStore(options.results_dir))
    results = ProcessExecutor(2).run(jobs, options)
    first = next(results)
    assert first.cell.method == "baseline" and first.written and first.path.is_file()
    counter = tmp_path / "n.txt"  # the probe writes its worker's pid there, then sleeps 120 s
    deadline = time.perf_counter() + 60
    while not counter.is_file() and time.perf_counter() < deadline:
        time.sleep(0.1)
    pid = int(counter.read_text().split()[0])
    t = time.perf_counter()
    results.close()
    assert time.perf_counter() - t < 30, "closing must not wait for the worker stuck in a 120 s cell"
    while _alive(pid) and time.perf_counter() - t < 30:
        time.sleep(0.1)
    assert not _alive(pid), "closing must terminate the worker stuck in a 120 s cell"
    assert not jobs[1][1].exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class _InterruptAfterOne(Executor):
    name = "interrupt"

    def run(self, jobs, options, on_start=None):
        cell, path = jobs[0]
        yield from LocalExecutor().run(jobs[:1], options)
        raise KeyboardInterrupt


def test_interrupt_keeps_finished_cells_and_resumes(tmp_path: Path):
    suite = tiny_suite(methods=("baseline",))
    options = opts(tmp_path, "r")
    first = run_suite(suite, options, _InterruptAfterOne())
    assert first.interrupted and first.ran == 1 and len(stored(tmp_path / "r")) == 1
    again = run_suite(suite, options)
    assert (again.skipped, again.ran, again.interrupted) == (1, 1, False)


def test_make_executor_choices_and_bad_input():
    assert isinstance(make_executor(None, 1), LocalExecutor)
    assert isinstance(make_executor(None, 2), ProcessExecutor)
    for args, msg in [(("local", 2), "--executor process"), (("proces", 2), "did you mean"),
                      (("process", 0), "positive"), (("process", 2, "auto"), "--ray-address")]:
        with pytest.raises(BenchError, match=msg):
            make_executor(*args)
    assert default_workers(1, cores=2) == 2 and default_workers(2, cores=2) == 1
    assert default_workers(3, cores=2) == 1 and default_workers(4, cores=16) == 4
    assert default_workers(1, "cuda", cores=16) == 1  # one GPU: one cell at a time unless asked


def test_cell_runs_with_the_requested_threads_and_restores_them(tmp_path: Path):
    import torch

    from bench.runner import RunOptions, run_cell

    before = torch.get_num_threads()
    cell = tiny_suite().cells()[0]
    rec = run_cell(cell, RunOptions(data_root=tmp_path / "d", results_dir=tmp_path / "r", threads=2))
    assert rec["status"] == "ok" and rec["environment"]["threads"] == 2
    assert torch.get_num_threads() == before
    with pytest.raises(BenchError, match="--threads"):
        RunOptions(threads=0)


def test_finished_is_what_run_suite_consumes():
    assert {"index", "cell", "path", "record", "written", "how"} == set(Finished.__dataclass_fields__)


def test_a_claimed_cell_is_left_to_its_holder(tmp_path: Path):
    """Another run holds one cell's claim: the executor skips it (record None, how "busy <pid>"),
    runs the other, and run_suite counts it without writing anything for it."""
    from bench.plan import plan
    from bench.store import Claim, ResultStore

    options = opts(tmp_path, "res")
    jobs = plan(tiny_suite(methods=("baseline",)), options, ResultStore(options.results_dir))
    held = Claim.take(jobs[0][1])
    try:
        got = list(LocalExecutor().run(jobs, options))
        assert got[0].record is None and got[0].how == f"busy {os.getpid()}" and not jobs[0][1].exists()
        assert got[1].record["status"] == "ok" and got[1].how == "ran" and jobs[1][1].is_file()
        summary = run_suite(tiny_suite(methods=("baseline",)), options)
        assert (summary.busy, summary.skipped, summary.ran) == (1, 1, 0)
    finally:
        held.release()
    summary = run_suite(tiny_suite(methods=("baseline",)), options)  # the holder is gone: it runs now
    assert (summary.busy, summary.skipped, summary.ran) == (0, 1, 1)
