"""``gmm``: a Gaussian mixture per class in a PCA space, sampled and mapped back to pixels.

PCA (scikit-learn) is fitted on the whole k-shot set (all classes; at most N−1 components),
then each class gets a ``GaussianMixture`` with ``min(components, n_c)`` full-covariance
components. Tiny classes make the covariance singular, so it is regularised:
``reg_covar`` is relative — multiplied by the mean per-dimension variance of the PCA features —
so the same setting fits 8×8 and 28×28 images. Samples are drawn with numpy from the fitted
weights/means/covariances (seeded by the harness), mapped back with the inverse PCA, clipped to
[0, 255] and rounded.

shots = 1: scikit-learn needs two points to fit a mixture, so a class with one image gets one
Gaussian centred on it with the regularisation covariance ``reg_covar × mean variance × I``;
samples are that image plus isotropic noise in the PCA subspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from bench.errors import BenchError
from bench.method import Capabilities, FitData, GenerativeConfig, Method, register_method


@dataclass(frozen=True)
class GMMConfig(GenerativeConfig):
    pca_components: int = 32  # upper bound; also at most N−1 and the pixel count
    components: int = 3  # mixture components per class (at most the class's image count)
    reg_covar: float = 0.05  # added to the covariance diagonal, × the mean PCA-feature variance

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pca_components < 1 or self.components < 1:
            raise BenchError("gmm: pca_components and components must be >= 1")
        if self.reg_covar <= 0:
            raise BenchError(f"gmm: reg_covar must be > 0 (tiny classes need it), got {self.reg_covar}")


@register_method("gmm")
class GMM(Method):
    version = "1"
    Config = GMMConfig
    capabilities = Capabilities(generates=True)
    presets = {"tiny": {"pca_components": 8, "n_per_class": 10}, "quick": {"pca_components": 16},
               "standard": {"pca_components": 32}}

    def fit(self, data: FitData) -> None:
        cfg = self.config
        self.image_shape, self.num_classes = data.image_shape, data.num_classes
        x = data.x.flatten(1).double().numpy() / 255.0
        y = data.y.numpy()
        n_comp = max(1, min(cfg.pca_components, len(x) - 1, x.shape[1]))
        self.pca = PCA(n_components=n_comp, svd_solver="full").fit(x)
        f = self.pca.transform(x)
        reg = cfg.reg_covar * float(f.var(0).mean())
        self.reg_abs = reg
        self.mixtures: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.n_components: list[int] = []
        for c in range(data.num_classes):
            fc = f[y == c]
            if len(fc) == 0:
                raise BenchError(f"gmm: class {data.classes[c]!r} has no training image")
            if len(fc) == 1:  # scikit-learn needs >= 2 samples: one regularised Gaussian on the image
                self.mixtures.append((np.ones(1), fc.copy(), (reg * np.eye(n_comp))[None]))
                self.n_components.append(1)
                continue
            k = min(cfg.components, len(fc))
            gm = GaussianMixture(k, covariance_type="full", reg_covar=reg, random_state=self.ctx.seed % 2**32).fit(fc)
            self.mixtures.append((gm.weights_, gm.means_, gm.covariances_))
            self.n_components.append(k)

    def generate(self, n_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(self.ctx.seed + 1)
        feats = []
        for weights, means, covs in self.mixtures:
            comp = rng.choice(len(weights), size=n_per_class, p=weights / weights.sum())
            feats.append(np.stack([rng.multivariate_normal(means[j], covs[j], method="cholesky") for j in comp]))
        pix = self.pca.inverse_transform(np.concatenate(feats))
        x = torch.from_numpy(np.clip(np.rint(pix * 255.0), 0, 255).astype(np.uint8)).view(-1, *self.image_shape)
        y = torch.arange(self.num_classes).repeat_interleave(n_per_class)
        return x, y

    def details(self) -> dict[str, Any]:
        d = int(self.pca.n_components_)
        # fitted numbers: PCA basis and mean, then per mixture weights, means, full covariances
        fitted = self.pca.components_.size + self.pca.mean_.size + sum(
            k * (1 + d + d * (d + 1) // 2) for k in self.n_components)
        return {"pca_components": d, "trainable_params": int(fitted),
                "pca_explained_variance": round(float(self.pca.explained_variance_ratio_.sum()), 4),
                "components_per_class": self.n_components, "reg_covar_absolute": self.reg_abs,
                "shots_1": "one Gaussian per class on its single image, covariance reg_covar_absolute × I"}
