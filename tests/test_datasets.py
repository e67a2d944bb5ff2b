from __future__ import annotations

import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.datasets import DATASETS, _load_cached, load_dataset
from bench.errors import BenchError, DatasetNotFound

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def fresh_cache():
    _load_cached.cache_clear()
    yield
    _load_cached.cache_clear()


def write_idx_gz(folder: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Small but well-formed MNIST-format files (gzip IDX), 10 classes, 28×28."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        arrays[prefix] = (x, y)
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + x.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + y.tobytes())
    return arrays


def test_digits_split_and_hash():
    d = load_dataset("digits")
    assert d.train_x.shape == (1200, 1, 8, 8) and d.test_x.shape == (597, 1, 8, 8)
    assert d.train_x.dtype == torch.uint8 and int(d.train_x.max()) == 255
    assert d.num_classes == 10 and d.family == "handwriting"
    _load_cached.cache_clear()
    assert load_dataset("digits").hash == d.hash  # content hash is stable


def test_fashion_mnist_found_in_system_dir(tmp_path, monkeypatch):
    arrays = write_idx_gz(tmp_path / "system" / "fashion-mnist")
    monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", str(tmp_path / "system"))
    d = load_dataset("fashion-mnist", tmp_path / "root")
    assert d.train_x.shape == (40, 1, 28, 28) and d.test_x.shape == (20, 1, 28, 28)
    assert np.array_equal(d.train_x[:, 0].numpy(), arrays["train"][0])
    assert all((tmp_path / "root" / "FashionMNIST" / "raw" / f).is_file() for f in IDX_FILES)
    assert "system" in d.source and d.family == "fashion"
    assert d.classes[0] == "T-shirt/top" and d.classes[-1] == "Ankle boot"  # class names travel into records


def test_class_names_in_label_order(tmp_path):
    assert load_dataset("digits").classes == tuple("0123456789")
    assert load_dataset("digits[7-9]").classes == ("7", "8", "9")
    d = load_dataset(f"folder:{make_folder(tmp_path / 'f', classes=('zebra', 'ant', 'Moth'))}")
    assert d.classes == ("Moth", "ant", "zebra")  # ImageFolder order: sorted folder names, labels 0, 1, 2
    assert [d.classes[int(c)] for c in d.train_y[::3]] == ["Moth", "ant", "zebra"]


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", str(tmp_path / "nothing"))
    with pytest.raises(DatasetNotFound) as err:
        load_dataset("fashion-mnist", tmp_path / "root")
    msg = str(err.value)
    assert "\n" not in msg
    assert "fashion-mnist" in msg and str(tmp_path / "root") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "--download" in msg


def test_missing_mnist_suggests_download(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", "")
    with pytest.raises(DatasetNotFound, match=r"dataset 'mnist' not found .*--download"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "kmnist"])
def test_download_path_uses_torchvision(tmp_path, monkeypatch, name):
    """--download runs torchvision's own download code, here against a loopback server."""
    import torchvision.datasets as tvd

    served = tmp_path / "served"
    arrays = write_idx_gz(served, seed=1)
    cls = {"fashion-mnist": tvd.FashionMNIST, "mnist": tvd.MNIST, "kmnist": tvd.KMNIST}[name]
    md5 = {f: hashlib.md5((served / f"{f}.gz").read_bytes()).hexdigest() for f in IDX_FILES}
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(cls, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
        monkeypatch.setattr(cls, "resources", [(f"{f}.gz", md5[f]) for f in IDX_FILES])
        monkeypatch.setenv("AUGBENCH_SYSTEM_DATASETS", "")
        d = load_dataset(name, tmp_path / "root", download=True)
    finally:
        server.shutdown()
    assert np.array_equal(d.test_x[:, 0].numpy(), arrays["t10k"][0])
    assert d.name == name


def make_folder(root: Path, classes=("cat", "dog"), mode="L", size=(8, 8)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = size[::-1] + ((3,) if mode == "RGB" else ())
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / split / c / f"{i}.png")
    return root


def test_folder_dataset(tmp_path):
    d = load_dataset(f"folder:{make_folder(tmp_path / 'My Pets', mode='RGB')}")
    assert d.name == "folder-my-pets" and d.classes == ("cat", "dog")
    assert d.train_x.shape == (6, 3, 8, 8) and d.test_x.shape == (4, 3, 8, 8)
    assert d.family == "natural"
    assert load_dataset(f"folder:{make_folder(tmp_path / 'grey')}").train_x.shape == (6, 1, 8, 8)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFound, match="has no train/ folder"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")
    root = make_folder(tmp_path / "odd")
    make_folder(tmp_path / "odd", classes=("cat",), size=(9, 9))  # a second size in cat/
    with pytest.raises(BenchError, match="different sizes"):
        load_dataset(f"folder:{root}")


def test_unknown_dataset_suggests():
    with pytest.raises(BenchError, match=r"unknown dataset 'fashion_mnist'; did you mean 'fashion-mnist'"):
        load_dataset("fashion_mnist")
    assert "digits" in DATASETS.names()


def test_auto_source_is_the_same_rule_for_every_transfer_method(tmp_path):
    from bench.method import METHODS
    from bench.sources import resolve_source, source_field

    users = [m for m in METHODS.names() if source_field(METHODS.get(m))]
    assert users == ["finetune", "finetune-head", "transfer-gan"]
    folder = load_dataset(f"folder:{make_folder(tmp_path / 'pets')}")
    for m in users:
        cls = METHODS.get(m)
        assert resolve_source("auto", load_dataset("digits[5-9]"), cls.auto_sources, m) == "digits[0-4]"
        assert resolve_source("auto", load_dataset("digits[0-8]"), cls.auto_sources, m) == "font-digits"
        assert resolve_source("mnist", folder, cls.auto_sources, m) == "mnist"
        with pytest.raises(BenchError, match=rf"^{m} has no automatic transfer source for dataset 'folder-pets'.*--source"):
            resolve_source("auto", folder, cls.auto_sources, m)
