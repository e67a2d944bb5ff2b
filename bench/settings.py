"""Type checks for settings given as suite-file or CLI values, against a config dataclass's field
annotations (method ``Config`` classes, :class:`bench.training.ClassifierConfig`).

TOML values arrive untyped from the user's point of view: ``steps = "ten"`` or ``steps = 2.5``
would otherwise reach the training loop and fail there, in every cell, long after the run started.
:func:`check_settings` refuses them up front in one line naming the owner (a method or the
classifier), the setting, what was given and what is allowed. Rules: an ``int`` field takes
integers only (not 2.5, not "10", not true); a ``float`` field takes integers or floats but not
NaN/inf; ``str`` takes strings; ``bool`` takes true/false; ``tuple[int, ...]`` a list of integers;
``X | None`` also takes nothing else than X (TOML has no null).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from bench.errors import BenchError


class SettingError(BenchError):
    """A bad setting; ``owner`` ("method 'gan'" / "classifier") and ``setting`` let the caller
    point at the suite file's line."""

    def __init__(self, message: str, owner: str = "", setting: str = "") -> None:
        super().__init__(message)
        self.owner, self.setting = owner, setting


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"a list of {_describe(args[0]) if args else 'values'}s" if args else "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _fits(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
        return all(_fits(v, args[0]) for v in value) if args else True
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # an annotation we do not understand: leave it to the dataclass


def check_settings(config_cls: type, values: dict[str, Any], owner: str) -> None:
    """Raise :class:`SettingError` for the first value in ``values`` whose type does not fit the
    annotation of the same-named field of ``config_cls`` (unknown names are the caller's check)."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name not in values or f.name not in hints:
            continue
        v, tp = values[f.name], hints[f.name]
        if not _fits(v, tp):
            raise SettingError(f"{owner} setting {f.name} = {v!r} is not allowed: {f.name} must be {_describe(tp)}",
                               owner, f.name)


def setting_named(message: str, values: dict[str, Any]) -> str:
    """The first of ``values``' keys that ``message`` mentions as a word ("" if none)."""
    import re

    for key in values:
        if re.search(rf"\b{re.escape(key)}\b", message):
            return key
    return ""


# ranges of the downstream classifier's settings: (test, what is allowed)
CLASSIFIER_RANGES: dict[str, tuple[Any, str]] = {
    "steps": (lambda v: v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "width": (lambda v: v >= 1, "an integer >= 1"),
    "eval_batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "lr": (lambda v: v > 0, "a number > 0"),
    "weight_decay": (lambda v: v >= 0, "a number >= 0"),
    "dropout": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "epochs": (lambda v: v >= 0, "a number >= 0 (0 = a fixed number of steps)"),
    "min_steps": (lambda v: v >= 0, "an integer >= 0"),
    "max_steps": (lambda v: v >= 0, "an integer >= 0 (0 = no cap)"),
}


def check_classifier(cls: type, values: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Types and ranges of the settings ``values`` of a :class:`bench.training.ClassifierConfig`
    (``cls``), checked before the config is built (``overrides`` first, so the message names what
    the user wrote)."""
    check_settings(cls, {**values, **overrides}, "classifier")
    for name, (ok, allowed) in CLASSIFIER_RANGES.items():
        if name in values and not ok(values[name]):
            raise SettingError(f"classifier setting {name} = {values[name]!r} is not allowed: {name} must be {allowed}",
                               "classifier", name)
