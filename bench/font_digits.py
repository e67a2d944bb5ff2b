"""``font-digits``: digits 0-9 rendered from the fonts that matplotlib ships, randomly distorted.

A synthetic-to-real transfer source that needs nothing beyond the Python dependencies: the quick
suite's transfer rows (``finetune``, ``finetune-head``, ``transfer-gan``) pretrain on it when the
target is ``digits``, so ``pip install … && bench run`` runs every method offline with no Debian
package. It is *printed* digits, not handwriting: a real domain gap (synthetic → real), labelled
as such in every record (``dataset.source``, ``details.source``).

How an image is made (:func:`render`): one of the 21 text fonts in ``matplotlib/mpl-data/fonts/ttf``
(DejaVu Sans / Sans Mono / Serif, STIX General, Computer Modern; each in its bundled weights and
slants; symbol, display-only and old-style-figure fonts are left out), a random stroke width, a
random affine map (rotation ±12°, shear ±0.3, independent x/y scale 0.8-1.15), a random blur; then
MNIST's normalisation: the glyph's bounding box scaled to fit 22×22 px, centred by its centre of
mass in 28×28, white on black. Every font draws every digit equally often in both splits. The
train split (600 per class) and the test split (100 per class) are different random draws of the
same fonts.

Reproducible: one fixed seed per split (numpy's PCG64), so the same matplotlib fonts and Pillow
(FreeType) version give the same bytes; the images are cached in ``<data root>/font-digits/`` and
the record's dataset hash names exactly what was used (a different Pillow or matplotlib may
rasterise differently: the hash, not the name, is the identity).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

#: bump when the rendering changes (part of the cache file name; the dataset hash changes anyway)
GENERATOR_VERSION = 1
N_TRAIN_PER_CLASS = 600
N_TEST_PER_CLASS = 100
SIZE = 28  # MNIST's side, so it serves 28×28 targets as they are and is resized for others
BOX = 22  # the glyph's bounding box is scaled to fit BOX×BOX (MNIST: 20)
SPLIT_SEEDS = {"train": 20261205, "test": 20261206}

#: matplotlib's text fonts with lining figures 0-9 (file names in mpl-data/fonts/ttf)
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf",
)


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_paths() -> list[Path]:
    """The fonts used, in a fixed order; a font this matplotlib lacks is left out (the hash says so)."""
    d = font_dir()
    return [d / f for f in FONT_FILES if (d / f).is_file()]


def _glyph(font, digit: int, stroke: int):
    """The digit drawn white on black, large (about 64 px), cropped to its ink."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(canvas).text((64, 64), str(digit), fill=255, font=font, anchor="mm",
                                stroke_width=stroke, stroke_fill=255)
    return canvas


def render(font, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One distorted digit: uint8 SIZE×SIZE (white on black)."""
    from PIL import Image, ImageFilter

    stroke = int(rng.integers(0, 4))
    img = _glyph(font, digit, stroke)
    angle = np.deg2rad(rng.uniform(-12, 12))
    shear = rng.uniform(-0.3, 0.3)
    sx, sy = rng.uniform(0.8, 1.15, size=2)
    # forward map A = R · Sh · S about the canvas centre; PIL wants the inverse (output -> input)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    inv = np.linalg.inv(a)
    c = np.array([64.0, 64.0])
    off = c - inv @ c
    img = img.transform(img.size, Image.AFFINE, (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1]),
                        resample=Image.BILINEAR)
    blur = rng.uniform(0.0, 1.5)
    if blur > 0.3:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    box = img.getbbox()
    if box is None:  # cannot happen for a real glyph; an empty font would give an empty image
        return np.zeros((SIZE, SIZE), np.uint8)
    img = img.crop(box)
    w, h = img.size
    scale = BOX / max(w, h)
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    g = np.asarray(img, dtype=np.float64)
    ys, xs = np.indices(g.shape)
    mass = g.sum()
    cy, cx = (ys * g).sum() / mass, (xs * g).sum() / mass
    out = Image.new("L", (SIZE, SIZE), 0)
    out.paste(img, (int(round(SIZE / 2 - cx)), int(round(SIZE / 2 - cy))))
    return np.asarray(out, dtype=np.uint8)


def make_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N×SIZE×SIZE uint8, labels N int64) of one split; every font draws every digit
    equally often (the remainder of per-class count / fonts goes to the first fonts)."""
    from PIL import ImageFont

    per_class = N_TRAIN_PER_CLASS if split == "train" else N_TEST_PER_CLASS
    fonts = [ImageFont.truetype(str(p), 64) for p in font_paths()]
    if not fonts:
        raise RuntimeError(f"font-digits: no fonts found in {font_dir()} (is matplotlib installed?)")
    rng = np.random.default_rng(SPLIT_SEEDS[split])
    xs, ys = [], []
    for i in range(per_class):
        font = fonts[i % len(fonts)]
        for digit in range(10):
            xs.append(render(font, digit, rng))
            ys.append(digit)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def fonts_fingerprint() -> str:
    """sha256 over the font files used and Pillow's FreeType version (16 hex digits): the cache key."""
    import PIL
    from PIL import features

    h = hashlib.sha256(f"v{GENERATOR_VERSION} pillow {PIL.__version__} freetype {features.version('freetype2')}".encode())
    for p in font_paths():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


_RENDERED: dict[str, dict[str, np.ndarray]] = {}  # this process's renders, by fingerprint


def load_arrays(root: Path) -> tuple[dict[str, np.ndarray], str]:
    """The two splits, from the cache in ``root/font-digits/``, else rendered (seconds, announced
    on stderr) under a file lock and cached atomically; returns (arrays, where they came from).
    A data root that cannot be written is no error: the images are rendered again next time."""
    import matplotlib
    import PIL
    from filelock import FileLock

    from bench.cache import BUILDS, say
    from bench.errors import WriteError
    from bench.store import atomic_write

    key = fonts_fingerprint()
    cache = Path(root) / "font-digits" / f"font-digits-v{GENERATOR_VERSION}-{key}.npz"
    what = (f"rendered by augbench (bench/font_digits.py v{GENERATOR_VERSION}) from {len(font_paths())} fonts of "
            f"matplotlib {matplotlib.__version__} with Pillow {PIL.__version__}; synthetic printed digits")

    def read() -> dict[str, np.ndarray]:
        with np.load(cache) as f:
            return {k: f[k] for k in f.files}

    if cache.is_file():
        return read(), f"{what} (cached in {cache})"
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(cache) + ".lock")
    except OSError:
        lock = None
    with lock if lock is not None else contextlib.nullcontext():
        if cache.is_file():  # another worker rendered it meanwhile
            return read(), f"{what} (cached in {cache})"
        if key not in _RENDERED:
            say(f"rendering font-digits, {10 * (N_TRAIN_PER_CLASS + N_TEST_PER_CLASS):,} images (one time, "
                f"cached in {cache.parent})")
            t0 = time.perf_counter()
            arrays = {}
            for split in ("train", "test"):
                arrays[f"{split}_x"], arrays[f"{split}_y"] = make_split(split)
            _RENDERED[key] = arrays
            BUILDS.append({"kind": "font-digits", "what": "the font-digits images", "path": str(cache),
                           "seconds": round(time.perf_counter() - t0, 2)})
        arrays = _RENDERED[key]
        try:
            atomic_write(cache, lambda tmp: _save_npz(tmp, arrays))
        except WriteError:
            return arrays, what
    return arrays, f"{what} (cached in {cache})"


def _save_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as fh:  # a file object: numpy would append .npz to a path
        np.savez_compressed(fh, **arrays)


def as_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    out = {}
    for split in ("train", "test"):
        out[f"{split}_x"] = torch.from_numpy(arrays[f"{split}_x"]).unsqueeze(1).contiguous()
        out[f"{split}_y"] = torch.from_numpy(arrays[f"{split}_y"]).long()
    return out
