"""K copies of :class:`bench.nets.SmallCNN` as one network (issue 28, item 3): several cells'
classifiers trained in one loop.

Each conv becomes one grouped conv (``groups = K``: group k sees only model k's channels), each
BatchNorm one BatchNorm over the K·C channels (a channel's statistics are its own model's batch),
each Linear a batched matrix product. Model k's images enter as channels k·C … (k+1)·C − 1 of
the input, so the arithmetic per model is the single model's, up to float summation order and the
dropout masks (drawn from one stream for all K). :meth:`StackedCNN.write_back` copies the weights
and BatchNorm statistics back into the K models, which the harness then evaluates as usual.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.nets.classifier import SmallCNN


class StackedLinear(nn.Module):
    """K independent Linear layers on a (B, K, in) tensor."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]).clone())  # K × out × in
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]).clone())  # K × out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bki,koi->bko", x, self.weight) + self.bias


def _stack_conv(convs: list[nn.Conv2d]) -> nn.Conv2d:
    c0, k = convs[0], len(convs)
    conv = nn.Conv2d(c0.in_channels * k, c0.out_channels * k, c0.kernel_size, c0.stride, c0.padding, groups=k)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([c.weight for c in convs]))
        conv.bias.copy_(torch.cat([c.bias for c in convs]))
    return conv


def _stack_bn(bns: list[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    b0 = bns[0]
    bn = nn.BatchNorm2d(b0.num_features * len(bns), eps=b0.eps, momentum=b0.momentum)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, name).copy_(torch.cat([getattr(b, name) for b in bns]))
        bn.num_batches_tracked.copy_(b0.num_batches_tracked)
    return bn


class StackedCNN(nn.Module):
    """``K`` SmallCNNs of one architecture as one module: input (B, K·C, H, W), output (B, K, classes)."""

    def __init__(self, models: list[SmallCNN]) -> None:
        super().__init__()
        if not models:
            raise ValueError("StackedCNN needs at least one model")
        shapes = {tuple((n, tuple(p.shape)) for n, p in m.state_dict().items()) for m in models}
        if len(shapes) != 1:
            raise ValueError("StackedCNN: the models differ in architecture")
        self.k = len(models)
        trunk: list[nn.Module] = []
        for i, layer in enumerate(models[0].features):
            if isinstance(layer, nn.Flatten):
                break
            group = [m.features[i] for m in models]
            if isinstance(layer, nn.Conv2d):
                trunk.append(_stack_conv(group))
            elif isinstance(layer, nn.BatchNorm2d):
                trunk.append(_stack_bn(group))
            else:  # ReLU, MaxPool2d: per channel already
                trunk.append(layer)
        self.trunk = nn.Sequential(*trunk)
        rest = list(models[0].features)[i + 1:]  # Dropout, Linear, ReLU
        self.drop1, self.fc, self.relu = rest[0], StackedLinear([m.features[i + 2] for m in models]), rest[2]
        self.drop2, self.head = models[0].head[0], StackedLinear([m.head[1] for m in models])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        h = h.reshape(h.shape[0], self.k, -1)  # per model: its own channels, in SmallCNN's (c, h, w) order
        return self.head(self.drop2(self.relu(self.fc(self.drop1(h)))))

    @torch.no_grad()
    def write_back(self, models: list[SmallCNN]) -> None:
        """Copy the stacked weights and BatchNorm statistics into ``models`` (the ones stacked)."""
        convs = [[m.features[i] for m in models] for i, layer in enumerate(models[0].features)
                 if isinstance(layer, nn.Conv2d)]
        bns = [[m.features[i] for m in models] for i, layer in enumerate(models[0].features)
               if isinstance(layer, nn.BatchNorm2d)]
        s_convs = [m for m in self.trunk if isinstance(m, nn.Conv2d)]
        s_bns = [m for m in self.trunk if isinstance(m, nn.BatchNorm2d)]
        for stacked, group in zip(s_convs, convs, strict=True):
            for name in ("weight", "bias"):
                for part, m in zip(getattr(stacked, name).chunk(self.k), group, strict=True):
                    getattr(m, name).copy_(part)
        for stacked, group in zip(s_bns, bns, strict=True):
            for name in ("weight", "bias", "running_mean", "running_var"):
                for part, m in zip(getattr(stacked, name).chunk(self.k), group, strict=True):
                    getattr(m, name).copy_(part)
            for m in group:
                m.num_batches_tracked.copy_(stacked.num_batches_tracked)
        fc_index = next(i for i, layer in enumerate(models[0].features) if isinstance(layer, nn.Linear))
        for stacked, layers in ((self.fc, [m.features[fc_index] for m in models]), (self.head, [m.head[1] for m in models])):
            for j, layer in enumerate(layers):
                layer.weight.copy_(stacked.weight[j])
                layer.bias.copy_(stacked.bias[j])
