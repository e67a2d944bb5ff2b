"""PeakMemory: the peak of each block, not of the process's whole life (workers run many cells)."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import torch

from bench.environment import PeakMemory


def _two_blocks() -> tuple[dict, dict]:
    with PeakMemory(torch.device("cpu")) as big:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del x
    with PeakMemory(torch.device("cpu")) as small:
        pass
    return big.as_dict(), small.as_dict()


def test_peak_is_per_block():
    # In a fresh interpreter: after the rest of the suite this process can hold freed, still
    # resident heap that the 64 MiB tensor reuses without raising RSS (seen once in CI: start = peak).
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        b, s = pool.submit(_two_blocks).result(timeout=120)
    assert b["peak_rss_mb"] - b["rss_start_mb"] > 60, b
    assert s["peak_rss_mb"] - s["rss_start_mb"] < 30, s  # the first block's peak does not leak in
    assert b["cuda_peak_mb"] is None
