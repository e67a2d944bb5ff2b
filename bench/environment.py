"""What a record says about where it was made: package versions, git commit, device, memory."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from bench.training import CLASSIFIER_MEMORY_FORMAT

PACKAGES = ("augbench", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "pandas", "pytorch-fid", "torchao")


def resolve_device(name: str) -> torch.device:
    from bench.errors import BenchError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda asked for, but torch sees no CUDA device; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise BenchError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


@functools.lru_cache(maxsize=1)
def _static_environment() -> dict[str, Any]:
    pkgs = {}
    for p in PACKAGES:
        try:
            pkgs[p] = version(p)
        except PackageNotFoundError:
            pkgs[p] = None
    commit, dirty = git_state(Path(__file__).resolve().parent.parent)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
        "packages": pkgs,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def environment(device: torch.device, threads: int | None = None) -> dict[str, Any]:
    env = dict(_static_environment())
    env["device"] = str(device)
    env["device_name"] = torch.cuda.get_device_name(device) if device.type == "cuda" else env["cpu_model"]
    env["threads"] = threads if threads is not None else torch.get_num_threads()
    env["classifier_memory_format"] = str(CLASSIFIER_MEMORY_FORMAT).removeprefix("torch.")
    env["argv"] = sys.argv[1:]
    return env


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows: CPU timings
    differ several-fold between hosts of one cloud machine type, so records name the CPU."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return f"{value.strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(repo: Path) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5)
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class PeakMemory:
    """Peak resident memory of this process during a block, plus the CUDA allocator's peak when on
    a GPU. On Linux the kernel's own high-water mark (VmHWM, reset on entry through
    /proc/self/clear_refs) gives the exact peak at no cost; elsewhere a thread samples RSS every
    20 ms (a sampler costs the training loop measurable time on a busy machine: GIL hand-offs)."""

    def __init__(self, device: torch.device, interval: float = 0.02) -> None:
        self.device, self.interval = device, interval
        self.start = self.peak = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hwm = False

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _rss_mb()
            if rss is not None and (self.peak is None or rss > self.peak):
                self.peak = rss

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = _rss_mb()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._hwm = _reset_hwm() and _hwm_mb() is not None
        if not self._hwm:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._hwm:
            self.peak = _hwm_mb()
        else:
            self._stop.set()
            self._thread.join()
        rss = _rss_mb()
        if rss is not None and (self.peak is None or rss > self.peak):
            self.peak = rss

    def as_dict(self) -> dict[str, float | None]:
        cuda = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        r = lambda v: None if v is None else round(v, 1)  # noqa: E731
        return {"peak_rss_mb": r(self.peak), "rss_start_mb": r(self.start), "cuda_peak_mb": r(cuda)}
