"""Test-only method plugin for the fault-injection tests (tests/test_faults.py). Not a test module:
the tests run ``bench`` in subprocesses that import it (workers import it by module name).

``fault-probe`` appends one line per computed cell (``pid shots seed``) to ``log`` when its fit
starts, then sleeps ``fit_s``: the log says which cells were computed, how often and by whom."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench.method import Method, register_method

NAME = "fault-probe"


@dataclass(frozen=True)
class FaultProbeConfig:
    log: str = ""
    fit_s: float = 0.0


@register_method(NAME)
class FaultProbe(Method):
    version = "1"
    Config = FaultProbeConfig

    def fit(self, data) -> None:
        with open(self.config.log, "a") as f:
            f.write(f"{os.getpid()} {int(data.y.numel()) // data.num_classes} {self.ctx.seed}\n")
        time.sleep(self.config.fit_s)
