"""Executors: how a suite's cells are run — one after another, on a pool of local processes, or
as Ray tasks. ``bench run --executor local|process|ray --workers N``.

:func:`bench.runner.run_suite` plans the cells, skips finished ones, writes records, drives the
progress bar and handles failures and Ctrl-C; an executor only turns ``(cell, path)`` jobs into
finished records and yields them as they finish (in completion order; the summary puts them back
in plan order). Every executor calls the same pure :func:`bench.runner.run_cell`, so a record's
metrics do not depend on where it ran; only ``environment`` and ``timings`` differ.

Decisions (the issue left them open):

* Threads: every cell runs with ``--threads`` torch threads (default 1; :class:`RunOptions`),
  whichever executor runs it, because the thread count changes float summation order and hence
  the bits of a trained GAN. Parallelism comes from running cells at once: ``--workers`` defaults
  to ``cores // threads`` on CPU (1 with ``--device cuda``: one GPU).
* ``local`` — the sequential loop, in this process. The default when there is one worker.
* ``process`` — N spawned (not forked: safe with CUDA, threads and open files) worker processes
  (N × threads should not exceed the cores). Each writes its record itself (atomic rename, as the
  local loop does) before handing it back, so a cell a worker finished survives even if the
  driver dies. Workers ignore SIGINT (from birth: the driver ignores it while it spawns them):
  on Ctrl-C or SIGTERM the driver drops the queued cells and terminates the workers; cells in
  flight are lost and the next run resumes. Workers die with the driver even when it is killed
  (SIGKILL): Linux delivers them SIGKILL on their parent's death (``PR_SET_PDEATHSIG``), and a
  watchdog thread in each worker exits when its parent changes (other platforms). Methods registered at run time (not via ``bench.methods`` or an
  entry point) are imported in each worker from their module, which must be importable there.
* ``ray`` — one Ray task per cell (``pip install 'augbench[ray]'``). ``--ray-address`` joins a
  running cluster (``auto`` or ``HOST:PORT``); without it a private local instance is started
  with this machine's cores and shut down afterwards. Each task asks for ``cores // N`` CPUs
  (cores of the whole cluster) and, with ``--device cuda``, ``--gpus-per-task`` GPUs (default 1;
  use 0.5 to put two cells on one GPU). Tasks *return* their record to the driver, which writes
  it: the results folder need only exist on the driver, so a cluster without a shared results
  filesystem works. Datasets (``--data-root``) and the artefact cache under it must be readable
  at the same path on every node; build-once across nodes needs that path on a shared filesystem
  with working file locks (otherwise each node builds its own copy, still never a torn one).
  Files a method writes beside its record (sample grids) land on the node that ran the cell.
  Every node needs the same augbench (and plugin) install as the driver; a task that dies
  outside a cell (a node lost) stops the run with a message, and rerunning resumes.

Shared expensive artefacts (reference extractors, real statistics, source models) are built once
through :func:`bench.cache.cached`: a file lock plus atomic rename, so two workers that need the
same artefact at once build it once and the second waits, then loads it.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.errors import BenchError
from bench.suite import Cell

Job = tuple[Cell, Path]
OnStart = Callable[[Cell], None] | None
EXECUTORS = ("local", "process", "ray")


@dataclass(frozen=True)
class Finished:
    index: int  # position of the job in the list given to ``run``
    cell: Cell
    path: Path
    record: dict[str, Any] | None  # None: another live run holds the cell's claim (see ``how``)
    written: bool  # True when the worker already wrote the record to ``path``
    how: str = "ran"  # "ran", "done" (finished by another run meanwhile) or "busy <pid>"


def available_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(threads: int, device_type: str = "cpu", cores: int | None = None) -> int:
    """``--workers`` when not given: one per ``threads`` cores on CPU, one on a GPU."""
    if device_type != "cpu":
        return 1
    return max(1, (cores or available_cores()) // max(1, threads))


def plugin_modules(jobs: Sequence[Job]) -> tuple[str, ...]:
    """Modules of the methods used that a fresh process would not import by itself."""
    from bench.method import METHODS

    mods = {METHODS.get(cell.method.partition("@")[0]).__module__ for cell, _ in jobs}  # variant: its method
    return tuple(sorted(m for m in mods if m != "__main__" and not m.startswith("bench.methods")))


def _import_plugins(modules: Sequence[str]) -> None:
    for mod in modules:
        importlib.import_module(mod)


class Executor:
    name: ClassVar[str] = ""

    def __init__(self, workers: int = 1) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise BenchError(f"--workers must be a positive integer, got {workers!r}")
        self.workers = workers

    def run(self, jobs: Sequence[Job], options: Any, on_start: OnStart = None) -> Iterator[Finished]:
        """Yield one :class:`Finished` per job as it finishes. ``on_start(cell)`` is called when a
        cell starts, where the executor knows (the local loop)."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} executor, {self.workers} worker(s)"


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1) -> None:
        super().__init__(workers)
        if workers != 1:
            raise BenchError("--executor local runs one cell at a time; use --executor process (or ray) "
                             f"for --workers {workers}")

    def run(self, jobs: Sequence[Job], options: Any, on_start: OnStart = None) -> Iterator[Finished]:
        from bench.runner import run_claimed

        for i, (cell, path) in enumerate(jobs):
            if on_start is not None:
                on_start(cell)
            rec, how = run_claimed(cell, options, path)
            yield Finished(i, cell, path, rec, written=True, how=how)


def die_with_parent() -> None:
    """Make this process end when its parent does, however the parent ends (SIGKILL included)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent or parent == 1:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:  # other platforms (and belt and braces): poll for re-parenting
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="augbench-parent-watchdog", daemon=True).start()


def _process_init(modules: Sequence[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and ends the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    # tqdm's default write lock is a multiprocessing RLock: a named semaphore registered with the
    # resource tracker. A worker ended by terminate() or its parent's death never unregisters it,
    # and the tracker then prints "leaked semaphore objects" after Ctrl-C. A thread lock suffices
    # for this one-threaded process.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    _import_plugins(modules)


def _process_task(index: int, cell: Cell, options: Any, path: Path) -> tuple[int, dict[str, Any] | None, str]:
    from bench.runner import run_claimed

    rec, how = run_claimed(cell, options, path)
    return index, rec, how


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this (main) thread for the block: processes spawned inside inherit SIG_IGN,
    so a Ctrl-C while a worker is still importing torch does not print its traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class ProcessExecutor(Executor):
    name = "process"

    def describe(self) -> str:
        return f"process executor, {self.workers} worker(s)"

    def run(self, jobs: Sequence[Job], options: Any, on_start: OnStart = None) -> Iterator[Finished]:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        if not jobs:
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=mp.get_context("spawn"),
                                   initializer=_process_init, initargs=(plugin_modules(jobs),))
        clean = False
        try:
            with _sigint_ignored():  # workers are spawned by the first submits
                futures = [pool.submit(_process_task, i, cell, options, path) for i, (cell, path) in enumerate(jobs)]
            for fut in as_completed(futures):
                try:
                    i, rec, how = fut.result()
                except BrokenProcessPool:
                    raise BenchError("a worker process died (out of memory? killed?); finished cells are kept: "
                                     "rerun the same command to resume, perhaps with fewer --workers") from None
                yield Finished(i, jobs[i][0], jobs[i][1], rec, written=True, how=how)
            clean = True
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:  # Ctrl-C, a broken worker, or the caller stopped early: drop the queue, end workers
                _terminate_pool(pool)


def _terminate_pool(pool: Any) -> None:
    """End a pool's workers now, then let its manager thread finish, so the pool's queues and their
    semaphores are closed before the interpreter exits (otherwise multiprocessing's resource
    tracker prints "leaked semaphore objects" after Ctrl-C).

    A worker killed while it was sending its result leaves half a message in the result pipe: the
    manager thread then waits in ``recv()`` for the rest, and since the pool itself holds the pipe's
    write end it waits for ever, and the interpreter with it (``concurrent.futures`` joins that
    thread at exit; Ctrl-C hung this way after a cell had just finished). Closing that write end
    once the workers are dead turns the wait into end-of-file: the thread sees a broken pool and ends.
    """
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14; shuts the pool down
    if terminate is not None:
        terminate()
        return
    # take the workers, the manager thread and the queues first: shutdown() forgets them
    procs = list((getattr(pool, "_processes", None) or {}).values())
    thread = getattr(pool, "_executor_manager_thread", None)
    call_q, result_q = getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
    writer = getattr(result_q, "_writer", None)
    if writer is not None and not any(p.is_alive() for p in procs):
        writer.close()  # the last write end: a recv() stuck on a half-sent result gets end-of-file
    if thread is not None:
        thread.join(timeout=10)  # it sees the dead workers, marks the pool broken, closes the queues
    for q in (call_q, result_q):
        close = getattr(q, "close", None)
        if close is not None:
            try:
                close()
            except (OSError, ValueError):
                pass
        join = getattr(q, "join_thread", None)
        if join is not None:
            try:
                join()
            except (OSError, ValueError, AssertionError):
                pass


def _ray_task(cell: Cell, options: Any, path: Path, modules: Sequence[str]) -> dict[str, Any]:
    from bench.runner import run_cell

    _import_plugins(modules)
    return run_cell(cell, options, path)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, gpus_per_task: float = 1.0,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__(workers)
        if gpus_per_task <= 0:
            raise BenchError(f"--gpus-per-task must be > 0, got {gpus_per_task}")
        self.address = address
        self.gpus_per_task = gpus_per_task
        self.init_kwargs = init_kwargs or {}

    def describe(self) -> str:
        return f"ray executor ({self.address or 'local instance'}), {self.workers} worker(s)"

    def _connect(self, ray: Any) -> bool:
        """Join or start Ray; True when this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        kw = {"include_dashboard": False, "log_to_driver": True, **self.init_kwargs}
        try:
            if self.address:
                ray.init(address=self.address, **kw)
            else:
                kw.setdefault("num_cpus", available_cores())
                ray.init(**kw)
        except ConnectionError as exc:
            raise BenchError(f"cannot reach the Ray cluster at {self.address!r} ({exc}); start it with "
                             "`ray start --head` or leave out --ray-address for a local instance") from None
        return True

    def run(self, jobs: Sequence[Job], options: Any, on_start: OnStart = None) -> Iterator[Finished]:
        try:
            import ray
        except ImportError:
            raise BenchError("--executor ray needs Ray: pip install 'augbench[ray]'") from None
        if not jobs:
            return
        from bench.store import Claim, ResultStore

        # Ray tasks return their record and the driver writes it, so the driver claims the cells
        # (the results folder need not be shared with the nodes); claimed-elsewhere cells are skipped.
        claims: dict[int, Claim] = {}
        runnable = []
        for i, (cell, path) in enumerate(jobs):
            claim = Claim.take(path)
            if claim is None:
                yield Finished(i, cell, path, None, written=False, how=f"busy {Claim.holder(path)}")
            elif not options.force and ResultStore(options.results_dir).is_done(path):
                claim.release()
                yield Finished(i, cell, path, ResultStore(options.results_dir).load(path), written=True, how="done")
            else:
                claims[i] = claim
                runnable.append(i)
        if not runnable:
            return
        started = self._connect(ray)
        refs: dict[Any, int] = {}
        try:
            # --workers caps how many tasks run at once: each reserves a 1/workers share of the
            # cluster's CPUs (at least its --threads), while torch inside uses --threads.
            cpus = int(ray.cluster_resources().get("CPU", 1))
            threads = max(getattr(options, "threads", 1), cpus // self.workers)
            gpus = self.gpus_per_task if options.device.type == "cuda" else 0
            task = ray.remote(_ray_task).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
            modules = plugin_modules(jobs)
            opts_ref = ray.put(options)
            refs = {task.remote(jobs[i][0], opts_ref, jobs[i][1], modules): i for i in runnable}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                i = refs.pop(done[0])
                try:
                    rec = ray.get(done[0])
                except ray.exceptions.RayError as exc:  # the task died outside run_cell's own handling
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise BenchError(f"a Ray task died ({type(exc).__name__}: {first}); finished cells are kept: "
                                     "rerun the same command to resume") from None
                try:
                    yield Finished(i, jobs[i][0], jobs[i][1], rec, written=False)  # the driver writes it
                finally:
                    claims.pop(i).release()
        finally:
            for ref in refs:  # not finished: Ctrl-C or an error
                ray.cancel(ref, force=True)
            for claim in claims.values():
                claim.release()
            if started:
                ray.shutdown()


def make_executor(name: str | None, workers: int = 1, ray_address: str | None = None,
                  gpus_per_task: float = 1.0) -> Executor:
    """The executor for ``--executor NAME --workers N`` (NAME None: local for 1 worker, else process)."""
    from bench.errors import did_you_mean

    name = name or ("local" if workers == 1 else "process")
    if name not in EXECUTORS:
        raise BenchError(f"unknown executor {name!r}" + did_you_mean(name, EXECUTORS) + f"; choose {', '.join(EXECUTORS)}")
    if ray_address and name != "ray":
        raise BenchError("--ray-address only applies to --executor ray")
    if name == "local":
        return LocalExecutor(workers)
    if name == "process":
        return ProcessExecutor(workers)
    return RayExecutor(workers, address=ray_address, gpus_per_task=gpus_per_task)
