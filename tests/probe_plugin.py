"""Test-only method plugin for the executor tests. Not a test module: tests import it (and so
register ``probe-cached``) inside a fixture, and worker processes import it by module name."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from bench.method import Method, register_method

NAME = "probe-cached"


@dataclass(frozen=True)
class ProbeConfig:
    counter: str = ""  # file that gets one line per build of the shared artefact
    build_s: float = 0.0  # how long the build takes (widens the race between workers)
    fit_s: float = 0.0  # how long fit() takes after getting the artefact


@register_method(NAME)
class CachedProbe(Method):
    """Gets a shared artefact through the harness cache, like a reference extractor."""

    version = "1"
    Config = ProbeConfig

    def fit(self, data) -> None:
        def build() -> dict[str, torch.Tensor]:
            with open(self.config.counter, "a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(self.config.build_s)
            return {"w": torch.arange(8.0)}

        self.artefact = self.ctx.cached("probe-extractor", {"counter": self.config.counter}, build)
        time.sleep(self.config.fit_s)

    def details(self) -> dict:
        return {"artefact_sum": float(self.artefact["w"].sum())}
