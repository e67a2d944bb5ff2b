"""PeakMemory: the peak of each block, not of the process's whole life (workers run many cells)."""

from __future__ import annotations

import torch

from bench.environment import PeakMemory


def test_peak_is_per_block():
    with PeakMemory(torch.device("cpu")) as big:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del x
    with PeakMemory(torch.device("cpu")) as small:
        pass
    b, s = big.as_dict(), small.as_dict()
    assert b["peak_rss_mb"] - b["rss_start_mb"] > 60, b
    assert s["peak_rss_mb"] - s["rss_start_mb"] < 30, s  # the first block's peak does not leak in
    assert b["cuda_peak_mb"] is None
