"""One generic registry for methods, datasets and (later) feature extractors.

Registration is by decorator; names are validated because they become file and folder names in
the result store; a duplicate name is an error; an unknown name raises with close matches.
Out-of-tree plugins arrive through an ``importlib.metadata`` entry-point group, loaded lazily the
first time the registry is read (in every process: spawned workers read the group again).

An entry point's key only names the plugin in messages; what counts is the name its module
registers (one module may register several). A plugin that fails to import is kept aside as
:class:`BrokenPlugin` instead of stopping everything: the built-ins and the other plugins stay
usable, ``bench list methods`` reports it, and only a lookup of a name it could have provided
(its entry-point key, or any name not found while a plugin is broken) fails, naming the entry
point and the distribution to fix or uninstall.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from bench.errors import BenchError, did_you_mean

T = TypeVar("T")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(name: str, kind: str = "name") -> str:
    """Return ``name`` if it is safe as a registry key and a path component, else raise."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise BenchError(
            f"invalid {kind} {name!r}: use 1-64 lower-case letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (names become file names)"
        )
    return name


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point whose module failed to import."""

    entry_point: str  # the key, e.g. "my-method"
    value: str  # the target, e.g. "my_package.my_method"
    distribution: str  # the installed distribution that declares it ("?" if unknown)
    error: str  # "ExceptionType: message", first line

    def describe(self, group: str) -> str:
        return (f"plugin entry point {self.entry_point!r} ({self.value}, group {group!r}) of distribution "
                f"{self.distribution!r} failed to load: {self.error}")

    def advice(self) -> str:
        if self.distribution == "?":
            return "fix or remove the package that declares it"
        return f"fix it or uninstall it (pip uninstall {self.distribution})"


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return name or "?"


class Registry(Generic[T]):
    """A name -> object table.

    ``kind`` is used in messages (``"method"``); ``base`` (optional) is a class every registered
    class must subclass; ``entry_point_group`` names the plugin group read on first lookup;
    ``builtins`` is a module whose import registers the built-in entries.
    """

    def __init__(
        self,
        kind: str,
        base: type | None = None,
        entry_point_group: str | None = None,
        builtins: str | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self.builtins = builtins
        self._items: dict[str, T] = {}
        self._loaded = False
        self.broken: list[BrokenPlugin] = []  # entry points that failed to load
        self.origin: dict[str, tuple[str, str]] = {}  # name -> (entry point, distribution) for plugin entries

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")``."""
        check_name(name, self.kind + " name")

        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise BenchError(f"{self.kind} {name!r} is registered twice; pick another name")
            if self.base is not None and not (
                isinstance(obj, type) and issubclass(obj, self.base)
            ):
                raise BenchError(
                    f"{self.kind} {name!r} must be a subclass of {self.base.__name__}, got {obj!r}"
                )
            if isinstance(obj, type):
                obj.name = name  # type: ignore[attr-defined]
            self._items[name] = obj
            return obj

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.builtins:
            importlib.import_module(self.builtins)
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                before = set(self._items)
                try:
                    ep.load()  # the plugin module registers itself on import
                except Exception as exc:  # a broken plugin must not hide the built-ins or other plugins
                    first = (str(exc).strip().splitlines() or [""])[0]
                    self.broken.append(BrokenPlugin(ep.name, ep.value, _dist_name(ep),
                                                    f"{type(exc).__name__}: {first}".rstrip(": ")))
                    continue
                for name in set(self._items) - before:
                    self.origin[name] = (ep.name, _dist_name(ep))

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            pass
        for b in self.broken:
            if b.entry_point == name:
                raise BenchError(f"{self.kind} {name!r} is not available: {b.describe(self.entry_point_group)}; "
                                 f"{b.advice()}") from None
        msg = f"unknown {self.kind} {name!r}" + did_you_mean(name, self._items)
        if self.broken:
            b = self.broken[0]
            more = f" (and {len(self.broken) - 1} more)" if len(self.broken) > 1 else ""
            msg += (f" (it may come from a plugin that failed to load: entry point {b.entry_point!r} of distribution "
                    f"{b.distribution!r}{more}; `bench list {self.kind}s` shows why)")
        raise BenchError(msg)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
