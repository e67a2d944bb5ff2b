"""Shared fixtures: tiny presets on the bundled digits, results in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.runner import RunOptions

torch.set_num_threads(1)  # tests are small; one thread keeps them fast and repeatable on 2 cores


@pytest.fixture(autouse=True)
def _one_worker_by_default(monkeypatch):
    """`bench run` without --workers uses every core; in tests that would spawn a process pool for
    each CLI call. Tests that exercise pools ask for them explicitly."""
    monkeypatch.setattr("bench.executors.default_workers", lambda threads, device_type="cpu", cores=None: 1)


@pytest.fixture
def options(tmp_path: Path) -> RunOptions:
    return RunOptions(data_root=tmp_path / "data", results_dir=tmp_path / "results", device=torch.device("cpu"))


@pytest.fixture(scope="session")
def digits():
    from bench.datasets import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def shared_options(tmp_path_factory) -> RunOptions:
    """Like ``options`` but with one data root (and artefact cache) for the whole session, so
    expensive shared artefacts (the digits reference classifier) are built once per test run."""
    root = tmp_path_factory.mktemp("shared")
    return RunOptions(data_root=root / "data", results_dir=root / "results", device=torch.device("cpu"))


def _fashion_mnist_installed() -> bool:
    from bench.datasets import _system_dirs

    return any((d / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file() for d in _system_dirs())


@pytest.fixture
def require_fashion_mnist():
    """Tests on 28×28 Fashion-MNIST itself (Debian's package; the digits target's transfer source,
    font-digits, needs none). CI installs it; without it these tests skip and say how to get it."""
    if not _fashion_mnist_installed():
        pytest.skip("needs Fashion-MNIST (28×28 images): apt-get install dataset-fashion-mnist")
