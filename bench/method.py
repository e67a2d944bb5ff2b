"""The method protocol: what a plugin implements, and what the harness does for it.

The harness owns seeding, devices, timing, I/O, the downstream classifier and every metric. A
method is a small class registered with ``@register_method("name")`` that declares a frozen
dataclass ``Config``, named ``presets`` (``tiny`` for tests, ``quick``, ``standard``), a
``version`` (bump it when results would change) and its :class:`Capabilities`, and fills only the
hooks it needs:

* ``fit(data)`` — learn from the k-shot set (and the pool / a source dataset if declared);
* ``augment_batch(x)`` — transform each uint8 training batch of the downstream classifier;
* ``augment_labelled(x, y, num_classes)`` — transform each batch *with its labels* and return
  ``(images, targets)``: images uint8 or float32 in [0, 1] (same shape), targets float B×K
  probabilities; the classifier's loss becomes cross-entropy against them (mixup, cutmix). Runs
  after ``augment_batch`` when a method has both;
* ``generate(n_per_class)`` — labelled uint8 images added to the classifier's training data;
* ``init_classifier(model)`` / ``on_classifier_step(model, step, total)`` — pretrained
  initialisation and fine-tuning schedules (freeze, unfreeze) of the downstream classifier;
* ``predictor()`` — a method that trains its own classifier returns ``uint8 batch -> logits``;
* ``extra_predictors()`` — further ``uint8 batch -> logits`` models the harness also scores on the
  test split (e.g. distill-quant's teacher and float student), as ``metrics["<name>_accuracy"]``;
* ``details()`` — facts for the record (resolved policy, parameter counts, pseudo-label stats);
* ``build_shared()`` — build what the method caches across cells (``ctx.cached``: source models)
  ahead of the cells; ``bench run`` calls it once per dataset and config before the first cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from bench.errors import BenchError, did_you_mean
from bench.registry import Registry


@dataclass(frozen=True)
class Capabilities:
    generates: bool = False  # generate() returns labelled images for the classifier
    uses_pool: bool = False  # fit() receives the unlabelled rest of the train split
    uses_source: bool = False  # fit() may load a source dataset through the context
    own_classifier: bool = False  # predictor() replaces the downstream classifier
    # generate() returns real images (e.g. pseudo-labelled pool images), not synthetic ones: image
    # quality metrics (FID, IS, KID, memorisation) would only measure the real data, so they are skipped
    returns_real_images: bool = False


@dataclass(frozen=True)
class EmptyConfig:
    pass


@dataclass(frozen=True)
class GenerativeConfig:
    """Fields every generative method shares; the harness reads them to mix real and synthetic."""

    n_per_class: int = 100  # synthetic images per class added to the classifier's data
    real_fraction: float = 0.5  # share of each classifier batch drawn from the real k-shot set
    # keep samples a shots-trained judge gives their label >= this; 0: off (and out of the cell key)
    filter_confidence: float = dataclasses.field(default=0.0, metadata={"key_omit_default": True})

    def __post_init__(self) -> None:
        if self.n_per_class < 1:
            raise BenchError(f"n_per_class must be >= 1, got {self.n_per_class}")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise BenchError(f"real_fraction must be in [0, 1], got {self.real_fraction}")
        if not 0.0 <= self.filter_confidence < 1.0:
            raise BenchError(f"filter_confidence must be in [0, 1) (0: no filtering), got {self.filter_confidence}")


@dataclass(frozen=True, eq=False)
class FitData:
    """What a method may learn from. ``pool_x`` is None unless the method declares ``uses_pool``."""

    x: torch.Tensor  # uint8 N×C×H×W, the k-shot labelled set
    y: torch.Tensor  # int64 N
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    family: str
    pool_x: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class Method:
    """Base class of every method plugin. Subclasses override only the hooks they need."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    Config: ClassVar[type] = EmptyConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"tiny": {}, "quick": {}, "standard": {}}
    capabilities: ClassVar[Capabilities] = Capabilities()
    # Named variants shipped with the method, run as ``name@label`` (see bench.suite): label ->
    # config settings applied on top of the suite's preset, e.g. {"light": {"policy": "light"}}.
    variants: ClassVar[dict[str, dict[str, Any]]] = {}
    # Which draws each preset was tuned on (bench.suite.check_tuned_seeds refuses to report on
    # them): preset -> {"seeds": [first, last], "date": ..., "evidence": "results/..."}.
    tuned_on: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, config: Any, ctx: Any) -> None:
        self.config = config
        self.ctx = ctx  # bench.runner.MethodContext: device, seed, caches, progress, classifier

    # --- hooks ------------------------------------------------------------------------------
    def fit(self, data: FitData) -> None:
        """Learn from the data. Default: nothing to learn."""

    augment_batch: Callable[[torch.Tensor], torch.Tensor] | None = None

    # A second, optional hook rather than a new signature for augment_batch, so every existing
    # plugin (``augment_batch(x) -> x``) keeps working unchanged and a method that needs no labels
    # never sees them. Defined as a method: ``(x uint8 B×C×H×W, y int64 B, num_classes) ->
    # (x uint8 or float32 in [0, 1], targets float B×num_classes, rows summing to 1)``.
    augment_labelled: Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]] | None = None

    def generate(self, n_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{self.name} declares generates=True but has no generate()")

    def init_classifier(self, model: torch.nn.Module) -> None:
        """Initialise the downstream classifier (e.g. load a pretrained trunk). Default: no-op."""

    def on_classifier_step(self, model: torch.nn.Module, step: int, total: int) -> None:
        """Called before each classifier step (e.g. unfreeze the trunk half-way). Default: no-op."""

    def predictor(self) -> Callable[[torch.Tensor], torch.Tensor]:
        raise NotImplementedError(f"{self.name} declares own_classifier=True but has no predictor()")

    def extra_predictors(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """Named side models for the harness to score on the test split. Default: none."""
        return {}

    def details(self) -> dict[str, Any]:
        """JSON-serialisable facts for the record; ``trainable_params`` (what the method itself
        trains) is lifted into the record's ``cost``. Default: none."""
        return {}

    def build_shared(self) -> None:
        """Build the artefacts this method shares across cells (through ``self.ctx.cached``) so
        cells find them cached. ``bench run`` calls it in the driver once per (dataset, config)
        before any cell starts, so the build is not charged to a cell; ``self.ctx`` then has the
        target dataset but no task (seed 0). Default: nothing to build."""

    # --- configuration ----------------------------------------------------------------------
    @classmethod
    def make_config(cls, preset: str = "quick", overrides: dict[str, Any] | None = None) -> Any:
        """The preset's config with ``overrides`` applied; unknown keys are errors."""
        if preset not in cls.presets:
            raise BenchError(f"method {cls.name!r} has no preset {preset!r}" + did_you_mean(preset, cls.presets))
        values = {**cls.presets[preset], **(overrides or {})}
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        for key in values:
            if key not in fields:
                raise BenchError(
                    f"method {cls.name!r} has no config field {key!r}"
                    + (did_you_mean(key, fields) if fields else "; it takes no settings")
                )
        from bench.settings import SettingError, check_settings, setting_named

        owner = f"method {cls.name!r}"
        check_settings(cls.Config, values, owner)  # types first: "ten" never reaches __post_init__
        try:
            return cls.Config(**values)
        except SettingError:
            raise
        except (BenchError, TypeError, ValueError) as exc:
            setting = setting_named(str(exc), overrides or values)
            text = str(exc)
            # a method's own check usually names it already ("classic: unknown policy ..."): once is enough
            text = text[len(cls.name) + 2:] if text.startswith(f"{cls.name}: ") else text
            raise SettingError(f"{owner}: {text}", owner, setting) from None


METHODS: Registry[type[Method]] = Registry(
    "method", base=Method, entry_point_group="augbench.methods", builtins="bench.methods"
)
register_method = METHODS.register


def config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def key_config(config: Any) -> dict[str, Any]:
    """The config as the cell key sees it: :func:`config_dict` without the fields marked
    ``key_omit_default`` that are at their default, so a setting added later (off by default)
    leaves the keys of existing records unchanged."""
    out = config_dict(config)
    for f in dataclasses.fields(config):
        if f.metadata.get("key_omit_default") and out.get(f.name) == f.default:
            out.pop(f.name)
    return out
