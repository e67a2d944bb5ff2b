"""``prune``: magnitude pruning of the downstream classifier inside its fixed training budget.

The classifier, its data and its number of steps are the harness's, as for every method; only
its weights are thinned while it trains (``on_classifier_step``):

1. Dense training for the first ``start_fraction`` of the steps (t₀).
2. ``prune_events`` pruning events, evenly spaced from t₀ to t₁ (``end_fraction`` of the steps),
   on the cubic schedule of Zhu & Gupta (2017): after event k of n the sparsity is
   ``s·(1 − (1 − k/n)³)``, reaching the target ``sparsity`` s at t₁. Each event is global L1
   magnitude pruning (what ``torch.nn.utils.prune.global_unstructured`` with ``L1Unstructured``
   computes, masks applied with ``torch.nn.utils.prune``; see :meth:`Prune.prune_globally`) over
   the weights of every ``Conv2d`` and ``Linear`` layer together (biases stay dense), pruning exactly
   ``round(target·N) − already pruned`` of the N weights, so the final sparsity is exactly
   ``round(s·N) / N``. Masked weights stay zero; the others keep training.
3. Fine-tuning with the masks fixed for the rest of the budget.

The harness scores the masked classifier. ``details()`` (called after scoring) then makes the
pruning permanent (``prune.remove``: the weights become plain tensors with exact zeros, the same
function) and records:
weight sparsity, non-zero and total parameters, and three serialized sizes of that state dict:

* ``dense_bytes``: ``torch.save`` of the dense state dict, as the cost table measures every other
  method's classifier (a masked state dict is larger still: ``weight_orig`` + ``weight_mask``);
* ``model_bytes``: the sparse serialization used for the cost table — a compressed ``.npz``
  (``np.savez_compressed``) where each pruned weight is a bit mask of its non-zeros
  (``np.packbits``, 1 bit per weight) plus its non-zero values as float32, and everything else is
  stored dense. :func:`load_sparse` reads it back into the exact state dict (a test checks it).
  At sparsity s this is ≈ (1 − s)·32 + 1 bits per weight before deflate; torch's COO layout
  (one int64 index per dimension per non-zero, (1 − s)·(64·dims + 32) bits) is larger unless more
  than ~99 % of the weights are zero;
* two alternatives, recorded so the choice can be checked: ``coo_bytes`` (``torch.save`` with the
  pruned weights as torch sparse COO tensors: int64 indices make it larger than dense even at 80 %)
  and ``deflated_dense_bytes`` (the pruned state dict stored dense, zeros included, through the
  same ``savez_compressed``: deflate finds the zeros, but less well than the bit mask).

``model_params`` is the number of non-zero parameters: with ``model_bytes`` it is what the cost
table (:mod:`bench.costs`) shows for this method, comparable with ``distill-quant``'s int8 student.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from bench.errors import BenchError
from bench.method import Method, register_method


@dataclass(frozen=True)
class PruneConfig:
    sparsity: float = 0.8  # final share of zero conv/linear weights
    start_fraction: float = 0.25  # dense training before the first pruning event (share of steps)
    end_fraction: float = 0.75  # the target sparsity is reached here; the rest fine-tunes
    prune_events: int = 10  # pruning events between start and end (cubic schedule)

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise BenchError(f"prune: sparsity must be in [0, 1) (the share of weights set to zero), got {self.sparsity}")
        if not 0.0 <= self.start_fraction < self.end_fraction <= 1.0:
            raise BenchError(f"prune: need 0 <= start_fraction < end_fraction <= 1, got start_fraction="
                             f"{self.start_fraction}, end_fraction={self.end_fraction}")
        if self.prune_events < 1:
            raise BenchError(f"prune: prune_events must be >= 1, got {self.prune_events}")


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every Conv2d and Linear layer, in module order."""
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def schedule(cfg: PruneConfig, total_steps: int, n_weights: int) -> dict[int, int]:
    """{step: number of weights pruned once that step starts}, cubic (Zhu & Gupta 2017)."""
    t0 = round(cfg.start_fraction * total_steps)
    t1 = min(round(cfg.end_fraction * total_steps), total_steps - 1)  # the last event must still be followed by a step
    t0 = min(t0, t1)
    out: dict[int, int] = {}
    n = cfg.prune_events
    for k in range(1, n + 1):
        step = t0 + round(k * (t1 - t0) / n)
        out[step] = max(out.get(step, 0), round(cfg.sparsity * (1 - (1 - k / n) ** 3) * n_weights))
    out[max(out)] = round(cfg.sparsity * n_weights)  # exactly the target, whatever the rounding above
    return out


def save_sparse(state: dict[str, torch.Tensor], sparse_keys: set[str]) -> bytes:
    """A compressed npz: tensors in ``sparse_keys`` as a packed bit mask of non-zeros + the
    non-zero values; the rest dense."""
    arrays: dict[str, np.ndarray] = {}
    for k, v in state.items():
        a = v.detach().cpu().numpy()
        if k in sparse_keys:
            nz = a != 0
            arrays[f"{k}__mask"] = np.packbits(nz.ravel())
            arrays[f"{k}__values"] = a[nz]
            arrays[f"{k}__shape"] = np.asarray(a.shape, dtype=np.int64)
        else:
            arrays[k] = a
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_sparse(blob: bytes) -> dict[str, torch.Tensor]:
    """The state dict written by :func:`save_sparse`."""
    out: dict[str, torch.Tensor] = {}
    with np.load(io.BytesIO(blob)) as z:
        for k in z.files:
            if k.endswith("__mask"):
                name = k[: -len("__mask")]
                shape = tuple(z[f"{name}__shape"])
                values = z[f"{name}__values"]
                nz = np.unpackbits(z[k], count=int(np.prod(shape))).astype(bool)
                dense = np.zeros(int(np.prod(shape)), dtype=values.dtype)
                dense[nz] = values
                out[name] = torch.from_numpy(dense.reshape(shape))
            elif not k.endswith(("__values", "__shape")):
                out[k] = torch.from_numpy(z[k])
    return out


def torch_bytes(obj: object) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes


@register_method("prune")
class Prune(Method):
    version = "1"
    Config = PruneConfig
    presets = {"tiny": {"prune_events": 3}, "quick": {}, "standard": {}}

    model: nn.Module | None = None

    def on_classifier_step(self, model: nn.Module, step: int, total: int) -> None:
        if self.model is None:
            self.model, self.params = model, prunable(model)
            self.n_weights = sum(m.weight.numel() for m, _ in self.params)
            self.plan = schedule(self.config, total, self.n_weights)
            self.events: list[dict] = []
        target = self.plan.get(step)
        if target is None:
            return
        done = sum(int((m.weight_mask == 0).sum()) for m, _ in self.params if torch_prune.is_pruned(m))
        if target > done:
            self.prune_globally(target - done)
        self.events.append({"step": step, "sparsity": round(target / self.n_weights, 5)})

    def prune_globally(self, amount: int) -> None:
        """Zero the ``amount`` smallest-magnitude weights still unpruned, over all layers together.

        This is what ``torch_prune.global_unstructured(..., L1Unstructured, amount)`` computes
        (the same scores, the same ``topk`` over the unmasked entries, the same per-layer
        ``custom_from_mask``), written out because torch's version flattens each weight with
        ``view(-1)``, which fails on the channels-last conv weights the classifier uses at 28×28.
        ``reshape(-1)`` reads every weight in the same logical order, so the masks are identical
        wherever torch's call worked (a test compares the two on a contiguous model).
        """
        with torch.no_grad():
            scores = torch.cat([m.weight.detach().reshape(-1).abs() for m, _ in self.params])
            mask = torch.cat([(m.weight_mask if torch_prune.is_pruned(m) else torch.ones_like(m.weight))
                              .detach().reshape(-1) for m, _ in self.params])
            alive = (mask == 1).nonzero().squeeze(1)
            drop = torch.topk(scores[alive], k=amount, largest=False).indices
            mask[alive[drop]] = 0
            pointer = 0
            for m, _ in self.params:
                n = m.weight.numel()
                part = mask[pointer:pointer + n].reshape(m.weight.shape)
                torch_prune.custom_from_mask(m, "weight", part)
                pointer += n

    def details(self) -> dict:
        if self.model is None:
            return {}
        final = self.model  # the harness has scored it; removing the masks keeps the same function
        sparse_keys = set()
        for name, m in final.named_modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                if torch_prune.is_pruned(m):
                    torch_prune.remove(m, "weight")
                sparse_keys.add(f"{name}.weight")
        state = {k: v.detach().cpu() for k, v in final.state_dict().items()}
        zeros = sum(int((state[k] == 0).sum()) for k in sparse_keys)
        params = list(final.parameters())
        nonzero = sum(int(p.count_nonzero()) for p in params)
        coo = {k: (v.to_sparse() if k in sparse_keys else v) for k, v in state.items()}
        sparse = save_sparse(state, sparse_keys)
        deflated = io.BytesIO()
        np.savez_compressed(deflated, **{k: v.numpy() for k, v in state.items()})
        return {
            "target_sparsity": self.config.sparsity,
            "weight_sparsity": round(zeros / self.n_weights, 6),
            "pruned_weights": zeros, "prunable_weights": self.n_weights,
            "total_params": sum(p.numel() for p in params), "nonzero_params": nonzero,
            "dense_bytes": torch_bytes(final.state_dict()), "coo_bytes": torch_bytes(coo),
            "deflated_dense_bytes": len(deflated.getvalue()), "sparse_npz_bytes": len(sparse),
            "schedule": self.events,
            # the model that predicts, for the cost table: sparse size and non-zero parameters
            "model_bytes": len(sparse), "model_params": nonzero,
        }
