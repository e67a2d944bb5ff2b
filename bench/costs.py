"""What each method costs: time, memory, parameters and model size, per method and dataset.

The long table from :func:`bench.aggregate.long_table` carries timings (``*_s``) and memory
(``*_mb``). :func:`add_details` adds what records know beyond that:

* ``cost`` entries (``classifier_trainable_params``, ``method_trainable_params``) when records have them;
* every numeric scalar of ``details`` as ``detail_<name>`` (nested dicts flattened with ``_``), e.g.
  ``detail_trainable_params`` or ``detail_model_bytes``;
* ``classifier_params`` and ``classifier_bytes``: the size of the harness's downstream classifier,
  rebuilt from the record's classifier config and image shape (a real ``torch.save`` of its
  state dict; no training). A method whose predicting model differs from that dense classifier
  reports ``details["model_bytes"]`` and ``details["model_params"]`` for it, and the cost table
  shows those instead: ``distill-quant`` its int8 student (``torch.save`` bytes, parameters),
  ``prune`` the pruned classifier (sparse serialization bytes, *non-zero* parameters), so both
  compression methods sit on one table beside the dense classifier of every other method.

Decision: the cost table averages over every finished cell of a method (all shots and seeds),
because per-shot costs differ little except for methods whose fitting scales with the labelled
set; the per-cell numbers stay in the long table.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


def _flatten(d: dict[str, Any], prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}_"))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = v
    return out


@functools.lru_cache(maxsize=32)
def classifier_size(image_shape: tuple[int, ...], num_classes: int, config_json: str) -> tuple[int, int]:
    """(parameters, serialized bytes) of the downstream classifier a record was trained with."""
    import torch

    from bench.training import ClassifierConfig, make_classifier

    cfg = ClassifierConfig(**json.loads(config_json))
    model = make_classifier(tuple(image_shape), num_classes, cfg)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return sum(p.numel() for p in model.parameters()), buf.getbuffer().nbytes


def add_details(df: pd.DataFrame, records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """``df`` (a long table) joined on ``key`` with cost, details and classifier-size columns."""
    rows = []
    for r in records:
        row: dict[str, Any] = {"key": r["key"]}
        for k, v in (r.get("cost") or {}).items():
            if k not in df.columns:
                row[k] = v
        row.update(_flatten(r.get("details") or {}, "detail_"))
        clf = r.get("classifier")
        if clf and clf.get("config"):
            ds = r["dataset"]
            row["classifier_params"], row["classifier_bytes"] = classifier_size(
                tuple(ds["image_shape"]), int(ds["num_classes"]), json.dumps(clf["config"], sort_keys=True))
        rows.append(row)
    if not rows or df.empty:
        return df
    extra = pd.DataFrame(rows).drop_duplicates("key", keep="last")
    return df.merge(extra, on="key", how="left")


COST_COLUMNS: list[tuple[str, str, str]] = [  # (column, header, kind)
    ("fit_s", "fit", "s"),
    ("generate_s", "generate", "s"),
    ("train_s", "train", "s"),
    ("eval_s", "eval", "s"),
    ("total_s", "total", "s"),
    ("peak_rss_mb", "peak RSS", "mb"),
    ("cuda_peak_mb", "peak CUDA", "mb"),
    ("method_params", "method params", "count"),
    ("classifier_params", "classifier params", "count"),
    ("model_bytes", "model size", "bytes"),
]


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method): mean over finished cells of every cost column present, plus ``cells``.

    ``method_params`` = what the method trains itself (``method_trainable_params`` or
    ``detail_trainable_params``); ``model_bytes`` and ``classifier_params`` describe the model that
    predicts: ``detail_model_bytes`` / ``detail_model_params`` if the method reports them (its own
    classifier), else the downstream classifier's serialized size and parameters."""
    ok = df[df["status"] == "ok"].copy() if "status" in df else df.copy()
    if ok.empty:
        return pd.DataFrame(columns=["dataset", "method", "cells"])
    ok["method_params"] = _first(ok, ["method_trainable_params", "detail_trainable_params"])
    ok["model_bytes"] = _first(ok, ["detail_model_bytes", "classifier_bytes"])
    ok["classifier_params"] = _first(ok, ["detail_model_params", "classifier_params"])
    cols = [c for c, _, _ in COST_COLUMNS if c in ok and pd.to_numeric(ok[c], errors="coerce").notna().any()]
    ok[cols] = ok[cols].apply(pd.to_numeric, errors="coerce")
    g = ok.groupby(["dataset", "method"], sort=False)
    out = g[cols].mean().reset_index()
    out.insert(2, "cells", g.size().to_numpy())
    return out


def _first(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    out = pd.Series(np.nan, index=df.index, dtype=float)
    for c in reversed(cols):
        if c in df:
            v = pd.to_numeric(df[c], errors="coerce")
            out = v.where(v.notna(), out)
    return out


def fmt_cost(value: float, kind: str) -> str:
    """Human units: seconds, MB, k/M counts, kB/MB sizes."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if kind == "s":
        if 0 < value < 0.005:
            return "< 0.01 s"
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    if kind == "mb":
        return f"{value:,.0f} MB"
    if kind == "count":
        return f"{value / 1e6:.2f} M" if value >= 1e6 else (f"{value / 1e3:.1f} k" if value >= 1e3 else f"{value:.0f}")
    if kind == "bytes":
        return f"{value / 2**20:.2f} MiB" if value >= 2**20 else f"{value / 2**10:.1f} KiB"
    return f"{value:g}"
