"""The fixed downstream classifier budget: identical for every method in a suite.

One small CNN per image size (:class:`bench.nets.SmallCNN`), one optimiser recipe, a fixed
number of steps of fixed batch size drawn with replacement, seeded. A method changes only what
the classifier trains on (augmented, generated or pseudo-labelled images), its initialisation, or
its fine-tuning schedule.

Budget. By default the classifier takes ``steps`` steps whatever it trains on. With ``epochs``
> 0 the budget scales with the images it sees: steps = clip(ceil(epochs · N / batch_size),
``min_steps``, ``max_steps``), N = labelled + generated/pseudo-labelled images (the steps
actually taken are in the record's ``details.classifier_steps``). How the default was chosen:
results/protocol/README.md.

Recipe. ``optimizer`` (Adam, or SGD with Nesterov momentum 0.9), ``schedule`` (a constant lr,
cosine decay after a linear warm-up, or one-cycle as torch's OneCycleLR draws it), ``norm``
(BatchNorm after each conv), ``label_smoothing`` (also applied to a method's soft targets) and
``ema`` (an exponential moving average of the weights, scored instead of the last weights). Their
defaults are the 4800-step protocol's recipe (Adam, constant lr, none of the rest; preset
``adam-4800``) and are left out of the cell key, so records written before these fields existed
keep their keys. The ``standard`` preset is :data:`PROTOCOL_RECIPE` at 960 steps.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.nets import SmallCNN, to_input


@dataclass(frozen=True)
class ClassifierConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-4
    width: int = 32
    dropout: float = 0.3
    eval_batch_size: int = 1000
    # budget scaled with the training-set size (0 = off, ``steps`` is the budget); see the module doc
    epochs: float = 0.0
    min_steps: int = 0
    max_steps: int = 0  # 0 = no cap
    # test accuracy also measured after these many steps (a learning curve in the record's
    # ``details.classifier_curve``); the training itself is unchanged (see train_classifier)
    checkpoints: tuple[int, ...] = ()
    # the recipe (issue 28; defaults = the 4800-step protocol's: Adam at a constant lr, no
    # normalisation, hard labels, the last weights): see the module doc
    optimizer: str = "adam"  # adam | sgd (momentum 0.9, Nesterov)
    schedule: str = "constant"  # constant | cosine (linear warm-up, cosine decay to 0) | onecycle
    warmup: float = 0.0  # share of the steps spent warming the lr up from 0 (cosine, onecycle)
    norm: str = "none"  # none | batch (BatchNorm after every conv of the classifier)
    label_smoothing: float = 0.0
    ema: float = 0.0  # decay of an exponential moving average of the weights, scored instead of the last (0 = off)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS or self.schedule not in SCHEDULES or self.norm not in NORMS:
            raise BenchError(f"classifier: optimizer must be one of {', '.join(OPTIMIZERS)}, schedule one of "
                             f"{', '.join(SCHEDULES)}, norm one of {', '.join(NORMS)}; got {self.optimizer!r}, "
                             f"{self.schedule!r}, {self.norm!r}")
        if not (0.0 <= self.warmup < 1.0 and 0.0 <= self.label_smoothing < 1.0 and 0.0 <= self.ema < 1.0):
            raise BenchError(f"classifier: warmup, label_smoothing and ema must be in [0, 1), got {self.warmup}, "
                             f"{self.label_smoothing}, {self.ema}")
        if self.steps < 1 or self.batch_size < 1:
            raise BenchError(f"classifier: steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if self.epochs < 0 or self.min_steps < 0 or self.max_steps < 0:
            raise BenchError("classifier: epochs, min_steps and max_steps must be >= 0")
        object.__setattr__(self, "checkpoints", tuple(sorted(set(self.checkpoints))))  # a TOML list arrives as a list
        if any(not isinstance(c, int) or c < 1 for c in self.checkpoints):
            raise BenchError(f"classifier: checkpoints must be step counts >= 1, got {list(self.checkpoints)}")
        if self.max_steps and self.max_steps < self.min_steps:
            raise BenchError(f"classifier: max_steps ({self.max_steps}) must be >= min_steps ({self.min_steps}) or 0 (no cap)")

    def fixed(self, steps: int) -> ClassifierConfig:
        """This config with a fixed budget of ``steps`` (e.g. a method's own pretraining)."""
        from dataclasses import replace

        return replace(self, steps=steps, epochs=0.0, min_steps=0, max_steps=0, checkpoints=())

    def steps_for(self, n_images: int) -> int:
        """The step budget for a training set of ``n_images`` images."""
        if self.epochs <= 0:
            return self.steps
        steps = max(self.min_steps, 1, -(-int(round(self.epochs * n_images * 1000)) // (self.batch_size * 1000)))
        return min(steps, self.max_steps) if self.max_steps else steps


OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
NORMS = ("none", "batch")

#: fields added after records were first written: left out of the cell key while at their
#: default, so the keys of existing records stay valid
_KEY_OPTIONAL = {"epochs": 0.0, "min_steps": 0, "max_steps": 0, "checkpoints": (), "optimizer": "adam",
                 "schedule": "constant", "warmup": 0.0, "norm": "none", "label_smoothing": 0.0, "ema": 0.0}


def classifier_key(cfg: ClassifierConfig) -> dict:
    """The classifier part of a cell key (``asdict`` less new fields at their defaults)."""
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()
            if not (k in _KEY_OPTIONAL and v == _KEY_OPTIONAL[k])}


#: the protocol's recipe (issue 28), chosen on development draws (seeds 1000-1004) by the recipe
#: study in results/protocol/ ("A faster classifier recipe"): SGD with Nesterov momentum, one-cycle
#: lr (peak 0.05), BatchNorm, label smoothing 0.1. At 960 steps it is at or above the 4800-step Adam
#: recipe on every screened row of digits and Fashion-MNIST, for a fifth of the steps.
PROTOCOL_RECIPE = {"optimizer": "sgd", "schedule": "onecycle", "lr": 0.05, "norm": "batch", "label_smoothing": 0.1}

CLASSIFIER_PRESETS: dict[str, ClassifierConfig] = {
    "tiny": ClassifierConfig(steps=20, width=8, batch_size=32),
    # a smoke budget (Adam, 300 steps): short of the plateau by 0.03-0.07 on augmented data (the
    # budget study); no suite uses it for a verdict any more
    "quick": ClassifierConfig(steps=300),
    # the protocol: the recipe above at 960 steps. The `standard` and `quick` suites use it.
    "standard": ClassifierConfig(steps=960, **PROTOCOL_RECIPE),
    # twice the standard budget: the check that 960 steps are on the plateau
    "long": ClassifierConfig(steps=1920, **PROTOCOL_RECIPE),
    # the 4800-step protocol of issue 12 (Adam at constant lr 1e-3, no normalisation, hard labels):
    # the recipe of results/reference-4800/, and its 9600-step plateau check
    "adam-4800": ClassifierConfig(steps=4800),
    "adam-9600": ClassifierConfig(steps=9600),
}


def classifier_config(preset: str, overrides: dict | None = None) -> ClassifierConfig:
    from dataclasses import asdict, fields, replace

    from bench.errors import did_you_mean

    if preset not in CLASSIFIER_PRESETS:
        raise BenchError(f"unknown classifier preset {preset!r}" + did_you_mean(preset, CLASSIFIER_PRESETS))
    from bench.settings import check_classifier

    names = {f.name for f in fields(ClassifierConfig)}
    for key in overrides or {}:
        if key not in names:
            raise BenchError(f"classifier has no setting {key!r}" + did_you_mean(key, names))
    check_classifier(ClassifierConfig, {**asdict(CLASSIFIER_PRESETS[preset]), **(overrides or {})}, overrides or {})
    return replace(CLASSIFIER_PRESETS[preset], **(overrides or {}))


def make_classifier(image_shape, num_classes: int, cfg: ClassifierConfig) -> SmallCNN:
    """The fixed classifier, its weights in channels-last memory format: convolutions run ~1.35×
    faster on CPU (oneDNN; a 64-image Fashion-MNIST step on one core, measured in one process)
    with the same arithmetic up to float rounding. Not part of the cell key, like the thread
    count; records name it in ``environment.classifier_memory_format``."""
    model = SmallCNN(image_shape, num_classes, width=cfg.width, dropout=cfg.dropout, norm=cfg.norm)
    return model.to(memory_format=CLASSIFIER_MEMORY_FORMAT)


CLASSIFIER_MEMORY_FORMAT = torch.channels_last


def train_classifier(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: ClassifierConfig,
    *,
    seed: int,
    device: torch.device,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    extra: tuple[torch.Tensor, torch.Tensor] | None = None,
    real_fraction: float = 1.0,
    on_step: Callable[[torch.nn.Module, int, int], None] | None = None,
    soft_targets: torch.Tensor | None = None,
    augment_labelled: Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]] | None = None,
    num_classes: int | None = None,
    desc: str = "classifier",
    probe: Callable[[torch.nn.Module], float] | None = None,
    loss_scale: float = 1.0,
) -> dict[str, Any]:
    """Train ``model`` in place for ``cfg.steps_for(N)`` steps (N = len(x) + len(extra[0])); return
    the last step's loss and the steps taken.

    Batches are drawn with replacement: ``real_fraction`` of each from (x, y) and the rest from
    ``extra`` (generated or pseudo-labelled images), if given. ``augment`` maps a uint8 batch to
    a uint8 batch. ``soft_targets`` (N×classes probabilities aligned with ``x``) switch the loss to
    cross-entropy against them, for distillation. ``augment_labelled`` (after ``augment``) maps
    (batch, labels, ``num_classes``) to (images, B×classes probabilities), and the loss becomes
    cross-entropy against those (see :meth:`bench.method.Method.augment_labelled`). ``loss_scale``
    multiplies the loss that is minimised (not the reported ``final_loss``), e.g. the T² that keeps a
    distillation loss on softened logits at the gradient scale of a hard-label loss (Hinton et al. 2015).

    ``probe`` (model -> a score, e.g. test accuracy) is called, in eval mode and without
    gradients, after each of ``cfg.checkpoints`` steps below the total; the returned ``curve``
    lists ``[steps, score]``. Probing draws no random numbers and restores train mode, so the
    score after k steps equals what a run of k steps would end with — unless the method's own
    training depends on the total (``on_step`` schedules such as prune's, or rounds of
    ``ctx.train_classifier`` inside ``fit``, which use the full budget).
    """
    if len(x) == 0:
        raise BenchError("the classifier got no training images")
    if augment_labelled is not None:
        if soft_targets is not None:
            raise BenchError("augment_labelled and soft_targets cannot be combined: the hook mixes hard labels")
        if num_classes is None:
            raise BenchError("train_classifier needs num_classes when augment_labelled is given")
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = make_optimizer(model, cfg)
    n_real = cfg.batch_size if extra is None else int(round(cfg.batch_size * real_fraction))
    loss = torch.tensor(float("nan"))
    total = cfg.steps_for(len(x) + (len(extra[0]) if extra is not None else 0))
    marks = {c for c in cfg.checkpoints if c < total} if probe is not None else set()
    curve: list[list[float]] = []
    lr_at = lr_schedule(cfg, total)
    ema = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    for step in tqdm(range(total), desc=desc, leave=False, disable=None, mininterval=0.5):
        if step in marks:
            with (ema.swapped_in(model) if ema is not None else contextlib.nullcontext()), torch.no_grad():
                model.eval()
                curve.append([step, probe(model)])
            model.train()
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
        if on_step is not None:
            on_step(model, step, total)
        xb, yb, tb = draw_batch(x, y, gen, cfg.batch_size, n_real, extra, augment, augment_labelled,
                                soft_targets, num_classes)
        loss = batch_loss(model(to_input(xb.to(device))), yb, tb, cfg, device)
        opt.zero_grad(set_to_none=True)
        (loss * loss_scale).backward()  # × 1.0 is exact: unscaled runs are bit-identical
        opt.step()
        if ema is not None:
            ema.update(model)
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    return {"final_loss": float(loss.detach()), "steps": total, "curve": curve}


def draw_batch(x, y, gen, batch_size: int, n_real: int, extra, augment, augment_labelled, soft_targets, num_classes):
    """One training batch (images, labels, soft targets or None), drawn with replacement from
    ``gen``: ``n_real`` labelled images and the rest from ``extra``, then ``augment`` and
    ``augment_labelled`` (see :func:`train_classifier`)."""
    idx = torch.randint(len(x), (n_real,), generator=gen)
    xb, yb = x[idx], y[idx]
    tb = soft_targets[idx] if soft_targets is not None else None
    if extra is not None and n_real < batch_size:
        jdx = torch.randint(len(extra[0]), (batch_size - n_real,), generator=gen)
        xb, yb = torch.cat([xb, extra[0][jdx]]), torch.cat([yb, extra[1][jdx]])
    if augment is not None:
        xb = augment(xb)
    if augment_labelled is not None:
        xb, tb = check_labelled(augment_labelled(xb, yb, num_classes), xb.shape, num_classes)
    return xb, yb, tb


def batch_loss(logits: torch.Tensor, yb: torch.Tensor, tb: torch.Tensor | None, cfg: ClassifierConfig,
               device: torch.device) -> torch.Tensor:
    """Cross-entropy against hard labels, or against soft targets ``tb`` (smoothed alike)."""
    if tb is not None:
        tb = tb.to(device)
        if cfg.label_smoothing:
            tb = tb * (1 - cfg.label_smoothing) + cfg.label_smoothing / tb.shape[1]
        return F.cross_entropy(logits, tb)
    return F.cross_entropy(logits, yb.to(device), label_smoothing=cfg.label_smoothing)


def make_optimizer(model: torch.nn.Module, cfg: ClassifierConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad] or list(model.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_schedule(cfg: ClassifierConfig, total: int) -> Callable[[int], float] | None:
    """step -> learning rate (None: constant ``cfg.lr``). ``cosine``: linear warm-up from 0 over
    ``warmup`` of the steps, then half a cosine down to 0 at the last step. ``onecycle``: Smith's
    one-cycle as ``torch.optim.lr_scheduler.OneCycleLR`` draws it (cosine up from lr/25 over
    ``warmup`` of the steps, 0.3 if 0, then cosine down to lr/1e4)."""
    if cfg.schedule == "constant":
        return None
    peak = cfg.lr
    if cfg.schedule == "cosine":
        n_warm = int(round(cfg.warmup * total))

        def cosine(step: int) -> float:
            if step < n_warm:
                return peak * (step + 1) / n_warm
            t = (step - n_warm) / max(1, total - n_warm)
            return peak * 0.5 * (1 + math.cos(math.pi * t))

        return cosine
    lo, end = peak / 25, peak / 25 / 1e4
    n_up = max(1e-9, (cfg.warmup or 0.3) * total - 1)  # OneCycleLR's float phase boundary

    def onecycle(step: int) -> float:
        if step <= n_up:
            return peak + (lo - peak) / 2 * (math.cos(math.pi * step / n_up) + 1)
        t = (step - n_up) / max(1e-9, total - 1 - n_up)
        return end + (peak - end) / 2 * (math.cos(math.pi * min(t, 1.0)) + 1)

    return onecycle


class WeightAverage:
    """An exponential moving average of a model's floating-point parameters and buffers (BatchNorm
    statistics), ``decay`` per step with the usual warm-up ``min(decay, (1 + n) / (10 + n))`` so the
    average does not start as the random initialisation. Scored instead of the last weights."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay, self.n = decay, 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        self.n += 1
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        state = model.state_dict()
        for k, v in self.shadow.items():
            state[k].copy_(v)

    @contextlib.contextmanager
    def swapped_in(self, model: torch.nn.Module):
        """The average in ``model`` for the block (a checkpoint probe), the live weights after it."""
        live = {k: v.detach().clone() for k, v in model.state_dict().items() if k in self.shadow}
        self.copy_to(model)
        try:
            yield
        finally:
            state = model.state_dict()
            with torch.no_grad():
                for k, v in live.items():
                    state[k].copy_(v)


def check_labelled(out: object, shape: torch.Size, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``augment_labelled``'s output, checked: same image shape, uint8 or float in [0, 1] (float
    images are clamped to [0, 1] after a check with 1e-5 slack, so a blend's rounding, e.g.
    0.7·1 + 0.3·1 = 1.0000001, passes), and targets that are B×classes probabilities
    (non-negative, rows summing to 1 within 1e-4)."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise BenchError(f"augment_labelled must return (images, targets), got {type(out).__name__}")
    xb, tb = out
    if not (isinstance(xb, torch.Tensor) and xb.shape == shape and (xb.dtype == torch.uint8 or xb.is_floating_point())):
        raise BenchError(f"augment_labelled must return images of shape {tuple(shape)}, uint8 or float in [0, 1]; "
                         f"got {getattr(xb, 'dtype', type(xb))} {tuple(getattr(xb, 'shape', ()))}")
    if xb.is_floating_point() and xb.numel():
        if float(xb.min()) < -1e-5 or float(xb.max()) > 1.0 + 1e-5:
            raise BenchError(f"augment_labelled returned float images outside [0, 1] ({float(xb.min()):.3g}.."
                             f"{float(xb.max()):.3g}); float images are read as 0 = black, 1 = white")
        xb = xb.clamp(0.0, 1.0)
    if not (isinstance(tb, torch.Tensor) and tb.is_floating_point() and tb.shape == (shape[0], num_classes)):
        raise BenchError(f"augment_labelled must return float targets of shape {(shape[0], num_classes)}, "
                         f"got {getattr(tb, 'dtype', type(tb))} {tuple(getattr(tb, 'shape', ()))}")
    if tb.numel() and (float(tb.min()) < 0.0 or float((tb.sum(1) - 1).abs().max()) > 1e-4):
        raise BenchError("augment_labelled must return probabilities: targets >= 0 with each row summing to 1")
    return xb, tb.float()


def model_predictor(model: torch.nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``uint8 batch -> logits`` for a trained network."""
    model.eval()

    @torch.no_grad()
    def predict(xb: torch.Tensor) -> torch.Tensor:
        return model(to_input(xb.to(device))).float().cpu()

    return predict


@torch.no_grad()
def evaluate(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             num_classes: int, batch_size: int = 1000) -> dict:
    """Accuracy and per-class accuracy of ``predict`` on (x, y)."""
    preds = torch.cat([predict(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    correct = (preds == y).numpy()
    labels = y.numpy()
    per_class = [float(correct[labels == c].mean()) if (labels == c).any() else float("nan") for c in range(num_classes)]
    return {"accuracy": float(np.mean(correct)), "per_class_accuracy": per_class, "n_test": int(len(y))}
