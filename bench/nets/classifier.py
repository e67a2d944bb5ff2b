"""The downstream classifier (:class:`SmallCNN`) and the networks built around it: the mirror of
its trunk (:class:`TrunkDecoder`, the decoder of ``ae-pretrain``) and the all-Linear distillation
student of ``distill-quant`` (:class:`MLPStudent`).

The classifier exposes ``features`` (the trunk, image -> ``feature_dim`` vector) and ``head`` so
pretraining methods can initialise the trunk and fine-tuning methods can freeze it.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.nets.layers import n_downsamples


class SmallCNN(nn.Module):
    """The fixed downstream classifier: conv blocks (conv, optional BatchNorm, ReLU, max-pool), then a
    128-d feature vector and a linear head."""

    feature_dim = 128

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32, dropout: float = 0.3,
                 norm: str = "none") -> None:
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = []
        ch, size = c, min(h, w)
        for i in range(n_downsamples(size)):
            out = width * 2**i
            layers += [nn.Conv2d(ch, out, 3, padding=1), *([nn.BatchNorm2d(out)] if norm == "batch" else []),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            ch = out
            h, w = h // 2, w // 2
        layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(ch * h * w, self.feature_dim), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TrunkDecoder(nn.Module):
    """Mirror of :class:`SmallCNN`'s trunk: ``feature_dim`` vector -> image in [-1, 1].

    Paired with ``SmallCNN.features`` it makes the autoencoder of ``ae-pretrain``, so the encoder
    it pretrains is exactly the downstream classifier's trunk.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int = 32, feature_dim: int = SmallCNN.feature_dim) -> None:
        super().__init__()
        c, h, w = image_shape
        n = n_downsamples(min(h, w))
        ch = width * 2 ** (n - 1)
        self.start = (ch, h // 2**n, w // 2**n)
        self.fc = nn.Sequential(nn.Linear(feature_dim, ch * self.start[1] * self.start[2]), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for i in reversed(range(n)):
            out = c if i == 0 else width * 2 ** (i - 1)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, out, 3, padding=1)]
            if i > 0:
                layers.append(nn.ReLU(inplace=True))
            ch = out
        self.body = nn.Sequential(*layers)
        self.image_shape = (c, h, w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.body(self.fc(z).view(-1, *self.start))
        if tuple(x.shape[2:]) != self.image_shape[1:]:  # odd sides (e.g. 28 -> 7 -> 28 is exact; 30 is not)
            x = nn.functional.interpolate(x, size=self.image_shape[1:], mode="bilinear", align_corners=False)
        return torch.tanh(x)


class MLPStudent(nn.Module):
    """A small all-Linear classifier: the distillation student of ``distill-quant``.

    All its weights sit in ``nn.Linear`` layers, which int8 dynamic quantization (torchao on CPU)
    turns into int8 matrix multiplies; conv layers would stay float and limit the size gain.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, hidden: tuple[int, ...] = (128, 64)) -> None:
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = [nn.Flatten()]
        d = c * h * w
        for k in hidden:
            layers += [nn.Linear(d, k), nn.ReLU(inplace=True)]
            d = k
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)
        self.image_shape = tuple(image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
