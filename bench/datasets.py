"""Datasets: each loader returns an :class:`ImageDataset` of uint8 N×C×H×W tensors.

Built-ins: ``digits`` (scikit-learn's bundled 8×8 digits, no network), ``font-digits`` (digits
rendered from matplotlib's bundled fonts, distorted: a synthetic source made offline), ``fashion-mnist`` (data
root, else Debian's ``dataset-fashion-mnist`` files, else ``--download``), ``mnist``, ``kmnist``,
``cifar10`` (data root or ``--download``) and ``folder:PATH`` (a user's own ImageFolder tree).
Any of them restricted to some of its classes is written ``NAME[5-9]`` or ``NAME[0,2,4]``
(:func:`class_subset`): labels are renumbered, both splits keep only those classes, and transfer
methods take the other classes of the same dataset as their offline source.
A missing dataset raises :class:`~bench.errors.DatasetNotFound` with one line that says where we
looked and the command that gets it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError, DatasetNotFound
from bench.registry import Registry

DATASETS: Registry = Registry("dataset")

#: Folders searched for system-wide copies (Debian's dataset-* packages); ``os.pathsep``-separated
#: override in ``AUGBENCH_SYSTEM_DATASETS``.
SYSTEM_DATASET_DIRS = ("/usr/share/datasets",)

FAMILIES = ("handwriting", "fashion", "natural", "generic")


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled image dataset with an official train/test split."""

    name: str
    train_x: torch.Tensor  # uint8, N×C×H×W
    train_y: torch.Tensor  # int64, N
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    family: str  # which label-preserving augmentations are safe; one of FAMILIES
    source: str  # where the files came from, for the record
    hash: str = field(default="")
    # a class subset (``NAME[5-9]``): the full dataset's spec, the kept class indices in it and
    # its number of classes
    parent: str = ""
    class_ids: tuple[int, ...] = ()
    parent_num_classes: int = 0

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != torch.uint8 or x.ndim != 4:
                raise ValueError(f"{self.name} {split} images must be uint8 N×C×H×W, got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"{self.name} {split} labels must be int64 of length {x.shape[0]}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"{self.name}: train and test image shapes differ")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: family must be one of {FAMILIES}")
        if not self.hash:
            object.__setattr__(self, "hash", content_hash(self))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.train_y.numpy(), minlength=self.num_classes)


def content_hash(ds: ImageDataset) -> str:
    """sha256 over images, labels and class names of both splits (16 hex digits)."""
    h = hashlib.sha256()
    for t in (ds.train_x, ds.train_y, ds.test_x, ds.test_y):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    h.update("\0".join(ds.classes).encode())
    return h.hexdigest()[:16]


def load_dataset(spec: str, root: str | os.PathLike = "datasets", download: bool = False) -> ImageDataset:
    """Load a dataset by registry name, ``folder:PATH`` or ``SPEC[classes]`` (cached per process)."""
    return _load_cached(spec, str(Path(root).resolve()), bool(download))


def dataset_names() -> list[str]:
    return DATASETS.names() + ["folder:PATH", "NAME[5-9]"]


@functools.lru_cache(maxsize=8)
def _load_cached(spec: str, root: str, download: bool) -> ImageDataset:
    subset = SUBSET_RE.match(spec)
    if subset:
        base = _load_cached(subset["base"], root, download)
        return class_subset(base, parse_classes(subset["sel"], base.num_classes, spec), subset["base"])
    if spec.startswith("folder:"):
        return _load_folder(Path(spec.split(":", 1)[1]).expanduser())
    loader = DATASETS.get(spec)
    return loader(Path(root), download)


# --- class subsets: NAME[5-9], NAME[0,2,4] -------------------------------------------------------

SUBSET_RE = re.compile(r"^(?P<base>.+)\[(?P<sel>[^\[\]]*)\]$")


def parse_classes(sel: str, num_classes: int, spec: str) -> tuple[int, ...]:
    """``"5-9"`` / ``"0,2,4"`` / ``"0-2,7"`` -> sorted class indices, each in [0, num_classes)."""
    ids: set[int] = set()
    for part in (p.strip() for p in sel.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise BenchError(f"dataset {spec!r}: bad class list {sel!r}; write class indices and ranges, "
                             "e.g. fashion-mnist[5-9] or fashion-mnist[0,2,4]")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if lo > hi:
            raise BenchError(f"dataset {spec!r}: the range {part!r} runs backwards; write it low-high, "
                             f"e.g. {spec.split('[')[0]}[{hi}-{lo}]")
        if hi >= num_classes:
            raise BenchError(f"dataset {spec!r}: classes must be in 0-{num_classes - 1}, got {part!r}")
        ids.update(range(lo, hi + 1))
    if len(ids) < 2:
        raise BenchError(f"dataset {spec!r}: a class subset needs at least 2 classes, got {sorted(ids)}")
    return tuple(sorted(ids))


def format_classes(ids: tuple[int, ...]) -> str:
    """Sorted indices -> the shortest spec text: (5, 6, 7, 8, 9) -> "5-9"; (0, 2, 3, 4) -> "0,2-4"."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def class_subset(ds: ImageDataset, ids: tuple[int, ...], spec: str) -> ImageDataset:
    """``ds`` (loaded from ``spec``) restricted to its classes ``ids``, labels renumbered
    0..len(ids)-1 in both splits. A subset of a subset is recorded against the full dataset."""
    remap = torch.full((ds.num_classes,), -1, dtype=torch.int64)
    remap[list(ids)] = torch.arange(len(ids))

    def keep(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = remap[y] >= 0
        return x[mask].contiguous(), remap[y[mask]]

    (trx, try_), (tex, tey) = keep(ds.train_x, ds.train_y), keep(ds.test_x, ds.test_y)
    if ds.parent:  # flatten: indices into the full dataset
        root, root_ids, n_root = ds.parent, tuple(ds.class_ids[i] for i in ids), ds.parent_num_classes
        root_name = ds.name.rsplit("-c", 1)[0]
    else:
        root, root_ids, n_root, root_name = spec, ids, ds.num_classes, ds.name
    text = format_classes(root_ids)
    return ImageDataset(
        name=f"{root_name}-c{text.replace(',', '_')}", train_x=trx, train_y=try_, test_x=tex, test_y=tey,
        classes=tuple(ds.classes[i] for i in ids), family=ds.family,
        source=f"{ds.source}, classes {text} of {root}",
        parent=root, class_ids=root_ids, parent_num_classes=n_root,
    )


def complement_spec(ds: ImageDataset) -> str | None:
    """For a class subset, the spec of the same dataset's other classes (None otherwise)."""
    if not ds.parent:
        return None
    rest = tuple(i for i in range(ds.parent_num_classes) if i not in ds.class_ids)
    return f"{ds.parent}[{format_classes(rest)}]" if len(rest) >= 2 else None


# --- digits ------------------------------------------------------------------------------------

DIGITS_N_TRAIN = 1200


@DATASETS.register("digits")
def load_digits(root: Path, download: bool) -> ImageDataset:
    """scikit-learn's 1,797 handwritten 8×8 digits (offline: ships with scikit-learn).

    Values 0-16, rescaled to 0-255.

    Fixed split: the first 1,200 images in file order are train, the last 597 test. No shuffle,
    so the split does not depend on any library's random number generator.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    x = torch.from_numpy(np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8))
    x = x.unsqueeze(1)
    y = torch.from_numpy(d.target.astype(np.int64))
    n = DIGITS_N_TRAIN
    return ImageDataset(
        name="digits",
        train_x=x[:n], train_y=y[:n], test_x=x[n:], test_y=y[n:],
        classes=tuple(str(i) for i in range(10)),
        family="handwriting",
        source="sklearn.datasets.load_digits",
    )


@DATASETS.register("font-digits")
def load_font_digits(root: Path, download: bool) -> ImageDataset:
    """Printed digits rendered from matplotlib's fonts, distorted (28×28; offline: made by augbench).

    6,000 train / 1,000 test, a synthetic source that ships with the Python dependencies
    (:mod:`bench.font_digits`); made on first use in seconds and cached in ``<root>/font-digits/``."""
    from bench.font_digits import as_tensors, load_arrays

    arrays, what = load_arrays(Path(root))
    t = as_tensors(arrays)
    return ImageDataset(
        name="font-digits", train_x=t["train_x"], train_y=t["train_y"], test_x=t["test_x"], test_y=t["test_y"],
        classes=tuple(str(i) for i in range(10)), family="handwriting", source=what,
    )


# --- torchvision IDX datasets ------------------------------------------------------------------

def _system_dirs() -> list[Path]:
    env = os.environ.get("AUGBENCH_SYSTEM_DATASETS")
    dirs = env.split(os.pathsep) if env is not None else list(SYSTEM_DATASET_DIRS)
    return [Path(d) for d in dirs if d]


def _install_system_copy(name: str, folder: str, raw_dir: Path) -> Path | None:
    """Gunzip Debian's ``/usr/share/datasets/<name>/*.gz`` into ``raw_dir``; return the source."""
    needed = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for base in _system_dirs():
        src = base / name
        if all((src / f"{f}.gz").is_file() for f in needed):
            raw_dir.mkdir(parents=True, exist_ok=True)
            for f in needed:
                tmp = raw_dir / f".{f}.tmp"
                with gzip.open(src / f"{f}.gz", "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
                os.replace(tmp, raw_dir / f)
            return src
    return None


def _torchvision_idx(name: str, cls_name: str, family: str, system_name: str | None):
    def loader(root: Path, download: bool) -> ImageDataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        raw_dir = root / cls_name / "raw"
        source = str(raw_dir)
        if not download and not _idx_present(raw_dir):
            found = _install_system_copy(system_name, cls_name, raw_dir) if system_name else None
            if found is None:
                looked = [str(raw_dir)] + [str(d / system_name) for d in _system_dirs()] if system_name else [str(raw_dir)]
                how = ("with `apt-get install dataset-fashion-mnist` (offline) or by rerunning with --download"
                       if system_name == "fashion-mnist" else "by rerunning with --download (needs internet)")
                raise DatasetNotFound(f"dataset {name!r} not found (looked in {', '.join(looked)}); get it {how}")
            source = f"{found} (unpacked into {raw_dir})"
        try:
            train = cls(str(root), train=True, download=download)
            test = cls(str(root), train=False, download=download)
        except RuntimeError as exc:
            raise DatasetNotFound(f"dataset {name!r} could not be loaded from {raw_dir}: {exc}; rerun with --download") from None
        return ImageDataset(
            name=name,
            train_x=train.data.unsqueeze(1).contiguous(), train_y=train.targets.long(),
            test_x=test.data.unsqueeze(1).contiguous(), test_y=test.targets.long(),
            classes=tuple(train.classes), family=family, source=source,
        )

    loader.__name__ = f"load_{name.replace('-', '_')}"
    where = "<root>, Debian's dataset-fashion-mnist, or --download" if system_name == "fashion-mnist" else "<root> or --download"
    loader.__doc__ = f"torchvision.datasets.{cls_name} (28×28; from {where})."
    DATASETS.register(name)(loader)
    return loader


def _idx_present(raw_dir: Path) -> bool:
    return all((raw_dir / f).is_file() for f in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


_torchvision_idx("fashion-mnist", "FashionMNIST", "fashion", system_name="fashion-mnist")
_torchvision_idx("mnist", "MNIST", "handwriting", system_name="mnist")
_torchvision_idx("kmnist", "KMNIST", "handwriting", system_name=None)


@DATASETS.register("cifar10")
def load_cifar10(root: Path, download: bool) -> ImageDataset:
    """torchvision.datasets.CIFAR10 (32×32 colour; from <root>/cifar-10-batches-py or --download)."""
    import torchvision.datasets as tvd

    try:
        train = tvd.CIFAR10(str(root), train=True, download=download)
        test = tvd.CIFAR10(str(root), train=False, download=download)
    except RuntimeError:
        raise DatasetNotFound(
            f"dataset 'cifar10' not found (looked in {root / 'cifar-10-batches-py'}); "
            "get it with --download (needs internet)"
        ) from None

    def conv(split):
        return torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(split.targets, dtype=torch.int64)

    (trx, try_), (tex, tey) = conv(train), conv(test)
    return ImageDataset("cifar10", trx, try_, tex, tey, tuple(train.classes), "natural", str(root / "cifar-10-batches-py"))


# --- folder:PATH ---------------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _check_class_dirs(path: Path, split: str) -> None:
    """At least two class folders in ``PATH/split``, none without images: one line naming the culprit."""
    classes = sorted(d for d in (path / split).iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise BenchError(f"dataset folder:{path}: {split}/ has {len(classes)} class folder(s)"
                         f"{' (' + classes[0].name + ')' if classes else ''}; a classification benchmark needs at "
                         f"least 2: put each class's images in its own folder {path}/{split}/<class>/")
    for d in classes:
        if not any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir() if f.is_file()):
            raise BenchError(f"dataset folder:{path}: class folder {d} has no images ({', '.join(IMAGE_SUFFIXES[:3])}, "
                             "…); add images to it or remove the folder (every class needs train and test images)")


def _open_image(p: str, load: bool = False):
    """``PIL.Image.open(p)`` (fully decoded with ``load``); a file PIL cannot read is one line naming it."""
    import struct

    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(p)
        if load:
            img.load()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise BenchError(f"dataset folder: cannot read image {p} ({type(exc).__name__}: {exc}); "
                         "delete or re-export it (is it truncated or not an image?)") from None


def _load_folder(path: Path) -> ImageDataset:
    """A user's ImageFolder tree: ``PATH/train/<class>/*.png`` and ``PATH/test/<class>/*.png``."""
    from torchvision.datasets import ImageFolder
    from torchvision.transforms.v2.functional import pil_to_tensor

    for split in ("train", "test"):
        if not (path / split).is_dir():
            raise DatasetNotFound(
                f"dataset folder:{path} has no {split}/ folder; expected {path}/train/<class>/*.png "
                f"and {path}/test/<class>/*.png"
            )
    splits = {}
    for split in ("train", "test"):
        _check_class_dirs(path, split)
        try:
            f = ImageFolder(str(path / split))
        except (FileNotFoundError, RuntimeError) as exc:
            raise DatasetNotFound(f"dataset folder:{path}: {exc}") from None
        splits[split] = f
    if splits["train"].classes != splits["test"].classes:
        raise BenchError(f"dataset folder:{path}: train classes {splits['train'].classes} differ from test classes {splits['test'].classes}")
    modes = {_open_image(p).mode for f in splits.values() for p, _ in f.samples}
    mode = "L" if modes <= {"L", "1"} else "RGB"
    out = {}
    for split, f in splits.items():
        xs = [pil_to_tensor(_open_image(p, load=True).convert(mode)) for p, _ in f.samples]
        shapes = {tuple(x.shape) for x in xs}
        if len(shapes) != 1:
            raise BenchError(f"dataset folder:{path}: images of different sizes {sorted(shapes)[:3]}; resize them to one size first")
        out[split] = (torch.stack(xs), torch.tensor([c for _, c in f.samples], dtype=torch.int64))
    if out["train"][0].shape[1:] != out["test"][0].shape[1:]:
        raise BenchError(f"dataset folder:{path}: train and test image sizes differ")
    return ImageDataset(
        name="folder-" + (re.sub(r"[^a-z0-9_.-]+", "-", path.resolve().name.lower()).strip("-.") or "root"),
        train_x=out["train"][0], train_y=out["train"][1], test_x=out["test"][0], test_y=out["test"][1],
        classes=tuple(splits["train"].classes),
        family="natural" if mode == "RGB" else "generic",
        source=str(path.resolve()),
    )
