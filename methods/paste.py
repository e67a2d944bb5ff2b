"""``paste``: copy the object of another labelled image onto each image, mix labels by ink share.

The "random paste" transform of the founding design, in the copy-paste style (Ghiasi et al.
2021, here with masks estimated from the image instead of annotated). Per classifier batch (the
harness's ``augment_labelled`` hook), a random permutation π pairs every image i with a partner
j = π(i) (π(i) = i pastes a copy of the image's own object: label unchanged); each image
independently, with probability ``prob``:

1. **Background and foreground.** For every image, the background colour is the per-channel
   median of its one-pixel border; a pixel is *foreground* ("ink") when any channel differs from
   that colour by more than ``threshold``·255.
2. **Object crop.** The partner's object is the bounding box of its foreground; the crop keeps
   its pixels and its foreground mask. A partner with no foreground pastes nothing.
3. **Scale.** s ~ U(``scale_min``, ``scale_max``), capped so the crop fits the image; the crop
   and its mask are resized to ``nh × nw = max(1, round(s·h)) × max(1, round(s·w))`` by nearest
   neighbour (output row i takes source row ⌊i·h/nh⌋; pixel values are copied, never interpolated).
4. **Paste.** At a uniformly drawn position where the crop fits, only the crop's *foreground*
   pixels overwrite the image (its background stays the image's own), uint8 exactly.
5. **Label.** With P = pasted foreground pixels and O = the image's own foreground pixels still
   visible (not covered by pasted ones), the target is ``(O·onehot(yᵢ) + P·onehot(yⱼ)) / (O + P)``
   — each class weighted by its share of the visible ink. P = 0 leaves image and label unchanged;
   O = 0 gives the partner's label.

Randomness: a NumPy ``Generator`` seeded with the cell's method seed (``ctx.seed``) draws π, the
coins, scales and positions, batch after batch. ``details()`` records how many images got a paste
and the mean pasted ink share.

Settings (no paper value exists for this variant; chosen a priori, not tuned): ``prob`` 0.5 (half
the images stay clean, as cutmix's CIFAR setting), scale 0.5–1.0 (the object stays recognisable
on 8×8 digits), ``threshold`` 0.2 (digits and Fashion-MNIST have black backgrounds; 0.2 ignores
faint noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.method import FitData, Method, register_method


@dataclass(frozen=True)
class PasteConfig:
    prob: float = 0.5  # share of images that get a pasted object
    scale_min: float = 0.5  # the crop's sides are scaled by s ~ U(scale_min, scale_max)
    scale_max: float = 1.0
    threshold: float = 0.2  # foreground: a channel differs from the border colour by > threshold·255

    def __post_init__(self) -> None:
        if not 0.0 <= self.prob <= 1.0:
            raise BenchError(f"paste: prob must be in [0, 1], got {self.prob}")
        if not 0.0 < self.threshold < 1.0:
            raise BenchError(f"paste: threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 < self.scale_min <= self.scale_max:
            raise BenchError(f"paste: need 0 < scale_min <= scale_max, got scale_min={self.scale_min}, "
                             f"scale_max={self.scale_max}")


def foreground(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Bool B×H×W: pixels whose colour differs from the per-channel median of the image's border
    by more than ``threshold``·255 in any channel."""
    xf = x.float()
    border = torch.cat([xf[:, :, 0, :], xf[:, :, -1, :], xf[:, :, 1:-1, 0], xf[:, :, 1:-1, -1]], dim=2)
    bg = border.median(dim=2).values  # B×C
    return (xf - bg[:, :, None, None]).abs().amax(dim=1) > threshold * 255.0


def paste_object(dst: np.ndarray, dst_fg: np.ndarray, src: np.ndarray, src_fg: np.ndarray,
                 scale: float, pos: tuple[float, float]) -> tuple[np.ndarray, int, int]:
    """Paste ``src``'s object onto ``dst`` (C×H×W uint8 arrays, H×W bool foregrounds):
    (new image, pasted ink P, own visible ink O). ``pos`` in [0, 1)² picks the top-left corner
    among the positions where the scaled crop fits. NumPy, because per-image work on tiny arrays
    is several times faster there than in torch."""
    rows, cols = np.flatnonzero(src_fg.any(1)), np.flatnonzero(src_fg.any(0))
    if len(rows) == 0:
        return dst, 0, int(dst_fg.sum())
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = dst.shape[1:]
    s = min(scale, h / (r1 - r0), w / (c1 - c0))
    nh, nw = max(1, min(h, round(s * (r1 - r0)))), max(1, min(w, round(s * (c1 - c0))))
    ri = r0 + np.arange(nh) * (r1 - r0) // nh  # nearest neighbour: source row ⌊i·h/nh⌋
    ci = c0 + np.arange(nw) * (c1 - c0) // nw
    crop, mask = src[:, ri][:, :, ci], src_fg[ri][:, ci]
    top, left = int(pos[0] * (h - nh + 1)), int(pos[1] * (w - nw + 1))
    out = dst.copy()
    region = out[:, top:top + nh, left:left + nw]
    region[:, mask] = crop[:, mask]
    own = dst_fg.copy()
    own[top:top + nh, left:left + nw] &= ~mask
    return out, int(mask.sum()), int(own.sum())


@register_method("paste")
class Paste(Method):
    version = "1"
    Config = PasteConfig
    presets = {"tiny": {"prob": 1.0}, "quick": {}, "standard": {}}

    def fit(self, data: FitData) -> None:
        self.rng = np.random.default_rng(self.ctx.seed)
        self.stats = {"images": 0, "pasted_images": 0, "pasted_share_sum": 0.0}

    def augment_labelled(self, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, rng = self.config, self.rng
        n = len(x)
        perm = rng.permutation(n)
        coins = rng.random(n)
        scales = rng.uniform(cfg.scale_min, cfg.scale_max, n)
        pos = rng.random((n, 2))
        fg = foreground(x, cfg.threshold).numpy()
        xs = x.numpy()
        out, share = xs.copy(), np.zeros(n)
        for i in np.flatnonzero(coins < cfg.prob):
            j = int(perm[i])
            img, pasted, own = paste_object(xs[i], fg[i], xs[j], fg[j], float(scales[i]), (pos[i, 0], pos[i, 1]))
            if pasted > 0:
                out[i], share[i] = img, pasted / (pasted + own)
        onehot = F.one_hot(y, num_classes).double()
        w = torch.from_numpy(share)[:, None]
        targets = ((1.0 - w) * onehot + w * onehot[torch.from_numpy(perm)]).float()
        self.stats["images"] += n
        self.stats["pasted_images"] += int((share > 0).sum())
        self.stats["pasted_share_sum"] += float(share.sum())
        return torch.from_numpy(out), targets

    def details(self) -> dict:
        s = self.stats
        return {"images": s["images"], "pasted_images": s["pasted_images"],
                "mean_pasted_share": round(s["pasted_share_sum"] / s["pasted_images"], 4) if s["pasted_images"] else None}
