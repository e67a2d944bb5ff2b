"""classic's policies: torchvision's TrivialAugmentWide / RandAugment / AutoAugment per image on
uint8, the light policy's flip rule, and the built-in variants that name them."""

from __future__ import annotations

import pytest
import torch
from bench.methods.classic import TORCHVISION, ClassicConfig, apply_policy, build_policy

from bench.method import METHODS
from bench.suite import resolve_variant


@pytest.mark.parametrize("name", list(TORCHVISION))
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_torchvision_policies_per_image_uint8_reproducible(name, shape):
    g = torch.Generator().manual_seed(0)
    one = torch.randint(0, 256, (1, *shape), generator=g, dtype=torch.uint8)
    x = one.repeat(24, 1, 1, 1)
    t = build_policy(name, ClassicConfig(), shape)
    torch.manual_seed(5)
    a = apply_policy(t, x)
    torch.manual_seed(5)
    b = apply_policy(t, x)
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b), "same seed, same augmented batch"
    assert len({bytes(img.numpy()) for img in a}) > 3, "each image of a batch gets its own draw"


@pytest.mark.parametrize("family, flips", [("handwriting", False), ("fashion", True)])
def test_light_policy_flips_only_families_that_allow_it(family, flips):
    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    x[:, :, 10:18, 2:6] = 255  # a bar on the left; a 2-px crop shift cannot move it past the centre
    torch.manual_seed(0)
    out = apply_policy(build_policy("light", ClassicConfig(), (1, 28, 28), family), x)
    on_right = (out[:, 0, :, 14:] > 0).flatten(1).any(1)
    assert bool(on_right.any()) == flips
    moved = (out != x).flatten(1).any(1)
    assert moved.float().mean() > 0.5


def test_policies_ship_as_variants():
    assert {"light", "trivialaugment", "randaugment", "autoaugment"} <= set(METHODS.get("classic").variants)
    v = resolve_variant("classic@randaugment")
    assert (v.base, v.settings, v.source) == ("classic", {"policy": "randaugment"}, "built-in")


def test_fashion_family_policy_is_randaugment():
    """The recalibrated fashion policy (version 3) is torchvision's RandAugment: the same seed gives
    the same batch through ``fashion`` and ``randaugment``; handwriting stays affine (kornia)."""
    x = torch.randint(0, 256, (16, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    fashion = build_policy("fashion", ClassicConfig(), (1, 28, 28), "fashion")
    assert isinstance(fashion.transform, TORCHVISION["randaugment"])
    torch.manual_seed(3)
    a = apply_policy(fashion, x)
    torch.manual_seed(3)
    b = apply_policy(build_policy("randaugment", ClassicConfig(), (1, 28, 28), "fashion"), x)
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert not hasattr(build_policy("handwriting", ClassicConfig(), (1, 28, 28), "handwriting"), "transform")
