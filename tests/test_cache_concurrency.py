"""bench.cache under concurrency: processes started at the same moment on an empty cache build an
artefact once, and a failed build or write leaves nothing behind to be read."""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest
import torch

from bench.cache import artifact_path, cached

KEY = {"extractor": "probe", "dataset": "digits"}


def _build(counter: str, delay: float) -> dict[str, torch.Tensor]:
    with open(counter, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(delay)  # a slow build: the other process arrives while this one holds the lock
    return {"w": torch.arange(16.0).reshape(4, 4)}


def _worker(cache_dir: str, counter: str, barrier, out) -> None:
    barrier.wait(timeout=60)  # both start together, on an empty cache
    obj = cached(Path(cache_dir), "probe", KEY, functools.partial(_build, counter, 0.5))
    out.put(obj["w"].sum().item())


def two_at_once(worker, tmp_path: Path, timeout: float) -> tuple[list[str], list]:
    """Run ``worker(cache_dir, counter, barrier, out)`` in two spawned processes that start
    together on ``tmp_path/cache``; returns (the builds logged in the counter file, their outputs)."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    counter = tmp_path / "builds.txt"
    procs = [ctx.Process(target=worker, args=(str(tmp_path / "cache"), str(counter), barrier, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    assert [p.exitcode for p in procs] == [0, 0]
    return counter.read_text().splitlines(), [out.get(timeout=5) for _ in procs]


def test_two_spawned_processes_build_once(tmp_path: Path):
    builds, outputs = two_at_once(_worker, tmp_path, timeout=120)
    assert len(builds) == 1, "the artefact was built more than once"
    assert sorted(outputs) == [120.0, 120.0]
    path = artifact_path(tmp_path / "cache", "probe", KEY)
    assert torch.equal(torch.load(path)["w"], torch.arange(16.0).reshape(4, 4))
    assert not list(path.parent.glob("*.tmp"))
    # a third caller loads it; the build is not run again
    assert cached(tmp_path / "cache", "probe", KEY, lambda: pytest.fail("rebuilt"))["w"].sum() == 120


def test_failed_build_or_write_leaves_nothing(tmp_path: Path):
    def boom():
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError):
        cached(tmp_path, "probe", KEY, boom)
    with pytest.raises(Exception):  # noqa: B017 - a lambda cannot be pickled: the write fails
        cached(tmp_path, "probe", KEY, lambda: {"f": lambda: 0})
    assert not [p for p in (tmp_path / "probe").iterdir() if not p.name.endswith(".lock")]
    assert cached(tmp_path, "probe", KEY, lambda: {"v": 3}) == {"v": 3}
    assert cached(tmp_path, "probe", KEY, boom) == {"v": 3}


def test_each_call_gets_its_own_copy(tmp_path: Path):
    a = cached(tmp_path, "probe", KEY, lambda: torch.zeros(3))
    a += 1  # a cell fine-tuning its copy
    assert torch.equal(cached(tmp_path, "probe", KEY, lambda: None), torch.zeros(3))


def _reference_worker(cache_dir: str, counter: str, barrier, out) -> None:
    from bench.datasets import load_dataset
    from bench.metrics import feature_extractors as fx

    real_build = fx.build_reference

    def counting_build(*args, **kwargs):
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real_build(*args, **kwargs)

    fx.build_reference = counting_build  # load_reference looks it up at call time
    ds = load_dataset("digits")
    cfg = fx.ReferenceConfig(min_steps=40, max_steps=40)  # a short build; the cache logic is the real one
    barrier.wait(timeout=120)  # both start together, on an empty cache
    _, art = fx.load_reference(ds, Path(cache_dir), torch.device("cpu"), cfg)
    out.put((art["test_accuracy"], float(sum(v.float().sum() for v in art["state_dict"].values()))))


def test_two_workers_on_empty_cache_build_the_reference_extractor_once(tmp_path: Path):
    builds, (a, b) = two_at_once(_reference_worker, tmp_path, timeout=300)
    assert len(builds) == 1, "both workers trained the reference classifier"
    assert a == b, "the two workers got different reference classifiers"
    folder = tmp_path / "cache" / "reference-classifier"
    assert len(list(folder.glob("*.pt"))) == 1 and not list(folder.glob("*.tmp"))
